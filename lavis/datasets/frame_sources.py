"""Where a sample's frames came from, so a model can cache what its frozen encoder makes of them.

A :class:`FrameSource` names the video (its identity: resolved path, size and mtime, as the audio feature
cache keys it), the decoded frame indices and the processor's pixel signature (image size, normalisation,
processor). Two samples with equal sources have identical pixels -- but only when the processor does not
augment pixels at random: :func:`enable_frame_sources` refuses such processors, and switches the datasets
to carry a ``frame_source`` per sample (off by default: no cost when nothing is cached).

Random frame choice per segment (the ``video_train`` processor) is allowed: every sample is still exact, but
an entry only hits when the same index set was drawn before, which is rare. For cached training, use the
evaluation processor for training too (segment middles: the same frames every epoch).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from torch.utils.data import Dataset

from lavis.common.config import build_processor
from lavis.common.errors import ConfigError
from lavis.datasets.audio_cache import _video_identity as video_identity
from lavis.datasets.video import InMemoryVideo

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSource:
    """The identity of a sample's pixels: video, frame indices (one per frame, in order), preprocessing."""

    video: str  # JSON of the video identity
    indices: tuple[int, ...]
    pixels: str  # the processor's pixel_signature()

    @classmethod
    def of(cls, path: str | os.PathLike | InMemoryVideo, indices: list[int], processor: Any) -> FrameSource:
        identity = json.dumps(video_identity(path), sort_keys=True)
        return cls(identity, tuple(int(i) for i in indices), processor.pixel_signature())


def enable_frame_sources(datasets: dict[str, dict[str, Dataset]]) -> int:
    """Make every dataset that can carry ``frame_source`` do so; refuse pixel augmentation. Returns how many.

    ``datasets`` is ``{dataset name: {split: Dataset}}`` as tasks build them.
    """
    enabled = 0
    for name, splits in datasets.items():
        for split, ds in splits.items():
            processor = getattr(ds, "processor", None)
            if processor is None:
                continue
            check_no_pixel_augmentation(processor, name, split)
            if getattr(processor, "sampling", None) == "random":
                logger.warning(
                    "datasets.%s (%s): frames are drawn at random per segment, so a cached entry only hits when "
                    "the same frames recur; for cached training use vis_processor.train.name: video_eval",
                    name,
                    split,
                )
            if hasattr(ds, "frame_sources"):
                ds.frame_sources = True
                enabled += 1
            else:
                logger.warning(
                    "datasets.%s (%s): %s does not carry frame sources; its frozen features are computed every time",
                    name,
                    split,
                    type(ds).__name__,
                )
    return enabled


def check_processor_specs(datasets: dict[str, Any]) -> None:
    """:func:`check_no_pixel_augmentation` for every processor of the config's ``datasets`` section, before
    any dataset is built (``python -m lavis.check``)."""
    for name, ds in datasets.items():
        for which, spec in (ds.get("vis_processor") or {}).items():
            if spec is not None:
                processor = build_processor(spec, path=f"datasets.{name}.vis_processor.{which}")
                check_no_pixel_augmentation(processor, name, which)


def check_no_pixel_augmentation(processor: Any, dataset: str, split: str) -> None:
    """ConfigError naming the processor setting when ``processor`` changes pixels at random."""
    why = processor.pixel_augmentation() if hasattr(processor, "pixel_augmentation") else None
    if why is None:
        return
    which = "train" if "train" in split else "eval"
    raise ConfigError(
        f"model.feature_cache is on, but the {split!r} processor of datasets.{dataset} ({type(processor).__name__}) "
        f"augments pixels at random: {why}. Cached frozen features would freeze one random draw. Either set "
        f"datasets.{dataset}.vis_processor.{which}.min_scale: 1.0 and flip_prob: 0.0, or use "
        f"datasets.{dataset}.vis_processor.{which}.name: video_eval (segment middles, no augmentation: the same "
        "frames every epoch, so the cache hits), or set model.feature_cache: null."
    )
