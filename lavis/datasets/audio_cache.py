"""A disk cache of per-video audio features (one safetensors file per video and settings).

Embedding SMS's clips costs far more than reading frames (CLAP's front end pads each 1.5 / 2.5 s clip to
10 s and computes its mel spectrogram on the CPU), and the result never changes between epochs: clips
are centred on the frame *segments*, which depend on the number of frames but not on the random frame
drawn inside each segment. So features are computed once and kept.

The key is a digest of everything the features depend on: the video (resolved path, size and mtime, or
an in-memory video's name and content digest), the per-frame intervals, the clip settings, the encoder's
``weight_hash()`` and a free ``tag``. Changing any of them misses the cache and recomputes. Files live
under ``root/<encoder hash[:16]>/``, so the features of an encoder no longer used can be deleted as one
folder. Writes are atomic (temporary file + rename), so concurrent workers or ranks may write the same
entry; an unreadable entry is recomputed and overwritten.

A video whose audio is missing is cached too (zero features, mask False) together with the reason; reading
it with ``on_missing_audio="error"`` raises the same :class:`DataError` as computing it would.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from lavis.common.errors import DataError
from lavis.common.io import atomic_open
from lavis.datasets.audio import AudioClipConfig, load_audio_clips
from lavis.datasets.video import InMemoryVideo

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the stored layout or the meaning of a key changes


@dataclass
class AudioFeatures:
    features: torch.Tensor  # (T, D) float32, one embedding per frame
    mask: torch.Tensor  # (T,) bool: the frame's clip held real audio
    problem: str | None = None  # why some frames have no audio (see AudioClips.problem)


class AudioFeatureCache:
    def __init__(self, root: str | os.PathLike, encoder_hash: str, tag: str = "") -> None:
        if not encoder_hash:
            raise ValueError(
                "encoder_hash must identify the encoder's weights (ClapAudioEncoder.weight_hash())"
            )
        self.root = Path(root)
        self.encoder_hash = encoder_hash
        self.tag = tag  # anything else the features depend on (e.g. how masked clips are embedded)

    def key(
        self,
        video: str | os.PathLike | InMemoryVideo,
        intervals: Sequence[tuple[float, float]],
        cfg: AudioClipConfig,
    ) -> str:
        parts = {
            "format": CACHE_FORMAT,
            "video": _video_identity(video),
            "intervals": [[float(a), float(b)] for a, b in intervals],
            "clip_seconds": float(cfg.clip_seconds),
            "sample_rate": int(cfg.sample_rate),
            "encoder": self.encoder_hash,
            "tag": self.tag,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def path_for(self, key: str) -> Path:
        return self.root / self.encoder_hash[:16] / key[:2] / f"{key}.safetensors"

    def read(
        self, video, intervals: Sequence[tuple[float, float]], cfg: AudioClipConfig
    ) -> AudioFeatures | None:
        """The cached features, or None when absent or unreadable."""
        from safetensors import safe_open

        key = self.key(video, intervals, cfg)
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                features, mask = f.get_tensor("features"), f.get_tensor("mask")
        except Exception as err:  # a truncated or foreign file: recompute rather than fail the run
            logger.warning("ignoring unreadable audio feature cache entry %s (%s)", path, err)
            return None
        if meta.get("key") != key or features.shape[0] != len(intervals) or mask.shape != (len(intervals),):
            logger.warning("ignoring audio feature cache entry %s: it does not match its key", path)
            return None
        problem = meta.get("problem") or None
        if problem and cfg.on_missing_audio == "error":
            raise DataError(problem)
        return AudioFeatures(features, mask.bool(), problem)

    def write(
        self, video, intervals: Sequence[tuple[float, float]], cfg: AudioClipConfig, value: AudioFeatures
    ) -> Path:
        from safetensors.torch import save

        key = self.key(video, intervals, cfg)
        if value.features.shape[0] != len(intervals) or value.mask.shape != (len(intervals),):
            raise ValueError(
                f"features {tuple(value.features.shape)} / mask {tuple(value.mask.shape)} "
                f"do not match {len(intervals)} intervals"
            )
        tensors = {
            "features": value.features.detach().float().cpu().contiguous(),
            "mask": value.mask.detach().bool().cpu().contiguous(),
        }
        meta = {"key": key, "video": str(video), "problem": value.problem or "", "encoder": self.encoder_hash}
        path = self.path_for(key)
        with atomic_open(path, "wb") as f:
            f.write(save(tensors, metadata=meta))
        return path

    def get(
        self,
        video,
        intervals: Sequence[tuple[float, float]],
        cfg: AudioClipConfig,
        compute: Callable[[], AudioFeatures],
    ) -> AudioFeatures:
        """Read the entry; when absent, ``compute()`` it, store it and return it."""
        cached = self.read(video, intervals, cfg)
        if cached is not None:
            return cached
        value = compute()
        self.write(video, intervals, cfg, value)
        return value


def compute_audio_features(
    video: str | os.PathLike | InMemoryVideo,
    intervals: Sequence[tuple[float, float]],
    cfg: AudioClipConfig,
    embed: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> AudioFeatures:
    """Cut the clips and embed them: ``embed(clips (T, N), mask (T,)) -> (T, D)``, e.g. a ClapAudioEncoder."""
    clips = load_audio_clips(video, intervals, cfg)  # raises DataError under on_missing_audio="error"
    features = embed(clips.clips, clips.mask)
    return AudioFeatures(features.detach().float().cpu(), clips.mask, clips.problem)


def cached_audio_features(
    cache: AudioFeatureCache | None,
    video: str | os.PathLike | InMemoryVideo,
    intervals: Sequence[tuple[float, float]],
    cfg: AudioClipConfig,
    embed: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> AudioFeatures:
    """``compute_audio_features`` through ``cache`` (None: no caching)."""

    def compute() -> AudioFeatures:
        return compute_audio_features(video, intervals, cfg, embed)

    return compute() if cache is None else cache.get(video, intervals, cfg, compute)


def _video_identity(video: str | os.PathLike | InMemoryVideo) -> dict:
    if isinstance(video, InMemoryVideo):
        return {"name": video.name, "sha1": hashlib.sha1(video.data).hexdigest()}
    path = Path(video).resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise DataError(f"Video not found: {video}") from None
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
