"""A disk cache of what the frozen part of a BLIP-2 body makes of a sample's frames.

Mr. BLIP trains ``ln_vision``, the projection and LoRA, but every step re-runs the frozen EVA ViT-g (and the
frozen Q-Former) on every frame: most of a step's compute, recomputed identically each epoch. This cache
stores it once per sample's frame set, at one of two levels:

- ``vit``: ViT tokens before ``ln_vision`` (valid whenever the ViT is frozen; ``ln_vision`` may train);
- ``qformer``: the Q-Former query outputs, ~15x smaller (valid only when the ViT, ``ln_vision``, the
  Q-Former and its queries are all frozen, without Q-Former dropout and without instruction text).

The key is a digest of everything the features depend on: the frozen weights' hash (with their dtype and
the encoder settings; for ``qformer`` also the branch's ``ln_vision``, Q-Former and queries), the level, the
numerics the model runs them in (autocast dtype), the video identity (resolved path, size, mtime), the frame
indices and the image preprocessing (:class:`~lavis.datasets.frame_sources.FrameSource`). Files live under
``root/<weights hash[:16]>/``: new weights miss, and the features of old weights can be deleted as one
folder. One safetensors file per entry (the frames of one sample), written atomically (temporary file +
rename), so concurrent workers or ranks may write the same entry; an unreadable or mismatching entry is
recomputed and overwritten.

Features are always returned as stored (rounded to the storage dtype, then float32), whether they were
just computed or read: a sample's numbers do not depend on whether it hit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from lavis.common.config import one_of
from lavis.common.io import atomic_open
from lavis.datasets.frame_sources import FrameSource

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the stored layout or the meaning of a key changes
LOG_EVERY = 1000  # samples between two INFO lines of hit / miss counts
STORAGE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


@dataclass
class FeatureCacheConfig:
    """``model.feature_cache``: null (default) is off.

    Incompatible with training augmentation that changes pixels (RandomResizedCrop with min_scale < 1, random
    flips): the loader refuses it. Random frame choice per segment only hits when the same frames recur: train
    with the evaluation processor (``video_eval``) to read the cache every epoch after the first.
    """

    root: str = "${paths.cache_root}/features"  # folder of the cache
    level: str = one_of("vit", "vit", "qformer")  # qformer: needs ln_vision and the Q-Former frozen
    dtype: str = one_of("bf16", "bf16", "fp16", "fp32")  # storage dtype (fp32: exact, twice the disk of bf16)


@dataclass
class CacheStats:
    hits: int = 0  # samples read from disk
    misses: int = 0  # samples computed (and stored)
    unreadable: int = 0  # entries present but unusable (recomputed)

    def as_dict(self) -> dict[str, int]:
        return {"hits": self.hits, "misses": self.misses, "unreadable": self.unreadable}


def weights_hash(named_tensors: Iterable[tuple[str, torch.Tensor]], settings: dict) -> str:
    """A digest of tensors (names, dtypes, shapes, bytes) and settings: what frozen features depend on.

    Hashes every byte (a few seconds for ViT-g): compute it once per run, the weights are frozen.
    """
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, tensor in sorted(named_tensors, key=lambda item: item[0]):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


@dataclass
class FrozenFeatureCache:
    root: Path
    dtype: str = "bf16"
    stats: CacheStats = field(default_factory=CacheStats)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.dtype not in STORAGE_DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(STORAGE_DTYPES)}, got {self.dtype!r}")

    def key(self, source: FrameSource, weights: str, numerics: str) -> str:
        parts = {
            "format": CACHE_FORMAT,
            "weights": weights,
            "numerics": numerics,
            "video": source.video,
            "indices": list(source.indices),
            "pixels": source.pixels,
            "dtype": self.dtype,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def path_for(self, key: str, weights: str) -> Path:
        return self.root / weights[:16] / key[:2] / f"{key}.safetensors"

    def read(self, source: FrameSource, weights: str, numerics: str) -> torch.Tensor | None:
        """The stored features (T, ...) of ``source`` as float32, or None when absent or unusable."""
        from safetensors import safe_open

        key = self.key(source, weights, numerics)
        path = self.path_for(key, weights)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                features = f.get_tensor("features")
        except Exception as err:  # a truncated or foreign file: recompute rather than fail the run
            logger.warning("ignoring unreadable feature cache entry %s (%s)", path, err)
            self.stats.unreadable += 1
            return None
        if meta.get("key") != key or features.shape[0] != len(source.indices):
            logger.warning("ignoring feature cache entry %s: it does not match its key", path)
            self.stats.unreadable += 1
            return None
        return features.float()

    def write(self, source: FrameSource, weights: str, numerics: str, features: torch.Tensor) -> Path:
        from safetensors.torch import save

        if features.shape[0] != len(source.indices):
            raise ValueError(
                f"features {tuple(features.shape)} do not match {len(source.indices)} frame indices"
            )
        key = self.key(source, weights, numerics)
        stored = features.detach().to("cpu", STORAGE_DTYPES[self.dtype]).contiguous()
        meta = {"key": key, "video": source.video, "frames": str(len(source.indices)), "weights": weights}
        path = self.path_for(key, weights)
        with atomic_open(path, "wb") as f:
            f.write(save({"features": stored}, metadata=meta))
        return path

    def fetch(
        self,
        sources: Sequence[FrameSource],
        weights: str,
        numerics: str,
        compute: Callable[[list[int]], list[torch.Tensor]],
    ) -> list[torch.Tensor]:
        """Per source, its features (float32, CPU when read). Absent entries are computed together --
        ``compute(positions)`` returns the features of ``sources[p]`` for each position -- and stored.
        Equal sources in one call are read or computed once (a duplicate counts as a hit)."""
        first: dict[FrameSource, int] = {}  # samples of one video with the same frames: read / compute once
        for i, source in enumerate(sources):
            first.setdefault(source, i)
        found = {i: self.read(sources[i], weights, numerics) for i in first.values()}
        missing = [i for i, f in found.items() if f is None]
        if missing:
            for i, features in zip(missing, compute(missing), strict=True):
                self.write(sources[i], weights, numerics, features)
                found[i] = features.detach().to(STORAGE_DTYPES[self.dtype]).float()
        before = self.stats.hits + self.stats.misses
        self.stats.misses += len(missing)
        self.stats.hits += len(sources) - len(missing)
        if (before + len(sources)) // LOG_EVERY > before // LOG_EVERY:
            logger.info("feature cache %s: %s", self.root, self.stats.as_dict())
        return [found[first[s]] for s in sources]  # type: ignore[misc]

    def disk_usage(self) -> tuple[int, int]:
        """(number of entries, bytes) under the root."""
        files = [p for p in self.root.rglob("*.safetensors")] if self.root.is_dir() else []
        return len(files), sum(os.path.getsize(p) for p in files)
