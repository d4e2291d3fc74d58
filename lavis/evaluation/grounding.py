"""NExT-GQA grounded-QA metrics: is the answer right, and is it right for the right reason?

Definitions follow NExT-GQA's ``eval_ground.py`` (re-implemented here, not copied):

* A model gives **one span** ``[start, end]`` (seconds) per question. Keyframe models (SeViLA) give the
  times of their selected keyframes; NExT-GQA turns them into the span from the first to the last one,
  which here is ``[min, max]`` (the same thing for SeViLA's sorted keyframes).
* **IoP** (intersection over prediction) = |pred ∩ GT| / |pred|: how much of what the model looked at is
  evidence. It is the metric the benchmark is built on, because answering from a short span inside the
  evidence is fine while IoU would punish it. **IoU** = |pred ∩ GT| / |pred ∪ GT| (the convex hull, as
  in the official code; it only differs from the union when they are disjoint and the IoU is 0 anyway).
* A zero-length prediction (one keyframe) has IoU 0 and IoP 1 if it lies inside the GT window
  (ends included), else 0.
* A question may have several GT windows (``gsub``); IoP and IoU are each the maximum over the windows,
  possibly from different windows.
* mIoP / mIoU are means x 100; IoP@θ / IoU@θ the percent of questions with a value >= θ (θ = 0.3, 0.5).
  **Acc@QA** is the percent of questions answered correctly and **Acc@GQA** the percent answered
  correctly *and* with IoP >= 0.5. All are rounded to two decimals (the official script prints one).
* ``relative=True`` is the official path for models that predict fractions of the video (Gaussian
  masks): the span is multiplied by the duration and rounded to 0.1 s.

Where this differs from the official script, it is to fail loudly: a grounded question without a
prediction is an error (the script skips it, which shrinks the test set), and so is a question without
a QA prediction when QA predictions are given (the script would raise a KeyError). Predictions for
questions outside the grounded set are an error by default; NExT-GQA is a subset of NExT-QA (no
descriptive questions, no questions about the whole video), so a model run on all of NExT-QA passes
``ignore_extra=True`` and the number left out is reported as ``ignored_predictions``. Usage::

    python -m lavis.evaluation.grounding --ground-truth gsub_val.json --predictions val_ground.json \\
        [--qa val-res.json] [--relative] [--ignore-extra] [--out METRICS.json]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.mc_qa import Prediction, nextqa_key, parse_predictions
from lavis.evaluation.moment_retrieval import format_examples, is_finite_number, round2
from lavis.evaluation.reporting import format_table, run_metrics_cli

THRESHOLDS = (0.3, 0.5)
GQA_IOP_THRESHOLD = 0.5
METRIC_NAMES = ("Acc@QA", "Acc@GQA", "mIoP", "IoP@0.3", "IoP@0.5", "mIoU", "IoU@0.3", "IoU@0.5")


@dataclass(frozen=True)
class GroundTruth:
    windows: tuple[tuple[float, float], ...]
    duration: float | None
    answer: int | None  # prepared records carry it; gsub files do not (the QA predictions do)


# --------------------------------------------------------------------------------------------------
# Overlap of one predicted span with one GT window


def span_overlap(pred: tuple[float, float], gt: tuple[float, float]) -> tuple[float, float]:
    """``(IoU, IoP)`` of a predicted span and one GT window, by NExT-GQA's definitions.

    The arithmetic is the official one (intersection = min(ends) - max(starts), union = the hull), so
    a value sitting exactly on a threshold falls on the same side.
    """
    (ps, pe), (gs, ge) = pred, gt
    if ps == pe:  # a single keyframe: it is either inside the evidence or not
        return 0.0, (1.0 if gs <= ps <= ge else 0.0)
    inter = min(pe, ge) - max(ps, gs)
    if inter <= 0:
        return 0.0, 0.0
    return inter / (max(pe, ge) - min(ps, gs)), inter / (pe - ps)


def best_overlap(pred: tuple[float, float], windows: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Max IoU and max IoP over the GT windows (each maximised on its own)."""
    pairs = [span_overlap(pred, window) for window in windows]
    return max(0.0, *(iou for iou, _ in pairs)), max(0.0, *(iop for _, iop in pairs))


