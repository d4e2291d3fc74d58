"""ActivityNet-1.3 temporal action localization: mAP at tIoU 0.50:0.05:0.95 and their average.

The protocol is the official ActivityNet detection evaluation, re-implemented on plain numpy:

* ground truth is ``activity_net.v1-3.min.json``; only videos of the chosen subset (``validation``)
  count, and the classes are the labels that occur in that subset's annotations;
* per class, detections are ranked by score (descending; on equal scores the later detection in the
  file comes first, as the official stable-then-reversed ordering does for small classes), and each is
  matched, per tIoU threshold, to the unmatched ground-truth segment of its video with the highest tIoU;
  a detection whose best remaining overlap is under the threshold, or whose video has no ground truth of
  its class, is a false positive;
* AP is the area under the interpolated precision / recall curve (precision made monotone from the
  right, summed where recall changes); a class without detections has AP 0; mAP is the mean over
  classes; the average mAP is the mean over thresholds.

A detection whose label never occurs in the subset's ground truth cannot be scored against any class:
the official code stops with a ``KeyError``; here it is an error naming the label and the video, since a
typo in a class name would otherwise silently cost that class its AP. Usage::

    python -m lavis.evaluation.tal --predictions P.json --gt activity_net.v1-3.min.json [--out M.json]
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.reporting import format_table, run_metrics_cli

TIOU_THRESHOLDS: tuple[float, ...] = tuple(float(t) for t in np.linspace(0.5, 0.95, 10))


@dataclass(frozen=True)
class Segment:
    video: str
    start: float
    end: float
    label: str
    score: float = 1.0


def segment_iou(target: tuple[float, float], candidates: np.ndarray) -> np.ndarray:
    """Temporal IoU of one segment with each row ``[start, end]`` of ``candidates``."""
    inter = (np.minimum(target[1], candidates[:, 1]) - np.maximum(target[0], candidates[:, 0])).clip(0)
    union = (candidates[:, 1] - candidates[:, 0]) + (target[1] - target[0]) - inter
    return inter / union


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision / recall curve with precision made monotone from the right."""
    mprec = np.concatenate([[0.0], precision, [0.0]])
    mrec = np.concatenate([[0.0], recall, [1.0]])
    for i in range(len(mprec) - 2, -1, -1):
        mprec[i] = max(mprec[i], mprec[i + 1])
    changed = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[changed] - mrec[changed - 1]) * mprec[changed]))


def class_average_precision(
    ground_truth: Sequence[Segment],
    detections: Sequence[Segment],
    thresholds: Sequence[float] = TIOU_THRESHOLDS,
) -> np.ndarray:
    """AP of one class at each threshold (zeros when there are no detections)."""
    ap = np.zeros(len(thresholds))
    if not detections or not ground_truth:
        return ap
    scores = np.array([d.score for d in detections])
    order = np.argsort(scores, kind="stable")[::-1]
    by_video: dict[str, list[int]] = defaultdict(list)
    for index, segment in enumerate(ground_truth):
        by_video[segment.video].append(index)
    taken = np.full((len(thresholds), len(ground_truth)), -1)
    tp = np.zeros((len(thresholds), len(detections)))
    fp = np.zeros((len(thresholds), len(detections)))
    for rank, det_index in enumerate(order):
        det = detections[det_index]
        gt_indices = by_video.get(det.video)
        if not gt_indices:
            fp[:, rank] = 1
            continue
        bounds = np.array([[ground_truth[j].start, ground_truth[j].end] for j in gt_indices])
        ious = segment_iou((det.start, det.end), bounds)
        best_first = np.argsort(ious, kind="stable")[::-1]
        for t, threshold in enumerate(thresholds):
            for local in best_first:
                if ious[local] < threshold:
                    break
                gt_index = gt_indices[local]
                if taken[t, gt_index] >= 0:
                    continue
                taken[t, gt_index] = rank
                tp[t, rank] = 1
                break
            fp[t, rank] = 1 - tp[t, rank]
    tp_sum, fp_sum = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
    recall = tp_sum / len(ground_truth)
    precision = tp_sum / (tp_sum + fp_sum)
    for t in range(len(thresholds)):
        ap[t] = interpolated_average_precision(precision[t], recall[t])
    return ap


