"""``lavis-demo``: the Gradio app on loopback, called through gradio_client and used in headless Chromium."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
BEST = re.compile(r"Best window: (\d+\.\d) s – (\d+\.\d) s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def demo_server(tiny_mr_checkpoint, shared_data, tmp_path_factory):
    """``python -m lavis.demo`` on 127.0.0.1 with the tiny checkpoint; stopped after the module's tests."""
    pytest.importorskip("gradio")
    port = free_port()
    log = tmp_path_factory.mktemp("demo") / "server.log"
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        GRADIO_ANALYTICS_ENABLED="False",
        LAVIS_SHARED_DATA=str(shared_data),
    )
    env.setdefault("OMP_NUM_THREADS", "1")
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lavis.demo",
                "--checkpoint",
                str(tiny_mr_checkpoint),
                "--device",
                "cpu",
                "--port",
                str(port),
                "--no-train",
                "--max-minutes",
                "0.4",
                "--max-file-mb",
                "1.5",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the demo exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the demo did not answer within 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, str(tiny_mr_checkpoint), log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow  # starts the demo server (~30 s with the browser test)
def test_the_server_listens_on_loopback_only(demo_server):
    url, _, log = demo_server
    assert url.startswith("http://127.0.0.1:")
    assert "Running on local URL:  http://127.0.0.1:" in log.read_text()


@pytest.mark.slow  # starts the demo server (~30 s with the browser test)
def test_gradio_client_gets_windows_for_a_shared_clip(demo_server, shared_videos):
    from gradio_client import Client, handle_file

    url, checkpoint, _ = demo_server
    client = Client(url, verbose=False)
    video = next(v for v in shared_videos if "dog" in v.name)  # 7.1 s, 0.7 MB: within the limits
    picture, table, summary = client.predict(
        video=handle_file(str(video)),
        query="the screen turns red",
        checkpoint=checkpoint,
        api_name="/predict",
    )
    start, end = map(float, BEST.search(summary).groups())
    assert 0 <= start < end <= 7.1
    rows = table["data"]
    assert rows and rows[0][0] == 1 and rows[0][1] == pytest.approx(start, abs=0.05)
    assert all(0 <= r[1] < r[2] <= 7.084 for r in rows)
    assert Path(picture).is_file()


@pytest.mark.slow  # starts the demo server (~30 s with the browser test)
def test_limits_and_bad_input_get_friendly_messages(demo_server, shared_videos, tmp_path):
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    url, checkpoint, _ = demo_server
    client = Client(url, verbose=False)
    long_video = next(v for v in shared_videos if "charades" in v.name)  # 30.7 s > 0.4 minutes
    big_video = next(v for v in shared_videos if "birthday" in v.name)  # 1.8 MB > 1.5 MB
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    cases = [
        (handle_file(str(text)), "a query", "cannot be read as a video"),
        (handle_file(str(long_video)), "a query", "lasts 31 s; the demo accepts up to 24 s"),
        (handle_file(str(big_video)), "a query", "This video is 1.8 MB; the demo accepts up to 1.5 MB"),
        (handle_file(str(long_video)), "   ", "Type a query"),
        (None, "a query", "Upload a video or pick an example"),
    ]
    for video, query, message in cases:
        with pytest.raises(AppError, match=message):
            client.predict(video=video, query=query, checkpoint=checkpoint, api_name="/predict")


@pytest.mark.slow  # starts the demo server (~30 s with the browser test)
def test_the_page_in_a_real_browser_shows_the_windows(demo_server, shared_videos, tmp_path):
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does this)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip) is not installed")
    url, _, _ = demo_server
    video = next(v for v in shared_videos if "dog" in v.name)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(url, wait_until="networkidle")
            page.locator("#video input[type=file]").set_input_files(str(video))
            page.locator("#video video").wait_for(timeout=60_000)  # uploaded and shown in the player
            page.locator("#query textarea").fill("the screen turns red")
            page.locator("#submit").click()
            summary = page.locator("#summary")
            summary.get_by_text("Best window").wait_for(timeout=120_000)
            start, end = map(float, BEST.search(summary.inner_text()).groups())
            assert 0 <= start < end <= 7.1
            assert page.locator("#timeline img").count() == 1
            assert f"{start:g}" in page.locator("#windows").inner_text()
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)
            # pick an example instead: the 30.7 s clip is over this server's 0.4-minute limit
            page.locator("#example input").click()
            page.get_by_role(
                "option", name=next(v.name for v in shared_videos if "charades" in v.name)
            ).click()
            page.locator("#video video[src*='charades']").wait_for(timeout=60_000)
            page.locator("#submit").click()
            page.get_by_text("the demo accepts up to 24 s").wait_for(timeout=60_000)
            page.screenshot(path=str(tmp_path / "demo_limit.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "demo.png").stat().st_size > 10_000


def test_checkpoints_are_found_under_output_with_the_synthetic_demo_first(tmp_path):
    from lavis.inference.web import DEMO_CHECKPOINT, find_checkpoints

    for rel in ("output/a_run/checkpoint_best.pth", str(DEMO_CHECKPOINT), "output/z/checkpoint_last.pth"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert list(find_checkpoints([tmp_path])) == [str(DEMO_CHECKPOINT), "output/a_run/checkpoint_best.pth"]
    assert find_checkpoints([tmp_path / "nothing"]) == {}


def test_without_any_checkpoint_the_message_names_the_demo_script(tmp_path):
    from lavis.inference.web import ensure_demo_checkpoint

    with pytest.raises(SystemExit, match=r"bash run_scripts/demo/mr_blip_synthetic\.sh"):
        ensure_demo_checkpoint(tmp_path, train=False)
