"""Audio feature cache: round trip, compute-once, invalidation (weights, settings, video), bad entries."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from media_helpers import tones, write_av_clip

from lavis.common.errors import DataError
from lavis.datasets.audio import AudioClipConfig
from lavis.datasets.audio_cache import AudioFeatureCache, AudioFeatures, cached_audio_features
from lavis.datasets.video import InMemoryVideo

INTERVALS = [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
CFG = AudioClipConfig(clip_seconds=0.8)


@pytest.fixture
def video(tmp_path):
    return write_av_clip(tmp_path / "v.mp4", 3.0, tones([(0, 1.5, 440.0), (1.5, 3.0, 880.0)], 44100))


class CountingEmbed:
    """A stand-in encoder: the clip's RMS and dominant FFT bin, so features depend on the audio."""

    def __init__(self, scale: float = 1.0) -> None:
        self.calls = 0
        self.scale = scale

    def __call__(self, clips: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        rms = clips.pow(2).mean(dim=1).sqrt()
        peak = torch.fft.rfft(clips).abs().argmax(dim=1).float()
        return self.scale * torch.stack([rms, peak], dim=1)


def test_round_trip_and_compute_once(tmp_path, video):
    cache = AudioFeatureCache(tmp_path / "cache", encoder_hash="a" * 64)
    embed = CountingEmbed()
    first = cached_audio_features(cache, video, INTERVALS, CFG, embed)
    again = cached_audio_features(cache, video, INTERVALS, CFG, embed)
    assert embed.calls == 1
    assert torch.equal(first.features, again.features) and torch.equal(first.mask, again.mask)
    assert again.mask.dtype == torch.bool and again.mask.all() and again.problem is None
    files = list((tmp_path / "cache").rglob("*"))
    entries = [f for f in files if f.is_file()]
    assert len(entries) == 1 and entries[0].suffix == ".safetensors" and entries[0].parts[-3] == "a" * 16
    assert not [f for f in entries if f.name.endswith(".tmp")]


def test_changed_weight_hash_recomputes(tmp_path, video):
    root = tmp_path / "cache"
    old = cached_audio_features(AudioFeatureCache(root, "a" * 64), video, INTERVALS, CFG, CountingEmbed())
    embed = CountingEmbed(scale=2.0)  # "new weights"
    new = cached_audio_features(AudioFeatureCache(root, "b" * 64), video, INTERVALS, CFG, embed)
    assert embed.calls == 1 and torch.allclose(new.features, 2 * old.features)
    # the old entry is still there for the old encoder, in its own folder
    assert AudioFeatureCache(root, "a" * 64).read(video, INTERVALS, CFG) is not None
    assert sorted(p.name for p in root.iterdir()) == ["a" * 16, "b" * 16]


def test_settings_intervals_tag_and_video_changes_miss(tmp_path, video):
    cache = AudioFeatureCache(tmp_path / "cache", "a" * 64)
    cache.write(video, INTERVALS, CFG, AudioFeatures(torch.ones(3, 2), torch.ones(3, dtype=torch.bool)))
    assert cache.read(video, INTERVALS, CFG) is not None
    assert cache.read(video, INTERVALS, AudioClipConfig(clip_seconds=1.5)) is None
    assert cache.read(video, INTERVALS[:2], CFG) is None
    assert AudioFeatureCache(tmp_path / "cache", "a" * 64, tag="masked").read(video, INTERVALS, CFG) is None
    # on_missing_audio is not part of the key (the stored reason is checked instead)
    assert cache.read(video, INTERVALS, AudioClipConfig(0.8, on_missing_audio="error")) is not None
    write_av_clip(video, 3.0, tones([(0, 3.0, 300.0)], 44100))  # the file is replaced
    os.utime(video, ns=(1, 1))
    assert cache.read(video, INTERVALS, CFG) is None


def test_missing_audio_is_cached_with_its_reason(tmp_path):
    silent = write_av_clip(tmp_path / "silent.mp4", 3.0, None)
    cache = AudioFeatureCache(tmp_path / "cache", "a" * 64)
    embed = CountingEmbed()
    value = cached_audio_features(cache, silent, INTERVALS, CFG, embed)
    assert not value.mask.any() and "no audio track" in value.problem
    with pytest.raises(DataError, match=r"no audio track: .*silent\.mp4"):
        cached_audio_features(cache, silent, INTERVALS, AudioClipConfig(0.8, on_missing_audio="error"), embed)
    assert embed.calls == 1  # the error came from the cache entry


def test_unreadable_entry_is_recomputed(tmp_path, video):
    cache = AudioFeatureCache(tmp_path / "cache", "a" * 64)
    embed = CountingEmbed()
    cached_audio_features(cache, video, INTERVALS, CFG, embed)
    entry = cache.path_for(cache.key(video, INTERVALS, CFG))
    entry.write_bytes(entry.read_bytes()[:40])
    value = cached_audio_features(cache, video, INTERVALS, CFG, embed)
    assert embed.calls == 2 and value.features.shape == (3, 2)
    assert cache.read(video, INTERVALS, CFG) is not None  # overwritten with a good entry


def test_in_memory_video_is_keyed_by_content(tmp_path, video):
    cache = AudioFeatureCache(tmp_path / "cache", "a" * 64)
    data = video.read_bytes()
    assert cache.key(InMemoryVideo(data, "x.mp4"), INTERVALS, CFG) != cache.key(
        InMemoryVideo(data[:-1], "x.mp4"), INTERVALS, CFG
    )
    assert cache.key(InMemoryVideo(data, "x.mp4"), INTERVALS, CFG) != cache.key(video, INTERVALS, CFG)


def test_with_the_clap_encoder(tmp_path, video):
    from lavis.models.components.audio import TINY_CLAP_ARCH, AudioEncoderConfig, ClapAudioEncoder

    torch.manual_seed(0)
    encoder = ClapAudioEncoder(AudioEncoderConfig(arch=dict(TINY_CLAP_ARCH), max_length_s=2.5))
    root = tmp_path / "cache"
    first = cached_audio_features(
        AudioFeatureCache(root, encoder.weight_hash()), video, INTERVALS, CFG, encoder
    )
    assert first.features.shape == (3, 512) and first.features.dtype == torch.float32
    with torch.no_grad():
        encoder.clap.audio_projection.linear2.bias.add_(0.1)
    second = cached_audio_features(
        AudioFeatureCache(root, encoder.weight_hash()), video, INTERVALS, CFG, encoder
    )
    assert not torch.allclose(first.features, second.features)
    assert np.isclose(second.features.norm(dim=1), 1.0, atol=1e-5).all()
