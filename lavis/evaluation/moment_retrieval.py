"""Moment-retrieval metrics (R1@IoU, mAP@IoU, length buckets) following the QVHighlights evaluator.

Published QVHighlights numbers come from moment_detr's ``standalone_eval``; to be comparable we must
reproduce its quirks bit for bit (first 10 windows *as listed*, then a stable sort by score; greedy
matching that visits GT windows by descending IoU; VOC all-point interpolation; rounding with
``f"{x:.2f}"``). Mr. BLIP evaluates generated text, which has no scores, so its variant ranks windows
in generation order without a cap and adds mIoU / R1-avg / invalid-output counts. Both protocols run
through the same code and differ only in a :class:`Protocol` value.

Deliberate departures from the official tool, where it fails silently or crashes:
an empty prediction list raises :class:`~lavis.common.errors.DataError` in ``"official"`` mode (the
tool drops the query from mAP and crashes in R1) and counts as an invalid answer (IoU 0, AP 0) in
``"mr_blip"`` mode; duplicate qids, mismatched qid sets and malformed windows raise ``DataError``.
An empty length bucket reports ``None`` instead of NaN so the result stays valid JSON. Unlike Mr.
BLIP's own evaluator (which disabled the length ranges), ``"mr_blip"`` keeps the real buckets.

The CLI scores windows stored in a field of a Mr. BLIP-format annotation file (e.g. CALCE's
``stage1_result``) against the same records' ``relevant_windows``::

    python -m lavis.evaluation.moment_retrieval --annotations val_stage2.json --field stage1_result \
        [--protocol mr_blip] [--out METRICS.json]
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.reporting import format_table, run_metrics_cli

# Compared as the *rounded* floats (0.9, not linspace's 0.8999999999999999), as the official tool does.
IOU_THRESHOLDS: tuple[float, ...] = tuple(float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10))
MR_BLIP_R1_THRESHOLDS: tuple[float, ...] = (0.3, *IOU_THRESHOLDS)
# (name, min length exclusive, max length inclusive), in seconds; "full" is the unfiltered set.
LENGTH_BUCKETS: tuple[tuple[str, float, float], ...] = (
    ("short", 0.0, 10.0),
    ("middle", 10.0, 30.0),
    ("long", 30.0, 150.0),
)
OFFICIAL_MAX_WINDOWS = 10
_MAX_EXAMPLES = 5

ProtocolName = Literal["official", "mr_blip"]


@dataclass(frozen=True)
class Protocol:
    """How predictions are ranked and what is reported; the only difference between protocols."""

    name: str
    rank_by: Literal["score", "order"]  # "score": stable sort by descending score; "order": as listed
    max_windows: int | None  # keep this many windows *as listed*, before ranking (None: all)
    empty_predictions: Literal["error", "invalid"]
    r1_thresholds: tuple[float, ...]
    extra_metrics: bool  # MR-mIoU, MR-R1-avg, MR-invalid


def get_protocol(name: str) -> Protocol:
    if name == "official":
        return Protocol("official", "score", OFFICIAL_MAX_WINDOWS, "error", IOU_THRESHOLDS, False)
    if name == "mr_blip":
        return Protocol("mr_blip", "order", None, "invalid", MR_BLIP_R1_THRESHOLDS, True)
    raise ValueError(f"unknown moment-retrieval protocol {name!r}; expected 'official' or 'mr_blip'")


# --------------------------------------------------------------------------------------------------
# Formatting helpers shared by the QVHighlights modules


def round2(value: float) -> float:
    """Round like the official tool (``float(f"{x:.2f}")``), which differs from ``round`` on ties."""
    return float(f"{value:.2f}")


def threshold_key(threshold: float) -> str:
    return str(float(f"{threshold:.2f}"))


# --------------------------------------------------------------------------------------------------
# IoU


def temporal_iou_cross(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """IoU of every span in ``spans1`` (N, 2) with every span in ``spans2`` (M, 2) -> (N, M).

    The union is ``len1 + len2 - inter`` (not the convex hull) because the official matcher uses this
    form, and at an exact threshold the last bit of the quotient decides TP or FP. IoU is 0 where the
    union is not positive (degenerate or reversed spans).
    """
    spans1 = np.asarray(spans1, dtype=float).reshape(-1, 2)
    spans2 = np.asarray(spans2, dtype=float).reshape(-1, 2)
    areas1 = spans1[:, 1] - spans1[:, 0]
    areas2 = spans2[:, 1] - spans2[:, 0]
    left = np.maximum(spans1[:, None, 0], spans2[None, :, 0])
    right = np.minimum(spans1[:, None, 1], spans2[None, :, 1])
    inter = np.clip(right - left, 0, None)
    union = areas1[:, None] + areas2[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def temporal_iou_paired(spans1: np.ndarray, spans2: np.ndarray) -> np.ndarray:
    """IoU of ``spans1[i]`` with ``spans2[i]`` -> (N,), union taken as the convex hull (as in R1).

    The hull equals the true union whenever the spans overlap, and IoU is 0 otherwise, so the value is
    the usual IoU; the form is kept because it is what the official R1 computes.
    """
    spans1 = np.asarray(spans1, dtype=float).reshape(-1, 2)
    spans2 = np.asarray(spans2, dtype=float).reshape(-1, 2)
    inter = np.clip(np.minimum(spans1[:, 1], spans2[:, 1]) - np.maximum(spans1[:, 0], spans2[:, 0]), 0, None)
    union = np.maximum(spans1[:, 1], spans2[:, 1]) - np.minimum(spans1[:, 0], spans2[:, 0])
    return np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)


def best_gt_iou(window: np.ndarray | None, gt_windows: np.ndarray) -> float:
    """IoU of one predicted window with the GT window it overlaps most (first one on ties).

    ``None`` (no prediction) scores 0, so that an empty answer counts as a miss rather than vanishing.
    """
    if window is None:
        return 0.0
    window = np.asarray(window, dtype=float).reshape(1, 2)
    best = int(np.argmax(temporal_iou_cross(window, gt_windows)[0]))
    return float(temporal_iou_paired(window, gt_windows[best : best + 1])[0])


# --------------------------------------------------------------------------------------------------
# Average precision


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC-2011 all-point interpolated AP: area under the precision envelope taken from the right."""
    mprec = np.hstack([[0.0], precision, [0.0]])
    mrec = np.hstack([[0.0], recall, [1.0]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    idx = np.where(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def _greedy_match(ious: np.ndarray, visit_order: np.ndarray, locked: np.ndarray, threshold: float) -> bool:
    """True (and lock the GT) if the prediction claims a still-free GT window with IoU >= threshold.

    GT windows are visited by descending IoU; the first one below the threshold ends the search, so a
    prediction never falls back to a worse-overlapping GT that happens to be free.
    """
    for gt_idx in visit_order:
        if ious[gt_idx] < threshold:
            return False
        if locked[gt_idx]:
            continue
        locked[gt_idx] = True
        return True
    return False


def detection_average_precision(
    pred_windows: np.ndarray, gt_windows: np.ndarray, thresholds: Sequence[float] = IOU_THRESHOLDS
) -> np.ndarray:
    """AP of one query's *ranked* predictions (P, 2) against its GT windows (G, 2), per threshold.

    Every prediction is either a TP or an FP (the official tool marks "no match found" as FP too), so
    the FP counts are the complement of the TP counts.
    """
    pred_windows = np.asarray(pred_windows, dtype=float).reshape(-1, 2)
    gt_windows = np.asarray(gt_windows, dtype=float).reshape(-1, 2)
    num_thresholds, num_preds, num_gts = len(thresholds), len(pred_windows), len(gt_windows)
    if num_preds == 0:
        return np.zeros(num_thresholds)
    ious = temporal_iou_cross(pred_windows, gt_windows)
    tp = np.zeros((num_thresholds, num_preds))
    locked = np.zeros((num_thresholds, num_gts), dtype=bool)
    for pred_idx in range(num_preds):
        row = ious[pred_idx]
        visit_order = row.argsort()[::-1]  # same call as the official tool, so ties break identically
        for t_idx, threshold in enumerate(thresholds):
            tp[t_idx, pred_idx] = _greedy_match(row, visit_order, locked[t_idx], threshold)
    tp_cumsum = np.cumsum(tp, axis=1).astype(float)
    fp_cumsum = np.cumsum(1.0 - tp, axis=1).astype(float)
    recall = tp_cumsum / float(num_gts)
    precision = tp_cumsum / (tp_cumsum + fp_cumsum)
    return np.array([interpolated_average_precision(precision[t], recall[t]) for t in range(num_thresholds)])


# --------------------------------------------------------------------------------------------------
# Validation and normalisation of records


def format_examples(values: Iterable[Any], k: int = _MAX_EXAMPLES) -> str:
    try:
        values = sorted(values)
    except TypeError:  # mixed int / str qids
        values = sorted(values, key=repr)
    shown = ", ".join(repr(v) for v in values[:k])
    return shown + (", ..." if len(values) > k else "")


def index_by_qid(records: Any, what: str) -> dict[Hashable, Mapping[str, Any]]:
    """Map qid -> record, keeping file order; duplicates are an error because they would be merged."""
    if not isinstance(records, Sequence) or isinstance(records, (str, bytes)):
        raise DataError(f"{what}: expected a list of records, got {type(records).__name__}")
    out: dict[Hashable, Mapping[str, Any]] = {}
    duplicates = set()
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or "qid" not in record:
            raise DataError(f"{what}: record #{i} is not an object with a 'qid' field: {str(record)[:120]}")
        qid = record["qid"]
        if not isinstance(qid, Hashable) or isinstance(qid, (float, bool)):
            raise DataError(f"{what}: record #{i} has an unusable qid {qid!r} (expected int or str)")
        if qid in out:
            duplicates.add(qid)
        out[qid] = record
    if duplicates:
        raise DataError(f"{what}: {len(duplicates)} duplicate qid(s): {format_examples(duplicates)}")
    return out


def check_matching_qids(
    pred_qids: Iterable[Hashable], gt_qids: Iterable[Hashable], noun: str = "qid"
) -> None:
    """The official tool requires one prediction per GT query: a partial file must not look complete."""
    pred_set, gt_set = set(pred_qids), set(gt_qids)
    if pred_set == gt_set:
        return
    missing, extra = gt_set - pred_set, pred_set - gt_set
    parts = []
    if missing:
        parts.append(
            f"{len(missing)} of {len(gt_set)} GT {noun}(s) have no prediction (e.g. {format_examples(missing)})"
        )
    if extra:
        parts.append(
            f"{len(extra)} predicted {noun}(s) are not in the ground truth (e.g. {format_examples(extra)})"
        )
    message = "predictions and ground truth cover different queries: " + "; ".join(parts)
    if {str(q) for q in missing} & {str(q) for q in extra}:
        message += f" (some {noun}s differ only in type, e.g. 12 vs '12')"
    raise DataError(message)


def is_finite_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _window_list(record: Mapping[str, Any], key: str, qid: Hashable, what: str) -> list:
    if key not in record:
        raise DataError(f"{what} qid {qid!r}: missing field {key!r}")
    windows = record[key]
    if not isinstance(windows, (list, tuple)):
        raise DataError(
            f"{what} qid {qid!r}: {key!r} must be a list of windows, got {type(windows).__name__}"
        )
    return list(windows)


def gt_windows_of(record: Mapping[str, Any], qid: Hashable) -> np.ndarray:
    """GT windows as a (G, 2) float array; a third element (e.g. a text label) is ignored."""
    windows = _window_list(record, "relevant_windows", qid, "ground truth")
    if not windows:
        raise DataError(f"ground truth qid {qid!r}: 'relevant_windows' is empty; every query needs a window")
    for i, window in enumerate(windows):
        ok = isinstance(window, (list, tuple)) and len(window) >= 2 and all(map(is_finite_number, window[:2]))
        if not ok:
            raise DataError(
                f"ground truth qid {qid!r}: relevant_windows[{i}] = {window!r}; "
                "expected [start, end] in seconds"
            )
        if window[1] < window[0]:
            raise DataError(
                f"ground truth qid {qid!r}: relevant_windows[{i}] = {window!r} ends before it starts"
            )
    return np.array([[w[0], w[1]] for w in windows], dtype=float).reshape(-1, 2)


def ranked_windows_of(record: Mapping[str, Any], qid: Hashable, protocol: Protocol) -> np.ndarray:
    """Predicted windows in the order they are ranked by ``protocol``, as a (P, 2) float array."""
    windows = _window_list(record, "pred_relevant_windows", qid, "prediction")
    need = 3 if protocol.rank_by == "score" else 2
    expected = "[start, end, score]" if need == 3 else "[start, end] or [start, end, score]"
    for i, window in enumerate(windows):
        ok = (
            isinstance(window, (list, tuple))
            and len(window) >= need
            and all(map(is_finite_number, window[:need]))
        )
        if not ok:
            hint = " (the official protocol ranks windows by score)" if need == 3 else ""
            raise DataError(
                f"prediction qid {qid!r}: pred_relevant_windows[{i}] = {window!r}; "
                f"expected {expected} with finite numbers{hint}"
            )
    if protocol.max_windows is not None:
        windows = windows[: protocol.max_windows]
    if protocol.rank_by == "score":
        windows = sorted(windows, key=lambda w: -w[2])  # stable: ties keep their listed order
    return np.array([[w[0], w[1]] for w in windows], dtype=float).reshape(-1, 2)


def first_listed_window(record: Mapping[str, Any]) -> np.ndarray | None:
    """R1 scores the first window *as listed* (the official tool never re-sorts it by score)."""
    windows = record["pred_relevant_windows"]
    return np.array(windows[0][:2], dtype=float) if windows else None


def _is_invalid_answer(record: Mapping[str, Any]) -> bool:
    """Mr. BLIP's parser emits [-1, -1] for unparsable text; an empty answer is invalid as well."""
    windows = record["pred_relevant_windows"]
    return not windows or any(v < 0 for v in windows[0][:2])


def _check_no_empty_predictions(pred_records: Mapping[Hashable, Mapping[str, Any]]) -> None:
    empty = [qid for qid, record in pred_records.items() if not record["pred_relevant_windows"]]
    if empty:
        raise DataError(
            f"{len(empty)} prediction(s) have an empty 'pred_relevant_windows' "
            f"(qids {format_examples(empty)}); "
            "the official protocol cannot score them (the reference tool would silently drop them from "
            "mAP); give at least one window per query or use protocol='mr_blip' to count them as misses"
        )


# --------------------------------------------------------------------------------------------------
# Buckets and metrics


def filter_by_length(
    gt_windows: Mapping[Hashable, np.ndarray], min_length: float, max_length: float
) -> dict[Hashable, np.ndarray]:
    """Keep GT windows with ``min_length < length <= max_length`` and the queries that still have one."""
    out = {}
    for qid, windows in gt_windows.items():
        lengths = windows[:, 1] - windows[:, 0]
        kept = windows[(lengths > min_length) & (lengths <= max_length)]
        if len(kept):
            out[qid] = kept
    return out


def _recall_at_one(ious: np.ndarray, thresholds: Sequence[float]) -> dict[str, float]:
    return {threshold_key(t): round2(np.mean(ious >= t) * 100) for t in thresholds}


def _mean_average_precision(ap_rows: np.ndarray) -> dict[str, float]:
    """Per-threshold mean over queries; "average" is taken before rounding, as the official tool does."""
    per_threshold = ap_rows.mean(0)
    out = {threshold_key(t): round2(100 * v) for t, v in zip(IOU_THRESHOLDS, per_threshold)}
    out["average"] = round2(100 * np.mean(per_threshold))
    return out


def _empty_bucket(protocol: Protocol, r1_thresholds: Sequence[float]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "MR-mAP": {**{threshold_key(t): None for t in IOU_THRESHOLDS}, "average": None},
        "MR-R1": {threshold_key(t): None for t in r1_thresholds},
    }
    if protocol.extra_metrics:
        result.update({"MR-mIoU": None, "MR-R1-avg": None, "MR-invalid": None})
    return result


def _r1_average(r1: Mapping[str, float]) -> float | None:
    """Mean of the reported R1@0.5..0.95 (Mr. BLIP's ``agg_metrics``); R1@0.3 is left out."""
    values = [r1[threshold_key(t)] for t in IOU_THRESHOLDS if threshold_key(t) in r1]
    return round2(float(np.mean(values))) if values else None


@dataclass(frozen=True)
class _Predictions:
    """Per-qid views of the predictions, in prediction-file order (the official averaging order)."""

    first: dict[Hashable, np.ndarray | None]  # first window as listed, for R1 and mIoU
    ranked: dict[Hashable, np.ndarray]  # windows as ranked by the protocol, for mAP
    invalid: dict[Hashable, bool]

    @classmethod
    def from_records(cls, records: Mapping[Hashable, Mapping[str, Any]], protocol: Protocol) -> _Predictions:
        ranked = {qid: ranked_windows_of(record, qid, protocol) for qid, record in records.items()}
        if protocol.empty_predictions == "error":
            _check_no_empty_predictions(records)
        return cls(
            first={qid: first_listed_window(record) for qid, record in records.items()},
            ranked=ranked,
            invalid={qid: _is_invalid_answer(record) for qid, record in records.items()},
        )


def _evaluate_bucket(
    preds: _Predictions,
    gt_windows: Mapping[Hashable, np.ndarray],
    protocol: Protocol,
    r1_thresholds: Sequence[float],
) -> dict[str, Any]:
    qids = [qid for qid in preds.ranked if qid in gt_windows]
    if not qids:
        return _empty_bucket(protocol, r1_thresholds)
    ious = np.array([best_gt_iou(preds.first[q], gt_windows[q]) for q in qids])
    ap_rows = np.array([detection_average_precision(preds.ranked[q], gt_windows[q]) for q in qids])
    result: dict[str, Any] = {
        "MR-mAP": _mean_average_precision(ap_rows),
        "MR-R1": _recall_at_one(ious, r1_thresholds),
    }
    if protocol.extra_metrics:
        result["MR-mIoU"] = round2(np.mean(ious) * 100)
        result["MR-R1-avg"] = _r1_average(result["MR-R1"])
        result["MR-invalid"] = round2(100 * np.mean([preds.invalid[q] for q in qids]))
    return result


def evaluate_moment_retrieval(
    predictions: Sequence[Mapping[str, Any]],
    ground_truth: Sequence[Mapping[str, Any]],
    protocol: ProtocolName = "official",
    r1_thresholds: Sequence[float] | None = None,
) -> dict[str, dict[str, Any]]:
    """Score moment retrieval on the full set and on the short/middle/long GT-length buckets.

    ``predictions``: ``{"qid", "pred_relevant_windows": [[start, end, score], ...]}`` (score optional
    for ``"mr_blip"``); ``ground_truth``: ``{"qid", "relevant_windows": [[start, end], ...]}``. Returns
    ``{"full", "short", "middle", "long"}``, each ``{"MR-mAP": {thr: ..., "average"}, "MR-R1": {thr: ...}}``
    in percent, plus ``MR-mIoU``, ``MR-R1-avg`` and ``MR-invalid`` (percent of queries) for ``"mr_blip"``.
    """
    proto = get_protocol(protocol)
    thresholds = tuple(proto.r1_thresholds if r1_thresholds is None else r1_thresholds)
    if not thresholds or not all(is_finite_number(t) and 0 < t <= 1 for t in thresholds):
        raise ValueError(f"r1_thresholds must be numbers in (0, 1], got {r1_thresholds!r}")
    thresholds = tuple(float(f"{t:.2f}") for t in thresholds)

    gt_records = index_by_qid(ground_truth, "ground truth")
    pred_records = index_by_qid(predictions, "predictions")
    check_matching_qids(pred_records, gt_records)
    gt_windows = {qid: gt_windows_of(record, qid) for qid, record in gt_records.items()}
    preds = _Predictions.from_records(pred_records, proto)

    buckets = {"full": gt_windows}
    buckets.update({name: filter_by_length(gt_windows, lo, hi) for name, lo, hi in LENGTH_BUCKETS})
    return {
        name: _evaluate_bucket(preds, bucket_gt, proto, thresholds) for name, bucket_gt in buckets.items()
    }


# --------------------------------------------------------------------------------------------------
# Summary and CLI

HEADLINE = ("MR-full-R1@0.5", "MR-full-R1@0.7", "MR-full-mIoU", "MR-full-mAP@0.5", "MR-full-mAP@0.75")


def summarize(mr: Mapping[str, Mapping[str, Any]], protocol: str) -> dict[str, Any]:
    """The ``brief`` section of the official tool (``MR-full-R1@0.5``, ...), sorted by name.

    R1@0.3 is reported only by ``"mr_blip"`` (Charades practice), as are mIoU, R1-avg and the
    invalid-answer rate; the official protocol keeps exactly the official keys.
    """
    full = mr["full"]
    brief = {
        "MR-full-mAP": full["MR-mAP"]["average"],
        "MR-full-mAP@0.5": full["MR-mAP"]["0.5"],
        "MR-full-mAP@0.75": full["MR-mAP"]["0.75"],
        "MR-short-mAP": mr["short"]["MR-mAP"]["average"],
        "MR-middle-mAP": mr["middle"]["MR-mAP"]["average"],
        "MR-long-mAP": mr["long"]["MR-mAP"]["average"],
    }
    for threshold in (0.3, 0.5, 0.7):
        key = threshold_key(threshold)
        if key in full["MR-R1"] and (threshold != 0.3 or protocol != "official"):
            brief[f"MR-full-R1@{key}"] = full["MR-R1"][key]
    if protocol != "official":
        brief.update({f"MR-full-{name[3:]}": full[name] for name in ("MR-mIoU", "MR-R1-avg", "MR-invalid")})
    return dict(sorted(brief.items()))


def predictions_from_field(records: Any, field: str, source: str = "annotations") -> list[dict[str, Any]]:
    """``{"qid", "pred_relevant_windows"}`` records from the windows a model wrote into ``field``.

    Generated windows carry no score, so they are passed on in stored (generation) order; a record
    without the field is an error (a merge that skipped some queries must not shrink the test set).
    """
    if not isinstance(records, list):
        raise DataError(f"{source}: expected a JSON list of records, got {type(records).__name__}")
    out = []
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or "qid" not in record:
            raise DataError(f"{source}: record #{i} is not an object with a 'qid' field: {str(record)[:120]}")
        if field not in record:
            fields = ", ".join(sorted(map(str, record)))
            raise DataError(
                f"{source}: record #{i} (qid {record['qid']!r}) has no field {field!r}; it has: {fields}"
            )
        out.append({"qid": record["qid"], "pred_relevant_windows": record[field]})
    return out


def evaluate_annotation_field(
    records: Any, field: str, protocol: ProtocolName = "mr_blip", source: str = "annotations"
) -> dict[str, Any]:
    """Score ``record[field]`` against ``record["relevant_windows"]`` for every record of one file.

    Returns ``{"brief": ..., "full": ..., "long": ..., "middle": ..., "short": ...}`` like the
    QVHighlights tool. Errors name the file and say that the field is scored as the predictions.
    """
    predictions = predictions_from_field(records, field, source)
    try:
        mr = evaluate_moment_retrieval(predictions, records, protocol=protocol)
    except DataError as err:
        raise DataError(f"{source} (field {field!r} scored as 'pred_relevant_windows'): {err}") from None
    return {"brief": summarize(mr, protocol), **dict(sorted(mr.items()))}


def format_summary(metrics: Mapping[str, Any]) -> str:
    """The headline numbers papers report first, then the rest of the brief."""
    brief = metrics["brief"]
    names = [k for k in HEADLINE if k in brief] + [k for k in brief if k not in HEADLINE]
    return format_table((name, brief[name]) for name in names)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lavis.evaluation.moment_retrieval",
        description="Score the windows stored in a field of a Mr. BLIP-format annotation file "
        "(a JSON list of records with qid and relevant_windows) against each record's own GT.",
    )
    parser.add_argument(
        "--annotations", required=True, help="JSON list, e.g. calce_annotations/qvh/val_stage2.json"
    )
    parser.add_argument(
        "--field", required=True, help="the field holding predicted windows, e.g. stage1_result"
    )
    parser.add_argument(
        "--protocol",
        choices=("mr_blip", "official"),
        default="mr_blip",
        help="mr_blip (default): generation order, no cap, mIoU; official needs [start, end, score] windows",
    )
    parser.add_argument("--out", help="write the metrics JSON here (atomically)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    return run_metrics_cli(
        lambda: evaluate_annotation_field(
            read_json(args.annotations), args.field, protocol=args.protocol, source=args.annotations
        ),
        format_summary,
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
