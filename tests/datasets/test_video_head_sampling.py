"""CALCE's "head" frame sampling: the first frame of each interval of linspace(0, vlen, n + 1)."""

from __future__ import annotations

from lavis.datasets.video import segment_indices
from lavis.processors.video_processors import VideoHeadEvalProcessor, VideoHeadTrainProcessor


def test_head_sampling_takes_each_interval_first_frame():
    # QVHighlights stage 1: 150 s at 2 fps... as frames: 300 frames, 75 samples -> 0, 4, 8, ...
    assert segment_indices(0, 300, 75, "head")[:4] == [0, 4, 8, 12]
    # hand-worked: linspace(0, 10, 5) = 0, 2.5, 5, 7.5, 10 -> truncated 0, 2, 5, 7
    assert segment_indices(0, 10, 4, "head") == [0, 2, 5, 7]
    # a clip window: intervals of [20, 30)
    assert segment_indices(20, 30, 2, "head") == [20, 25]


def test_head_processors_are_registered_with_head_sampling():
    assert VideoHeadEvalProcessor.sampling == VideoHeadTrainProcessor.sampling == "head"
