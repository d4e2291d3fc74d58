"""The video check names every planted fault; re-encoding gives the requested fps and size."""

from __future__ import annotations

import json

import pytest
from prepare_fixtures import make_video

from lavis.datasets.prepare.__main__ import main
from lavis.datasets.prepare.videos import check_videos, reencode_tree, scaled_size


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    make_video(root / "good.mp4", seconds=3.0)
    make_video(root / "sub" / "nested.mp4", seconds=3.0, seed=1)
    make_video(root / "short.mp4", seconds=1.0, seed=2)
    data = make_video(root / "whole.mp4", seconds=3.0, seed=3).read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "whole.mp4").unlink()
    (root / "zero.mp4").write_bytes(b"")
    names = ["good", "sub/nested", "short", "truncated", "zero", "missing"]
    records = [{"video": n, "qid": f"q{i}", "query": "x", "duration": 3.0, "relevant_windows": [[0, 1]]}
               for i, n in enumerate(names)]
    ann = root / "ann.json"
    ann.write_text(json.dumps(records))
    return root, ann


EXPECTED = {"missing": "missing", "zero": "empty", "truncated": "unreadable", "short": "too_short"}


@pytest.mark.parametrize("workers", [0, 2])
def test_each_planted_fault_is_named(planted, workers):
    root, ann = planted
    report = check_videos(root, [ann], workers=workers, progress=False)
    assert {i.video: i.problem for i in report.issues} == EXPECTED
    assert report.num_videos == 6 and not report.ok
    short = next(i for i in report.issues if i.video == "short")
    assert short.video_duration == pytest.approx(1.0) and short.annotated_duration == 3.0
    assert all(i.referenced_by == [str(ann)] for i in report.issues)


def test_tolerance_allows_small_shortfalls(planted, tmp_path):
    root, _ = planted
    ann = tmp_path / "ann.jsonl"  # JSON lines work too; QA-style records need only 'video' (+ 'duration')
    ann.write_text(json.dumps({"video": "good", "duration": 3.9}) + "\n" + json.dumps({"video": "short"}) + "\n")
    report = check_videos(root, [ann], workers=0, progress=False)
    assert report.ok, report.issues  # 3.0 s >= 3.9 - max(1 s, 2 %); 'short' has no annotated duration


def test_cli_writes_report_and_exits_1(planted, tmp_path, capsys):
    root, ann = planted
    report_path = tmp_path / "report.json"
    code = main(["check-videos", "--video-root", str(root), "--annotations", str(ann), "--workers", "0",
                 "--report", str(report_path)])
    printed = capsys.readouterr().out
    assert code == 1
    for video, problem in EXPECTED.items():
        assert f"{problem.upper():<12} {video}" in printed
    report = json.loads(report_path.read_text())
    assert report["ok"] is False and {i["video"] for i in report["issues"]} == set(EXPECTED)


def test_reencode_to_fps_and_short_side(tmp_path):
    import av

    make_video(tmp_path / "in" / "a" / "clip.mp4", seconds=2.0, fps=25, size=(96, 64))
    report = reencode_tree(tmp_path / "in", tmp_path / "out", fps=15, short_side=32, workers=0, progress=False)
    assert report.written == ["a/clip.mp4"] and not report.failed
    with av.open(str(tmp_path / "out" / "a" / "clip.mp4")) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (48, 32)
        assert stream.average_rate == 15
        assert sum(1 for _ in container.decode(stream)) == 30  # 2 s at 15 fps
    again = reencode_tree(tmp_path / "in", tmp_path / "out", fps=15, short_side=32, workers=0, progress=False)
    assert again.skipped_existing == ["a/clip.mp4"] and not again.written


def test_reencode_reports_a_broken_source(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "bad.mp4").write_bytes(b"not a video")
    report = reencode_tree(tmp_path / "in", tmp_path / "out", workers=1, progress=False)
    assert list(report.failed) == ["bad.mp4"]
    assert not (tmp_path / "out" / "bad.mp4").exists()
    assert not list((tmp_path / "out").glob(".*"))  # no temporary file left


def test_scaled_size_keeps_aspect_and_even_sides():
    assert scaled_size(640, 360, 256) == (456, 256)
    assert scaled_size(360, 640, 256) == (256, 456)
    assert scaled_size(321, 241, 15) == (20, 14)
