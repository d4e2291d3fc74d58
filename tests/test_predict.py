"""``lavis-predict`` (python -m lavis.predict) on the shared clips, with unreadable files among them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_predict(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.run(
        [sys.executable, "-m", "lavis.predict", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def folder_with_bad_files(tmp_path_factory, shared_videos):
    folder = tmp_path_factory.mktemp("videos")
    for video in shared_videos:
        (folder / video.name).symlink_to(video)
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("this is a text file, not a video\n")
    return folder


@pytest.mark.slow  # a lavis-predict process over five files
def test_folder_run_skips_unreadable_videos_and_writes_the_others(
    tiny_mr_checkpoint, folder_with_bad_files, tmp_path
):
    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"query": "the screen turns red"})
        + "\n"
        + json.dumps({"query": "a person drinks", "qid": "d"})
        + "\n"
    )
    out = tmp_path / "results" / "predictions.jsonl"
    proc = run_predict(
        "--checkpoint",
        str(tiny_mr_checkpoint),
        "--device",
        "cpu",
        str(folder_with_bad_files),
        "--queries",
        str(queries),
        "-o",
        str(out),
        "--plot",
        str(tmp_path / "plots"),
    )
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "empty.mp4" in proc.stderr and "notes.mp4" in proc.stderr
    assert "2 of 5 videos could not be read" in proc.stderr
    assert "Traceback" not in proc.stderr
    rows = read_jsonl(out)
    good = sorted(p.name for p in folder_with_bad_files.iterdir() if p.stat().st_size > 100)
    assert sorted({Path(r["video"]).name for r in rows}) == good
    assert len(rows) == 2 * len(good)
    for row in rows:
        assert row["valid"] and row["pred_relevant_windows"], row
        for start, end, score in row["pred_relevant_windows"]:
            assert 0 <= start < end <= row["duration"] and 0 < score <= 1
    assert {r.get("qid") for r in rows} == {None, "d"}
    for name in good:  # the table names every video, and each has a timeline
        assert name in proc.stdout
        png = tmp_path / "plots" / f"{Path(name).stem}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.parent.glob(".*.tmp"))  # written atomically


def test_one_video_and_a_query(tiny_mr_checkpoint, shared_videos, tmp_path):
    out = tmp_path / "one.jsonl"
    plot = tmp_path / "timeline.png"
    proc = run_predict(
        "--checkpoint",
        str(tiny_mr_checkpoint),
        "--device",
        "cpu",
        "--no-progress",
        str(shared_videos[-1]),
        "the screen turns red",
        "-o",
        str(out),
        "--plot",
        str(plot),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = read_jsonl(out)
    assert row["query"] == "the screen turns red" and row["video"] == str(shared_videos[-1])
    assert "windows (s), best first" in proc.stdout and shared_videos[-1].name in proc.stdout
    assert plot.is_file()


def test_usage_errors_exit_2_with_one_line(tiny_mr_checkpoint, tmp_path):
    proc = run_predict("--checkpoint", str(tiny_mr_checkpoint), str(tmp_path / "nothing.mp4"), "a query")
    assert (
        proc.returncode == 2 and "No such video or folder" in proc.stderr and "Traceback" not in proc.stderr
    )
    proc = run_predict("--checkpoint", str(tiny_mr_checkpoint), str(tmp_path))
    assert proc.returncode == 2 and "give a query" in proc.stderr
