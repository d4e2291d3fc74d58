"""Per-frame audio clips: the right sound under each frame, the edge rule, and missing/truncated/broken tracks."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from media_helpers import tones, write_av_clip

from lavis.common.errors import ConfigError, DataError
from lavis.datasets.audio import AudioClipConfig, load_frame_audio, read_audio_track
from lavis.datasets.video import InMemoryVideo, load_video_frames

SR = 48000
TONES = [(0.0, 2.0, 440.0), (2.0, 4.0, 1000.0), (4.0, 6.0, 2500.0)]


def dominant_hz(x: torch.Tensor) -> float:
    spectrum = np.abs(np.fft.rfft(x.numpy().astype(np.float64)))
    return float(np.argmax(spectrum) * SR / len(x))


@pytest.fixture(scope="module")
def toned(tmp_path_factory):
    """6 s of video at 10 fps over three 2 s tones (44.1 kHz stereo, left 0.6, right 0.2)."""
    return write_av_clip(tmp_path_factory.mktemp("av") / "tones.mp4", 6.0, tones(TONES, 44100))


def frames(path, n, sampling="middle", seed=0):
    return load_video_frames(path, n, 32, sampling, np.random.default_rng(seed))


def test_each_frame_hears_its_tone(toned):
    video = frames(toned, 6)
    assert video.segments == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 60)]
    audio = load_frame_audio(toned, video, AudioClipConfig(clip_seconds=0.9))
    assert audio.clips.shape == (6, int(0.9 * SR)) and audio.clips.dtype == torch.float32
    assert audio.mask.tolist() == [True] * 6 and audio.problem is None
    assert [dominant_hz(c) for c in audio.clips] == pytest.approx([440, 440, 1000, 1000, 2500, 2500], abs=2)
    # mono is the mean of the channels ((0.6 + 0.2) / 2), not libswresample's 1/sqrt(2) downmix
    amplitude = audio.clips[0].pow(2).mean().sqrt().item() * 2**0.5
    assert amplitude == pytest.approx(0.4, abs=0.02)


def test_clip_is_centred_on_the_segment_and_zero_padded_at_both_edges(toned):
    video = frames(toned, 6)
    clips = load_frame_audio(toned, video, AudioClipConfig(clip_seconds=2.5)).clips
    n = clips.shape[1]
    # frame 0: segment [0, 1) s, centre 0.5 s, window [-0.75, 1.75) s -> 0.75 s of zeros, then the 440 Hz tone
    assert (
        torch.all(clips[0, : int(0.75 * SR)] == 0)
        and clips[0, int(0.75 * SR) : int(0.8 * SR)].abs().max() > 0.1
    )
    # frame 1: window [0.25, 2.75) s; the tone changes at 2.0 s, i.e. 1.75 s into the clip
    change = int(1.75 * SR)
    assert dominant_hz(clips[1, : change - 2000]) == pytest.approx(440, abs=2)
    assert dominant_hz(clips[1, change + 2000 :]) == pytest.approx(1000, abs=2)
    # frame 5: window [4.25, 6.75) s; the track ends at 6.0 s
    assert (
        torch.all(clips[5, int(1.75 * SR) :] == 0)
        and clips[5, int(1.7 * SR) : int(1.75 * SR)].abs().max() > 0.1
    )
    assert n == int(2.5 * SR)


def test_training_frames_get_the_same_audio_as_evaluation(toned):
    cfg = AudioClipConfig(clip_seconds=1.5)
    middle = load_frame_audio(toned, frames(toned, 4), cfg)
    random_video = frames(toned, 4, "random", seed=3)
    assert random_video.indices != frames(toned, 4).indices
    assert torch.equal(load_frame_audio(toned, random_video, cfg).clips, middle.clips)


def test_in_memory_video(toned):
    video = frames(toned, 3)
    from_bytes = load_frame_audio(
        InMemoryVideo(toned.read_bytes(), "shard/tones.mp4"), video, AudioClipConfig(1.5)
    )
    assert torch.equal(from_bytes.clips, load_frame_audio(toned, video, AudioClipConfig(1.5)).clips)


def test_no_audio_track_zeros_or_error(shared_data):
    path = shared_data / "videos" / "videollama_birthday.mp4"
    video = frames(path, 8)
    audio = load_frame_audio(path, video, AudioClipConfig(clip_seconds=1.5))
    assert audio.clips.shape == (8, int(1.5 * SR)) and torch.all(audio.clips == 0)
    assert audio.mask.tolist() == [False] * 8
    assert "no audio track" in audio.problem and "videollama_birthday.mp4" in audio.problem
    with pytest.raises(DataError, match=r"no audio track: .*videollama_birthday\.mp4"):
        load_frame_audio(path, video, AudioClipConfig(clip_seconds=1.5, on_missing_audio="error"))


def test_near_silent_track_is_real_audio(shared_data):
    path = shared_data / "videos" / "univtg_charades_example.mp4"
    audio = load_frame_audio(path, frames(path, 20), AudioClipConfig(1.5, on_missing_audio="error"))
    assert audio.mask.all() and 0 < audio.clips.pow(2).mean().sqrt().item() < 2e-3


def test_truncated_track_zeros_or_error(tmp_path):
    path = write_av_clip(tmp_path / "short_audio.mp4", 4.0, tones([(0.0, 1.5, 440.0)], 44100))
    video = frames(path, 4)  # segments [0, 1), [1, 2), [2, 3), [3, 4) s
    audio = load_frame_audio(path, video, AudioClipConfig(clip_seconds=1.5))
    assert audio.mask.tolist() == [True, True, False, False]
    assert torch.all(audio.clips[2:] == 0) and audio.clips[:2].abs().amax(dim=1).min() > 0.1
    # frame 1: segment clamped to the audio, [1.0, 1.5) s, centre 1.25 s; audio ends 0.75 s + 0.25 s in
    assert (
        torch.all(audio.clips[1, int(1.0 * SR) :] == 0)
        and audio.clips[1, int(0.95 * SR) : int(1.0 * SR)].abs().max() > 0.1
    )
    assert "ends at 1.50 s, before frame 2 of 4" in audio.problem and "short_audio.mp4" in audio.problem
    with pytest.raises(DataError, match=r"short_audio\.mp4 ends at 1\.50 s"):
        load_frame_audio(path, video, AudioClipConfig(clip_seconds=1.5, on_missing_audio="error"))


def test_broken_track_keeps_what_decoded(toned, tmp_path):
    data = bytearray(toned.read_bytes())
    with av.open(str(toned)) as container:
        packets = [(p.pos, p.size, p.pts) for p in container.demux(container.streams.audio[0]) if p.size]
    rate = 44100
    for pos, size, pts in packets:
        if pts >= 2.8 * rate:  # garble every audio packet from 2.8 s on
            data[pos : pos + size] = bytes(size)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    track = read_audio_track(broken)
    assert "Cannot decode the audio track" in track.problem and 2.5 < track.end < 3.0
    video = frames(broken, 6)
    audio = load_frame_audio(broken, video, AudioClipConfig(clip_seconds=0.9))
    assert audio.mask.tolist() == [True, True, True, False, False, False]
    with pytest.raises(DataError, match=r"Cannot decode the audio track of .*broken\.mp4"):
        load_frame_audio(broken, video, AudioClipConfig(clip_seconds=0.9, on_missing_audio="error"))


def test_bad_settings_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="on_missing_audio"):
        AudioClipConfig(on_missing_audio="skip")
    with pytest.raises(DataError, match="Video not found"):
        read_audio_track(tmp_path / "nope.mp4")
