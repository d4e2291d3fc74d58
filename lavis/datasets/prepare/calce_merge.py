"""Merge CALCE stage-1 predictions into stage-2 annotations as ``stage1_result``.

Stage 2 reads the stage-1 windows (start-sorted integer seconds) in its ``ref:`` prompt line; every
annotation must have a prediction, otherwise stage 2 would silently train without its reference.
"""

from __future__ import annotations

from typing import Any

from lavis.common.errors import DataError


def stage1_windows(windows: list[list[float]]) -> list[list[int]]:
    """Start-sorted integer windows, the form CALCE stores in ``stage1_result``."""
    return sorted([[int(round(s)), int(round(e))] for s, e in windows])


def merge_stage1(
    annotations: list[dict[str, Any]],
    predictions: dict[str, list[list[float]]],
    source: str = "<predictions>",
) -> list[dict[str, Any]]:
    """Return copies of ``annotations`` with ``stage1_result``; a missing qid is a located DataError."""
    merged = []
    for index, ann in enumerate(annotations):
        qid = str(ann["qid"])
        if qid not in predictions:
            raise DataError(f"{source}: no stage-1 prediction for qid {qid!r} (annotation #{index})")
        merged.append({**ann, "stage1_result": stage1_windows(predictions[qid])})
    return merged
