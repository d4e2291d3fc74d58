"""Frame folders: MA-LMM's linspace sampling, the folder reader (same VideoFrames as the video reader,
clear errors), and extract-frames (rate, size, layout, resume, per-file failures)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from prepare_fixtures import make_video, write_frame_folder

from lavis.common.errors import DataError
from lavis.datasets.frames import count_frames, frame_file, load_frame_folder
from lavis.datasets.prepare.__main__ import main
from lavis.datasets.prepare.extract_frames import extract_frames_tree
from lavis.datasets.video import load_video_frames, segment_indices

# --------------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize(("start", "end", "n"), [(0, 100, 5), (0, 3, 5), (200, 1191, 100), (7, 8, 3), (0, 1598, 100)])
def test_linspace_is_malmm_eval_sampling(start, end, n):
    expected = np.rint(np.linspace(start, end - 1, n)).astype(int).tolist()
    assert segment_indices(start, end, n, "linspace") == expected


def test_linspace_examples_and_other_modes_unchanged():
    assert segment_indices(0, 100, 5, "linspace") == [0, 25, 50, 74, 99]  # 49.5 rounds to even
    assert segment_indices(0, 3, 5, "linspace") == [0, 0, 1, 2, 2]
    assert segment_indices(0, 40, 4, "middle") == [5, 15, 25, 35]
    with pytest.raises(ValueError, match="expected 'random', 'middle', 'head' or 'linspace'"):
        segment_indices(0, 10, 2, "nearest")


# ----------------------------------------------------------------------------------------------- reader


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """30 frames (3 s at 10 fps), frame k a flat gray image of level 10 * k."""
    return write_frame_folder(tmp_path_factory.mktemp("frames") / "vid", 30)


def _levels(video) -> list[int]:
    return [int(round(f.float().mean().item())) for f in video.frames]


def test_folder_reader_linspace_whole_video(folder):
    video = load_frame_folder(folder, 4, 16, "linspace")
    assert video.indices == [0, 10, 19, 29]
    assert video.frames.shape == (4, 3, 16, 16) and video.frames.dtype == torch.uint8
    assert video.timestamps == [0.0, 1.0, 1.9, 2.9]
    assert (video.fps, video.num_video_frames) == (10.0, 30)
    assert _levels(video) == pytest.approx([0, 100, 190, 290 - 40], abs=2)  # levels stop at 250


def test_folder_reader_clip_window_and_fps(folder):
    video = load_frame_folder(folder, 2, 16, "middle", clip=(1.0, 2.0))
    assert video.indices == [12, 17]  # frames [10, 20) in two segments, their midpoints
    assert video.timestamps == [1.2, 1.7]
    slow = load_frame_folder(folder, 2, 16, "middle", clip=(1.0, 2.0), fps=5)  # [5, 10)
    assert slow.indices == [6, 8] and slow.timestamps == [1.2, 1.6] and slow.fps == 5.0


def test_folder_reader_random_is_reproducible_and_native_size_is_kept(folder):
    a = load_frame_folder(folder, 5, 16, "random", np.random.default_rng(3))
    b = load_frame_folder(folder, 5, 16, "random", np.random.default_rng(3))
    assert a.indices == b.indices and torch.equal(a.frames, b.frames)
    native = load_frame_folder(folder, 2, None, "middle")
    assert native.frames.shape == (2, 3, 16, 24)


def test_folder_reader_matches_the_video_reader(tmp_path):
    """The same clip as a video file and as extracted frames: same indices, timestamps, fps, length,
    and each frame read from the folder is the matching frame of the video (closest of its neighbours)."""
    make_video(tmp_path / "videos" / "clip.mp4", seconds=3.0, fps=10, size=(48, 32), seed=5)
    report = extract_frames_tree(tmp_path / "videos", tmp_path / "frames", fps=10, short_side=32, workers=0,
                                 progress=False)
    assert report.written == {"clip": 30}
    for sampling, clip in [("linspace", None), ("middle", (0.5, 2.5)), ("linspace", (1.0, 2.6))]:
        from_video = load_video_frames(tmp_path / "videos" / "clip.mp4", 6, 32, sampling, clip=clip)
        from_folder = load_frame_folder(tmp_path / "frames" / "clip", 6, 32, sampling, clip=clip)
        assert from_folder.indices == from_video.indices
        assert from_folder.timestamps == from_video.timestamps
        assert (from_folder.fps, from_folder.num_video_frames) == (from_video.fps, from_video.num_video_frames)
        assert from_folder.frames.shape == from_video.frames.shape
    everything = load_video_frames(tmp_path / "videos" / "clip.mp4", 30, 32, "linspace").frames.float()
    sampled = load_frame_folder(tmp_path / "frames" / "clip", 6, 32, "linspace")
    for frame, index in zip(sampled.frames.float(), sampled.indices):
        distances = (everything - frame).abs().mean(dim=(1, 2, 3))
        assert int(distances.argmin()) == index


def test_frame_count_from_the_record_skips_listing_but_a_missing_file_is_named(folder):
    video = load_frame_folder(folder, 3, 8, "linspace", num_video_frames=20)
    assert video.indices == [0, 10, 19] and video.num_video_frames == 20
    with pytest.raises(DataError) as err:
        load_frame_folder(folder, 3, 8, "linspace", num_video_frames=32)  # annotation says more than exist
    assert str(err.value).startswith(f"Missing frame file {frame_file(folder, 31)} (frame 32 of 32)")


def test_folder_errors_name_the_folder_or_file(tmp_path):
    with pytest.raises(DataError, match=f"Frame folder not found: {tmp_path / 'nope'}"):
        load_frame_folder(tmp_path / "nope", 4, 8, "middle")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="Frame folder has no frame files"):
        load_frame_folder(tmp_path / "empty", 4, 8, "middle")
    gap = write_frame_folder(tmp_path / "gap", 6)
    frame_file(gap, 3).unlink()  # frame000004.jpg
    assert count_frames(gap) == 6
    with pytest.raises(DataError, match=f"Missing frame file {frame_file(gap, 3)}"):
        load_frame_folder(gap, 6, 8, "linspace")
    corrupt = write_frame_folder(tmp_path / "corrupt", 3)
    frame_file(corrupt, 1).write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=f"Cannot decode frame file {frame_file(corrupt, 1)}"):
        load_frame_folder(corrupt, 3, 8, "linspace")


# ------------------------------------------------------------------------------------------- extraction


def test_extract_frames_rate_size_layout_and_resume(tmp_path):
    from PIL import Image

    make_video(tmp_path / "videos" / "a.mp4", seconds=2.0, fps=25, size=(64, 48))
    make_video(tmp_path / "videos" / "sub" / "b.mp4", seconds=1.0, fps=30, size=(48, 64), seed=1)
    out = tmp_path / "frames"
    report = extract_frames_tree(tmp_path / "videos", out, fps=10, short_side=32, workers=0, progress=False)
    assert report.written == {"a": 20, "sub/b": 10} and not report.failed
    assert sorted(p.name for p in (out / "a").iterdir()) == [f"frame{k:06d}.jpg" for k in range(1, 21)]
    with Image.open(out / "a" / "frame000001.jpg") as first:
        assert first.size == (42, 32)  # short side 32, aspect kept (64x48 -> 42x32, even sides)
    with Image.open(out / "sub" / "b" / "frame000001.jpg") as portrait:
        assert portrait.size == (32, 42)
    assert count_frames(out / "sub" / "b") == 10

    (out / ".c.partial").mkdir()  # what an interrupted run leaves behind
    make_video(tmp_path / "videos" / "c.mp4", seconds=1.0, fps=10)
    again = extract_frames_tree(tmp_path / "videos", out, fps=10, short_side=32, workers=0, progress=False)
    assert sorted(again.skipped_existing) == ["a", "sub/b"] and again.written == {"c": 10}
    assert not (out / ".c.partial").exists()


def test_extract_frames_cli_counts_failures_and_exits_1(tmp_path, capsys):
    make_video(tmp_path / "videos" / "good.mp4", seconds=1.0, fps=10)
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"\x00" * 100)
    make_video(tmp_path / "videos" / "good.mkv", seconds=1.0, fps=10)  # same frame folder name as good.mp4
    code = main(["extract-frames", "--videos", str(tmp_path / "videos"), "--output", str(tmp_path / "frames"),
                 "--workers", "0"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "FAILED broken.mp4: " in printed
    assert "FAILED good.mp4: same frame folder name as good.mkv" in printed
    assert "extracted 1 video(s) (10 frames)" in printed and "2 failed" in printed
    assert not (tmp_path / "frames" / "broken").exists() and not (tmp_path / "frames" / ".broken.partial").exists()


def test_extract_frames_rejects_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="is not a directory"):
        extract_frames_tree(tmp_path / "none", tmp_path / "out", progress=False)
    (tmp_path / "videos").mkdir()
    with pytest.raises(DataError, match="no videos"):
        extract_frames_tree(tmp_path / "videos", tmp_path / "out", progress=False)
    with pytest.raises(DataError, match="--output must differ from --videos"):
        extract_frames_tree(tmp_path / "videos", tmp_path / "videos", progress=False)
