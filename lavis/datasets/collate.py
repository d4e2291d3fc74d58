"""One collate function for every dataset: stack what has equal shapes, pad frame axes, list the rest.

A sample is a dict. Tensors of equal shape are stacked. Tensors whose shapes differ only in the first
(frame) axis -- clips with different frame counts -- are zero-padded to the longest, and a boolean mask
marks the real entries: ``frame_mask`` (B, T) for ``video`` and every key padded like it, ``<key>_mask``
for a key whose lengths differ from the video's. Everything else (text, numbers, nested lists) is kept as
a list, so a dataset can add fields (captions, audio, answer options) without touching this code.

``None`` samples (a bad video skipped under ``on_bad_video: skip``) are dropped and counted in
``num_skipped``; ``batch_size`` is the number of samples kept (0: an empty batch, which tasks skip).
"""

from __future__ import annotations

from typing import Any

import torch

from lavis.common.errors import DataError

FRAME_KEY = "video"  # the key whose frame counts define ``frame_mask``


def collate_samples(samples: list[dict[str, Any] | None]) -> dict[str, Any]:
    kept = [s for s in samples if s is not None]
    batch: dict[str, Any] = {"num_skipped": len(samples) - len(kept), "batch_size": len(kept)}
    if not kept:
        return batch
    keys = list(kept[0])
    for s in kept[1:]:
        if set(s) != set(keys):
            diff = sorted(set(s) ^ set(keys))
            raise DataError(f"samples of one batch have different fields ({', '.join(diff)}): the dataset is inconsistent")
    frame_lengths = None
    if FRAME_KEY in keys and isinstance(kept[0][FRAME_KEY], torch.Tensor):
        frame_lengths = [s[FRAME_KEY].shape[0] for s in kept]
    for key in keys:
        values = [s[key] for s in kept]
        if not all(isinstance(v, torch.Tensor) for v in values):
            batch[key] = values
            continue
        shapes = {tuple(v.shape) for v in values}
        if len(shapes) == 1:
            batch[key] = torch.stack(values)
            continue
        if len({v.dim() for v in values}) != 1 or values[0].dim() == 0 or len({tuple(v.shape[1:]) for v in values}) != 1:
            batch[key] = values  # ragged beyond the first axis: the model decides what it means
            continue
        lengths = [v.shape[0] for v in values]
        padded = values[0].new_zeros((len(values), max(lengths), *values[0].shape[1:]))
        mask = torch.zeros(len(values), max(lengths), dtype=torch.bool)
        for i, v in enumerate(values):
            padded[i, : v.shape[0]] = v
            mask[i, : v.shape[0]] = True
        batch[key] = padded
        batch["frame_mask" if lengths == frame_lengths else f"{key}_mask"] = mask
    if frame_lengths is not None and "frame_mask" not in batch:
        batch["frame_mask"] = torch.ones(len(kept), max(frame_lengths), dtype=torch.bool)
    return batch
