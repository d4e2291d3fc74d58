"""``MomentRetrievalDataset``: annotation records + videos → samples for moment retrieval."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lavis.common.errors import DataError
from lavis.datasets.annotations import load_annotations

logger = logging.getLogger(__name__)

ON_BAD_VIDEO = ("error", "skip")


class MomentRetrievalDataset(Dataset):
    """One sample per query.

    Randomness (frame choice, crop) comes from a generator seeded by ``(seed, epoch, index)``, so a sample
    is the same whatever the worker count, and a resumed run sees exactly the data it would have seen.
    """

    def __init__(
        self,
        ann_path: str | os.PathLike,
        video_root: str | os.PathLike,
        processor,
        video_ext: str = ".mp4",
        on_bad_video: str = "error",
        seed: int = 0,
        records: list[dict[str, Any]] | None = None,
    ) -> None:
        if on_bad_video not in ON_BAD_VIDEO:
            raise DataError(f"on_bad_video must be one of {ON_BAD_VIDEO}, got {on_bad_video!r}")
        self.ann_path = str(ann_path)
        self.records = records if records is not None else load_annotations(ann_path)
        self.video_root = Path(video_root)
        self.processor = processor
        self.video_ext = video_ext
        self.on_bad_video = on_bad_video
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    @staticmethod
    def collater(samples: list[dict[str, Any] | None]) -> dict[str, Any]:
        return collate_moment_retrieval(samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def video_path(self, rec: dict[str, Any]) -> Path:
        return self.video_root / f"{rec['video']}{self.video_ext}"

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        rec = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        clip = (rec["start"], rec["end"]) if "start" in rec and "end" in rec else None
        try:
            video, frames = self.processor(self.video_path(rec), rng, clip)
        except DataError as err:
            msg = f"{err} (qid {rec['qid']}, annotation file {self.ann_path})"
            if self.on_bad_video == "skip":
                logger.warning("Skipping sample: %s", msg)
                return None
            raise DataError(msg + ". Set on_bad_video: skip in the dataset config to skip such samples.") from None
        return {
            "video": video,
            "timestamps": torch.tensor(frames.timestamps, dtype=torch.float32),
            "duration": float(rec["duration"]),
            "query": rec["query"],
            "qid": rec["qid"],
            "vid": rec["video"],
            "relevant_windows": rec["relevant_windows"],
            "index": index,
        }


def collate_moment_retrieval(samples: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack a batch, padding frame counts to the longest clip (``frame_mask`` marks real frames).

    ``None`` samples (skipped bad videos) are dropped and counted in ``num_skipped``.
    """
    kept = [s for s in samples if s is not None]
    batch: dict[str, Any] = {"num_skipped": len(samples) - len(kept)}
    if not kept:
        return batch
    max_t = max(s["video"].shape[0] for s in kept)
    b = len(kept)
    c, h, w = kept[0]["video"].shape[1:]
    video = torch.zeros(b, max_t, c, h, w, dtype=kept[0]["video"].dtype)
    timestamps = torch.zeros(b, max_t)
    frame_mask = torch.zeros(b, max_t, dtype=torch.bool)
    for i, s in enumerate(kept):
        t = s["video"].shape[0]
        video[i, :t] = s["video"]
        timestamps[i, :t] = s["timestamps"]
        frame_mask[i, :t] = True
    batch.update(
        video=video,
        timestamps=timestamps,
        frame_mask=frame_mask,
        duration=torch.tensor([s["duration"] for s in kept], dtype=torch.float32),
    )
    for key in ("query", "qid", "vid", "relevant_windows", "index"):
        batch[key] = [s[key] for s in kept]
    return batch