# --------------------------------------------------------------------------------------------------
# Inputs


def _window(value: Any, where: str) -> tuple[float, float]:
    ok = isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_finite_number, value))
    if not ok:
        raise DataError(f"{where}: expected a window [start, end] in seconds, got {value!r}")
    if value[1] < value[0]:
        raise DataError(f"{where}: window {list(value)!r} ends before it starts")
    return float(value[0]), float(value[1])


def _duration(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if not is_finite_number(value) or value <= 0:
        raise DataError(f"{where}: 'duration' must be a positive number, got {value!r}")
    return float(value)


def ground_truth_from_gsub(gsub: Mapping[str, Any], source: str = "ground truth") -> dict[str, GroundTruth]:
    """``gsub_{val,test}.json`` (``{video: {"duration", "location": {qid: [[s, e], ...]}}}``), keyed
    ``<video>_<qid>`` in file order (the order the official script averages in)."""
    out: dict[str, GroundTruth] = {}
    for video, entry in gsub.items():
        where = f"{source}: video {video!r}"
        if not isinstance(entry, Mapping) or not isinstance(entry.get("location"), Mapping):
            raise DataError(f"{where}: expected an object with a 'location' object")
        duration = _duration(entry.get("duration"), where)
        for qid, windows in entry["location"].items():
            at = f"{where} question {qid!r}"
            if not isinstance(windows, list) or not windows:
                raise DataError(f"{at}: expected a non-empty list of windows, got {windows!r}")
            spans = tuple(_window(w, f"{at} window #{i}") for i, w in enumerate(windows))
            out[f"{video}_{qid}"] = GroundTruth(spans, duration, None)
    return out


def ground_truth_from_records(records: Sequence[Any], source: str = "ground truth") -> dict[str, GroundTruth]:
    """Prepared NExT-GQA records (``lavis-prepare nextgqa``: qid ``<type>_<video>_<qid>``,
    ``relevant_windows``, ``duration``, ``answer``). Use the ``*_float.json`` files: the integer ones
    round the windows. The preparation clamps windows to [0, duration], so a few values differ from gsub."""
    out: dict[str, GroundTruth] = {}
    for i, record in enumerate(records):
        where = f"{source}: record #{i}"
        if not isinstance(record, Mapping) or not isinstance(record.get("qid"), str):
            raise DataError(f"{where} is not an object with a text 'qid': {str(record)[:120]}")
        where = f"{where} (qid {record['qid']!r})"
        windows = record.get("relevant_windows")
        if not isinstance(windows, list) or not windows:
            raise DataError(f"{where}: 'relevant_windows' must be a non-empty list of windows")
        answer = record.get("answer")
        if answer is not None and (isinstance(answer, bool) or not isinstance(answer, int)):
            raise DataError(f"{where}: 'answer' must be an option index, got {answer!r}")
        key = nextqa_key(record["qid"])
        if key in out:
            raise DataError(f"{where}: question {key!r} is listed twice")
        spans = tuple(_window(w, f"{where} relevant_windows[{j}]") for j, w in enumerate(windows))
        out[key] = GroundTruth(spans, _duration(record.get("duration"), where), answer)
    return out


def ground_truth_from_json(data: Any, source: str = "ground truth") -> dict[str, GroundTruth]:
    """A gsub object or a list of prepared records, told apart by their JSON type."""
    if isinstance(data, Mapping):
        return ground_truth_from_gsub(data, source)
    if isinstance(data, list):
        return ground_truth_from_records(data, source)
    raise DataError(f"{source}: expected a gsub object or a list of prepared records")


def parse_spans(
    predictions: Any, source: str = "predictions"
) -> tuple[dict[str, tuple[float, float]], dict[str, Any]]:
    """``{key: [start, end]}`` (NExT-GQA's ``*_ground.json``) or ``{key: {"location": [t, ...], ...}}``
    (keyframe times, SeViLA; such a value may also carry ``prediction`` / ``answer``).

    Returns the spans and the embedded QA fields (``{key: {"prediction", "answer"?}}``, empty when none).
    """
    if not isinstance(predictions, Mapping):
        raise DataError(f"{source}: expected an object keyed by '<video>_<qid>'")
    spans: dict[str, tuple[float, float]] = {}
    embedded_qa: dict[str, Any] = {}
    for raw_key, value in predictions.items():
        where = f"{source}: key {raw_key!r}"
        key = nextqa_key(str(raw_key))
        if key in spans:
            raise DataError(f"{where}: question {key!r} is predicted twice")
        if isinstance(value, Mapping):
            times = value.get("location")
            if not isinstance(times, list) or not times or not all(map(is_finite_number, times)):
                raise DataError(
                    f"{where}: 'location' must be a non-empty list of keyframe times, got {times!r}"
                )
            spans[key] = (float(min(times)), float(max(times)))
            if "prediction" in value:
                embedded_qa[key] = {k: value[k] for k in ("prediction", "answer") if k in value}
        else:
            spans[key] = _window(value, where)
    if embedded_qa and len(embedded_qa) != len(spans):
        missing = set(spans) - set(embedded_qa)
        raise DataError(
            f"{source}: {len(missing)} record(s) carry no 'prediction' while others do: {format_examples(missing)}"
        )
    return spans, embedded_qa


# --------------------------------------------------------------------------------------------------
# Matching


def _check_coverage(
    predicted: set[str], truth: Mapping[str, Any], what: str, ignore_extra: bool, source: str
) -> int:
    """Every grounded question needs a prediction; returns the number of ignored extra predictions."""
    missing = [key for key in truth if key not in predicted]
    if missing:
        raise DataError(
            f"{source}: {len(missing)} of {len(truth)} grounded question(s) have no {what} "
            f"(e.g. {format_examples(missing)})"
        )
    extra = predicted - set(truth)
    if extra and not ignore_extra:
        raise DataError(
            f"{source}: {len(extra)} {what}(s) are for questions not in the grounding annotations "
            f"(e.g. {format_examples(extra)}); if they cover all of NExT-QA, pass ignore_extra=True "
            "(--ignore-extra) to score the grounded subset only"
        )
    return len(extra)


def qa_correctness(
    qa: Mapping[str, Prediction], truth: Mapping[str, GroundTruth], source: str = "QA predictions"
) -> dict[str, bool]:
    """Correct or not per grounded question. The answer comes from the annotation when it has one
    (prepared records) and otherwise from the QA result file (gsub has none), as in the official code."""
    out, unanswerable, disagree = {}, [], []
    for key, gt in truth.items():
        pred = qa[key]
        if gt.answer is not None and pred.answer is not None and gt.answer != pred.answer:
            disagree.append(key)
        answer = gt.answer if gt.answer is not None else pred.answer
        if answer is None:
            unanswerable.append(key)
        out[key] = pred.prediction == answer
    if unanswerable:
        raise DataError(
            f"{source}: {len(unanswerable)} question(s) have no answer to check against, neither in the "
            f"ground truth nor as 'answer' in the prediction (e.g. {format_examples(unanswerable)})"
        )
    if disagree:
        raise DataError(
            f"{source}: {len(disagree)} prediction(s) carry an 'answer' that differs from the annotation "
            f"(e.g. {format_examples(disagree)}); are they from the same split?"
        )
    return out


# --------------------------------------------------------------------------------------------------
# Metrics


def _percent_at(values: Sequence[float], threshold: float) -> float:
    return round2(sum(v >= threshold for v in values) * 1.0 / len(values) * 100)


def evaluate_grounding(
    predictions: Any,
    ground_truth: Any,
    qa_predictions: Any = None,
    relative: bool = False,
    ignore_extra: bool = False,
    sources: tuple[str, str, str] = ("predictions", "ground truth", "QA predictions"),
) -> dict[str, Any]:
    """NExT-GQA metrics for one span per grounded question.

    ``predictions``: see :func:`parse_spans`; ``ground_truth``: a gsub object or prepared records (see
    :func:`ground_truth_from_json`); ``qa_predictions``: NExT-QA-format results (see
    :func:`lavis.evaluation.mc_qa.parse_predictions`) unless the span file embeds them. Without any QA
    predictions Acc@QA and Acc@GQA are ``None``. ``sources`` name the inputs in error messages.
    Returns :data:`METRIC_NAMES` (percent), ``num_questions`` and ``ignored_predictions``.
    """
    truth = ground_truth_from_json(ground_truth, sources[1])
    if not truth:
        raise DataError(f"{sources[1]}: no grounded questions")
    spans, embedded_qa = parse_spans(predictions, sources[0])
    ignored = _check_coverage(set(spans), truth, "span prediction", ignore_extra, sources[0])

    if qa_predictions is not None and embedded_qa:
        raise DataError(f"{sources[0]} carries QA predictions and {sources[2]} were given too; give one")
    qa_source = sources[2] if qa_predictions is not None else sources[0]
    correct: dict[str, bool] | None = None
    if qa_predictions is not None or embedded_qa:
        qa = parse_predictions(
            qa_predictions if qa_predictions is not None else embedded_qa, "nextqa", qa_source
        )
        _check_coverage(set(qa), truth, "QA prediction", ignore_extra, qa_source)
        correct = qa_correctness(qa, truth, qa_source)

    ious, iops = [], []
    for key, gt in truth.items():
        span = spans[key]
        if relative:
            if gt.duration is None:
                raise DataError(f"{sources[1]}: question {key!r} has no duration to scale a relative span by")
            start, end = np.round(np.asarray(span) * gt.duration, 1)
            span = (float(start), float(end))
        iou, iop = best_overlap(span, gt.windows)
        ious.append(iou)
        iops.append(iop)

    n = len(truth)
    metrics: dict[str, Any] = {"Acc@QA": None, "Acc@GQA": None}
    if correct is not None:
        metrics["Acc@QA"] = round2(sum(correct.values()) * 1.0 / n * 100)
        grounded_hits = sum(correct[key] and iop >= GQA_IOP_THRESHOLD for key, iop in zip(truth, iops))
        metrics["Acc@GQA"] = round2(grounded_hits * 1.0 / n * 100)
    metrics["mIoP"] = round2(sum(iops) / n * 100)
    metrics.update({f"IoP@{t}": _percent_at(iops, t) for t in THRESHOLDS})
    metrics["mIoU"] = round2(sum(ious) / n * 100)
    metrics.update({f"IoU@{t}": _percent_at(ious, t) for t in THRESHOLDS})
    metrics["num_questions"] = n
    metrics["ignored_predictions"] = ignored
    return metrics


def format_metrics(metrics: Mapping[str, Any]) -> str:
    rows: list[tuple[str, float | int | None]] = [(name, metrics[name]) for name in METRIC_NAMES]
    rows += [("questions", metrics["num_questions"]), ("ignored predictions", metrics["ignored_predictions"])]
    return format_table(rows)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lavis.evaluation.grounding",
        description="NExT-GQA grounded QA: Acc@QA, Acc@GQA, mIoP, IoP@0.3/0.5, mIoU, IoU@0.3/0.5.",
    )
    parser.add_argument(
        "--ground-truth",
        required=True,
        help="gsub_{val,test}.json or prepared NExT-GQA records (*_float.json)",
    )
    parser.add_argument(
        "--predictions",
        required=True,
        help='{"<video>_<qid>": [start, end]} or {"<video>_<qid>": {"location": [keyframe times], ...}}',
    )
    parser.add_argument("--qa", help='QA results {"<video>_<qid>": {"prediction": i, "answer": j}}')
    parser.add_argument("--relative", action="store_true", help="spans are fractions of the video duration")
    parser.add_argument(
        "--ignore-extra",
        action="store_true",
        help="score only grounded questions when predictions cover more",
    )
    parser.add_argument("--out", help="write the metrics JSON here (atomically)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    return run_metrics_cli(
        lambda: evaluate_grounding(
            read_json(args.predictions),
            read_json(args.ground_truth),
            read_json(args.qa) if args.qa else None,
            relative=args.relative,
            ignore_extra=args.ignore_extra,
            sources=(args.predictions, args.ground_truth, args.qa or "QA predictions"),
        ),
        format_metrics,
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
