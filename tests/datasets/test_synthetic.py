"""The generated benchmark's audio-only style: the picture never changes, the tone plays in the window."""

from __future__ import annotations

import numpy as np
import pytest

from lavis.common.io import read_json
from lavis.datasets.audio import read_audio_track
from lavis.datasets.synthetic import PITCHES, SyntheticSpec, generate
from lavis.datasets.video import load_video_frames


@pytest.fixture(scope="module")
def tone_folder(tmp_path_factory):
    spec = SyntheticSpec(
        num_videos={"train": 3},
        min_duration=6,
        max_duration=9,
        fps=1,
        min_events=1,
        max_events=2,
        event_style="tone",
        seed=7,
    )
    return generate(tmp_path_factory.mktemp("synthetic"), spec, show_progress=False)


def test_tone_events_are_heard_in_their_window_and_not_seen(tone_folder):
    records = read_json(tone_folder / "train.json")
    assert {r["query"].split()[1] for r in records} <= set(PITCHES)
    for rec in records:
        track = read_audio_track(tone_folder / "videos" / f"{rec['video']}.mp4")
        assert track.problem is None
        ((start, end),) = rec["relevant_windows"]
        t = np.arange(len(track.samples)) / track.sample_rate + track.start
        hz = PITCHES[rec["query"].split()[1]]
        inside = track.samples[(t >= start + 0.2) & (t < end - 0.2)]
        # the event's pitch dominates the spectrum inside its window
        spectrum = np.abs(np.fft.rfft(inside))
        peak = np.fft.rfftfreq(len(inside), 1 / track.sample_rate)[spectrum.argmax()]
        assert abs(peak - hz) < 5, (rec["qid"], peak, hz)
    by_video = {}
    for rec in records:
        by_video.setdefault(rec["video"], []).append(rec["relevant_windows"][0])
    for vid, windows in by_video.items():
        track = read_audio_track(tone_folder / "videos" / f"{vid}.mp4")
        t = np.arange(len(track.samples)) / track.sample_rate
        silent = np.ones(len(t), dtype=bool)
        for start, end in windows:
            silent &= (t < start - 0.1) | (t >= end + 0.1)
        if silent.any():
            assert np.abs(track.samples[silent]).mean() < 0.02  # only the noise floor outside the events
        frames = load_video_frames(tone_folder / "videos" / f"{vid}.mp4", 4, None, "uniform").frames
        diffs = np.abs(frames[1:].float().numpy() - frames[:1].float().numpy())
        assert diffs.mean() < 8  # sensor noise and compression only: nothing to see


def test_unknown_style_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="event_style must be one of"):
        generate(tmp_path, SyntheticSpec(event_style="smell"), show_progress=False)
