"""Highlight-detection metrics (HL-mAP, HL-Hit1) as defined by the QVHighlights evaluator.

Each GT query has saliency scores 0-4 from three annotators for its relevant 2-second clips (every
other clip counts as 0). A score is binarised at three minimum levels (Fair >= 2, Good >= 3,
VeryGood >= 4); papers report the VeryGood setting. The AP here is *not* the textbook AP: the official
tool runs the running maximum of precision in the direction of decreasing recall and averages the
precision at recall changes, so we reproduce that (and sklearn's ``precision_recall_curve``, which it
calls) in numpy instead of using a library AP.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from lavis.common.errors import DataError
from lavis.evaluation.moment_retrieval import (
    check_matching_qids,
    format_examples,
    index_by_qid,
    is_finite_number,
    round2,
)

CLIP_LENGTH = 2.0  # seconds per saliency clip in QVHighlights
NUM_ANNOTATORS = 3
SALIENCY_LEVELS: tuple[tuple[str, int], ...] = (("Fair", 2), ("Good", 3), ("VeryGood", 4))


def has_highlight_labels(record: Mapping[str, Any]) -> bool:
    return "relevant_clip_ids" in record and "saliency_scores" in record


def gt_saliency_matrix(
    record: Mapping[str, Any], qid: Hashable, clip_length: float = CLIP_LENGTH
) -> np.ndarray:
    """(num_clips, 3) scores with ``num_clips = int(duration / clip_length)``; unlisted clips are 0."""
    duration = record.get("duration")
    if not is_finite_number(duration):
        raise DataError(
            f"ground truth qid {qid!r}: highlight evaluation needs a numeric 'duration', got {duration!r}"
        )
    num_clips = int(duration / clip_length)
    if num_clips <= 0:
        raise DataError(
            f"ground truth qid {qid!r}: duration {duration} is shorter than one {clip_length:g}-s clip"
        )
    clip_ids, scores = record["relevant_clip_ids"], record["saliency_scores"]
    if (
        not isinstance(clip_ids, (list, tuple))
        or not isinstance(scores, (list, tuple))
        or len(clip_ids) != len(scores)
    ):
        raise DataError(
            f"ground truth qid {qid!r}: 'relevant_clip_ids' and 'saliency_scores' "
            "must be lists of equal length"
        )
    matrix = np.zeros((num_clips, NUM_ANNOTATORS))
    for clip_id, row in zip(clip_ids, scores):
        if isinstance(clip_id, bool) or not isinstance(clip_id, int) or not 0 <= clip_id < num_clips:
            raise DataError(
                f"ground truth qid {qid!r}: relevant clip id {clip_id!r} is not in [0, {num_clips})"
            )
        if (
            not isinstance(row, (list, tuple))
            or len(row) != NUM_ANNOTATORS
            or not all(map(is_finite_number, row))
        ):
            raise DataError(
                f"ground truth qid {qid!r}: saliency_scores row {row!r}; expected {NUM_ANNOTATORS} numbers"
            )
        matrix[clip_id] = row
    return matrix


def precision_recall_curve(y_true: np.ndarray, y_score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """sklearn-compatible ``precision_recall_curve`` (binary labels): recall decreasing, ending (1, 0).

    One point per distinct score, scanned from the highest score down. Older sklearn cut the curve
    where recall first reaches 1; the extra points have lower precision and the same recall, so the
    AP below is the same with or without them.
    """
    y_true = np.asarray(y_true, dtype=float)
    y_score = np.asarray(y_score, dtype=float)
    order = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[order], y_true[order]
    distinct = np.where(np.diff(y_score))[0]
    threshold_idxs = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true, dtype=np.float64)[threshold_idxs]
    fps = 1 + threshold_idxs - tps
    predicted = tps + fps
    precision = np.divide(tps, predicted, out=np.zeros_like(tps), where=predicted != 0)
    recall = tps / tps[-1] if tps[-1] > 0 else np.ones_like(tps)
    return np.hstack((precision[::-1], 1.0)), np.hstack((recall[::-1], 0.0))


def highlight_average_precision(y_true: np.ndarray, y_score: np.ndarray) -> float:
    """The official ``get_ap``: 0 for an all-negative label, 1 for all-positive, else the curve AP."""
    y_true = np.asarray(y_true, dtype=float)
    if len(y_true) != len(y_score):
        raise ValueError(f"{len(y_true)} labels but {len(y_score)} scores")
    if len(np.unique(y_true)) == 1:
        return 0.0 if y_true[0] == 0 else 1.0
    precision, recall = precision_recall_curve(y_true, y_score)
    recall = recall.astype(np.float32)
    precision = np.maximum.accumulate(precision)  # towards *lower* recall, unlike VOC: the official quirk
    return float(np.mean(precision[np.where(np.diff(recall))]))


def fit_length(scores: Sequence[float], length: int) -> np.ndarray:
    """Truncate or zero-pad predicted clip scores to the GT clip count (videos may be shorter)."""
    scores = np.asarray(scores, dtype=float)[:length]
    return np.pad(scores, (0, length - len(scores)))


def hit_at_one(pred_scores: Sequence[float], gt_binary: np.ndarray) -> float:
    """1 if any annotator marks the top-scored clip (first one on ties) as a highlight, else 0."""
    top = int(np.argmax(pred_scores))
    return float(gt_binary[top].max()) if top < len(gt_binary) else 0.0


def _saliency_scores_of(record: Mapping[str, Any], qid: Hashable) -> list[float]:
    scores = record.get("pred_saliency_scores")
    if not isinstance(scores, (list, tuple)) or not scores or not all(map(is_finite_number, scores)):
        raise DataError(
            f"prediction qid {qid!r}: 'pred_saliency_scores' must be a non-empty list of finite numbers "
            "(one per 2-s clip)"
        )
    return list(scores)


def evaluate_highlight(
    predictions: Sequence[Mapping[str, Any]], ground_truth: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, float]]:
    """``{"HL-min-<level>": {"HL-mAP", "HL-Hit1"}}`` in percent, for Fair, Good and VeryGood.

    mAP averages over queries x annotators (each annotator's binary labels are one ranking problem).
    """
    gt_records = index_by_qid(ground_truth, "ground truth")
    pred_records = index_by_qid(predictions, "predictions")
    check_matching_qids(pred_records, gt_records)
    unlabeled = [qid for qid, record in gt_records.items() if not has_highlight_labels(record)]
    if unlabeled:
        raise DataError(
            f"ground truth: {len(unlabeled)} record(s) lack 'relevant_clip_ids'/'saliency_scores' "
            f"(qids {format_examples(unlabeled)}); highlight detection cannot be scored"
        )
    qids = list(pred_records)
    gt_scores = {qid: gt_saliency_matrix(gt_records[qid], qid) for qid in qids}
    pred_scores = {qid: _saliency_scores_of(pred_records[qid], qid) for qid in qids}

    metrics = {}
    for name, min_score in SALIENCY_LEVELS:
        binary = {qid: (scores >= min_score).astype(float) for qid, scores in gt_scores.items()}
        hits = [hit_at_one(pred_scores[q], binary[q]) for q in qids]
        aps = np.array(
            [
                [
                    highlight_average_precision(binary[q][:, a], fit_length(pred_scores[q], len(binary[q])))
                    for a in range(NUM_ANNOTATORS)
                ]
                for q in qids
            ]
        )
        metrics[f"HL-min-{name}"] = {
            "HL-mAP": round2(100 * np.mean(aps)),
            "HL-Hit1": round2(100 * np.mean(hits)),
        }
    return metrics