def read_ground_truth(
    database: Mapping[str, Any], subset: str = "validation", source: str = "<gt>"
) -> list[Segment]:
    """Ground-truth segments of one subset from ``activity_net.v1-3.min.json`` (or its ``database``)."""
    database = database.get("database", database)
    segments = []
    for video, entry in database.items():
        if entry.get("subset") != subset:
            continue
        for index, ann in enumerate(entry.get("annotations", [])):
            try:
                start, end = (float(x) for x in ann["segment"])
                segments.append(Segment(video, start, end, str(ann["label"])))
            except (KeyError, TypeError, ValueError) as err:
                raise DataError(
                    f"{source}: {video} annotation {index}: expected 'segment' [s, e] and 'label' ({err})"
                ) from err
    if not segments:
        raise DataError(f"{source}: no annotated video in subset {subset!r}")
    return segments


def read_detections(results: Mapping[str, Any], source: str = "<predictions>") -> list[Segment]:
    """Detections from the official submission format ``{"results": {video: [{label, score, segment}]}}``."""
    if "results" not in results:
        raise DataError(f"{source}: expected a top-level 'results' object")
    detections = []
    for video, items in results["results"].items():
        for index, item in enumerate(items):
            try:
                start, end = (float(x) for x in item["segment"])
                detections.append(Segment(video, start, end, str(item["label"]), float(item["score"])))
            except (KeyError, TypeError, ValueError) as err:
                raise DataError(
                    f"{source}: {video} detection {index}: expected label, score, segment [s, e] ({err})"
                ) from err
    return detections


def evaluate_detection(
    ground_truth: Sequence[Segment],
    detections: Sequence[Segment],
    thresholds: Sequence[float] = TIOU_THRESHOLDS,
    source: str = "<predictions>",
) -> dict[str, Any]:
    """mAP (in percent) at each threshold, their average, and the per-class AP averaged over thresholds."""
    classes = list(dict.fromkeys(segment.label for segment in ground_truth))
    unknown = [d for d in detections if d.label not in set(classes)]
    if unknown:
        raise DataError(
            f"{source}: {len(unknown)} detection(s) with a label absent from the ground truth, "
            f"e.g. {unknown[0].label!r} in video {unknown[0].video}"
        )
    gt_by_class: dict[str, list[Segment]] = defaultdict(list)
    det_by_class: dict[str, list[Segment]] = defaultdict(list)
    for segment in ground_truth:
        gt_by_class[segment.label].append(segment)
    for det in detections:
        det_by_class[det.label].append(det)
    ap = np.stack(
        [class_average_precision(gt_by_class[c], det_by_class[c], thresholds) for c in classes], axis=1
    )
    per_threshold = ap.mean(axis=1)
    metrics: dict[str, Any] = {
        f"mAP@{t:.2f}": round(100 * float(m), 2) for t, m in zip(thresholds, per_threshold)
    }
    metrics["average_mAP"] = round(100 * float(per_threshold.mean()), 2)
    metrics["per_class_AP"] = {c: round(100 * float(ap[:, i].mean()), 2) for i, c in enumerate(classes)}
    return metrics


def format_metrics(metrics: Mapping[str, Any]) -> str:
    return format_table([(name, value) for name, value in metrics.items() if name != "per_class_AP"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lavis.evaluation.tal",
        description="ActivityNet-1.3 detection mAP at tIoU 0.50:0.05:0.95 and the average.",
    )
    parser.add_argument(
        "--predictions", required=True, help='{"results": {video: [{label, score, segment}]}}'
    )
    parser.add_argument("--gt", required=True, help="activity_net.v1-3.min.json")
    parser.add_argument("--subset", default="validation")
    parser.add_argument("--out", help="write the metrics JSON here (atomically)")
    args = parser.parse_args(argv)
    return run_metrics_cli(
        lambda: evaluate_detection(
            read_ground_truth(read_json(args.gt), args.subset, source=args.gt),
            read_detections(read_json(args.predictions), source=args.predictions),
            source=args.predictions,
        ),
        format_metrics,
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
