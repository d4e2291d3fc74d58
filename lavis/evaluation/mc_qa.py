"""Multiple-choice video QA accuracy: NExT-QA, STAR, How2QA, TVQA, VLEP.

Every number is (questions whose predicted option index equals the answer) / (questions), in percent
with two decimals. The datasets differ only in how questions are grouped:

* **NExT-QA**, as the official ``eval_mc.py`` does it: counts are pooled (not averaged) by the first
  letter of the question type, Acc@C = CW + CH (causal), Acc@T = TN + TC + TP (temporal),
  Acc@D = DL + DC + DO (descriptive), and Acc pools everything. Its per-type table merges TP into TN
  ("Bef&Aft"); ``per_type`` lists every code, with counts, so that column is TN + TP.
* **STAR**: the headline ``Acc`` is the accuracy over all questions. SeViLA's code reports the mean of
  the four type accuracies instead (Interaction, Sequence, Prediction, Feasibility, read from the qid
  prefix); it is here as ``Acc-type-mean`` so a SeViLA figure can be checked, but it is a different
  number: it weighs a small type as much as a large one.
* **How2QA, TVQA, VLEP**: overall accuracy.

Question identity: NExT-QA result files are keyed ``<video>_<qid>``, prepared records (ours and
SeViLA's) carry ``<type>_<video>_<qid>``; both spellings are accepted on either side and matched on
``<video>_<qid>``. Other datasets match qids as they are.

Completeness: a question without a prediction is an error, not a wrong answer (a crashed rank or a
filtered file would otherwise give a plausible, meaningless accuracy), and so is a prediction for a
question that is not annotated (the wrong split). When a prediction carries its own ``answer`` (the
NExT-QA results format does) it must agree with the annotation: if it does not, the files do not
belong together. Usage::

    python -m lavis.evaluation.mc_qa --dataset nextqa --predictions PRED.json --annotations val.csv
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.moment_retrieval import check_matching_qids, format_examples, round2
from lavis.evaluation.reporting import format_table, run_metrics_cli

DATASETS = ("nextqa", "star", "how2qa", "tvqa", "vlep")
NEXTQA_GROUPS: dict[str, tuple[str, ...]] = {
    "C": ("CW", "CH"),
    "T": ("TN", "TC", "TP"),
    "D": ("DL", "DC", "DO"),
}
NEXTQA_TYPES: tuple[str, ...] = tuple(code for codes in NEXTQA_GROUPS.values() for code in codes)
STAR_TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")
TYPES: dict[str, tuple[str, ...]] = {"nextqa": NEXTQA_TYPES, "star": STAR_TYPES}


@dataclass(frozen=True)
class Question:
    answer: int
    qtype: str | None  # None for datasets without question types


@dataclass(frozen=True)
class Prediction:
    prediction: int
    answer: int | None  # the answer the result file carries, if any (checked against the annotation)


def nextqa_key(qid: str) -> str:
    """``CW_4882821564_1`` -> ``4882821564_1`` (the official key); other strings are returned as they are."""
    head, sep, rest = qid.partition("_")
    return rest if sep and head in NEXTQA_TYPES and "_" in rest else qid


def question_key(qid: Any, dataset: str) -> str:
    text = str(qid)
    return nextqa_key(text) if dataset == "nextqa" else text


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"unknown multiple-choice QA dataset {dataset!r}; expected one of {DATASETS}")


def _option_index(value: Any, what: str) -> int:
    """An option index is an int; JSON true/false and numeric strings are refused rather than guessed."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{what} must be an option index (an integer), got {value!r}")
    return value


def _usable_qid(qid: Any, where: str) -> str:
    if isinstance(qid, bool) or not isinstance(qid, (str, int)) or qid == "":
        raise DataError(f"{where}: unusable qid {qid!r} (expected text or an integer)")
    return str(qid)


def question_type(dataset: str, qid: str, record_type: Any, where: str) -> str | None:
    """NExT-QA: the record's ``type`` or the qid prefix; STAR: the qid prefix; others: no type."""
    if dataset == "nextqa":
        qtype = record_type if record_type is not None else qid.partition("_")[0]
        if qtype not in NEXTQA_TYPES:
            raise DataError(
                f"{where}: no NExT-QA question type (one of {', '.join(NEXTQA_TYPES)}) in 'type' "
                f"({record_type!r}) or in the qid prefix ({qid!r})"
            )
        return qtype
    if dataset == "star":
        qtype = qid.partition("_")[0]
        if qtype not in STAR_TYPES:
            raise DataError(
                f"{where}: STAR qids start with the question type ({', '.join(STAR_TYPES)}), got {qid!r}"
            )
        return qtype
    return None


# --------------------------------------------------------------------------------------------------
# Inputs


def read_nextqa_csv(path: str | Path) -> list[dict[str, Any]]:
    """The official NExT-QA csv (video, ..., answer, qid, type, a0..a4) as ``{"qid", "answer", "type"}``
    records keyed like the official evaluation (``<video>_<qid>``); errors name ``file:line``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"File not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        video_column = "video" if "video" in columns else "video_id"
        missing = [c for c in (video_column, "qid", "type", "answer") if c not in columns]
        if missing:
            raise DataError(f"{path}: missing column(s) {', '.join(missing)}; header is {columns}")
        records = []
        for row in reader:
            where = f"{path}:{reader.line_num}"
            video, qid, answer = (row[c].strip() for c in (video_column, "qid", "answer"))
            if not video or not qid:
                raise DataError(f"{where}: empty {video_column} or qid")
            try:
                index = int(answer)
            except ValueError:
                raise DataError(
                    f"{where}: answer {answer!r} is not an option index; NExT-GQA csv files give the answer "
                    "text: prepare them with `lavis-prepare nextgqa` and pass the JSON instead"
                ) from None
            records.append({"qid": f"{video}_{qid}", "answer": index, "type": row["type"].strip()})
    return records


def read_annotations(path: str | Path, dataset: str) -> list[Any]:
    """The official NExT-QA ``.csv`` or a prepared ``.json`` list of ``{"qid", "answer", ...}`` records."""
    _check_dataset(dataset)
    if Path(path).suffix == ".csv":
        if dataset != "nextqa":
            raise DataError(
                f"{path}: csv annotations are read for nextqa only; give the prepared JSON for {dataset}"
            )
        return read_nextqa_csv(path)
    return read_json(path)


def questions_from_records(records: Any, dataset: str, source: str = "annotations") -> dict[str, Question]:
    """Key -> :class:`Question` from ``{"qid", "answer", "type"?}`` records (prepared or from a csv)."""
    _check_dataset(dataset)
    if not isinstance(records, list):
        raise DataError(f"{source}: expected a list of question records, got {type(records).__name__}")
    out: dict[str, Question] = {}
    duplicates = set()
    for i, record in enumerate(records):
        where = f"{source}: record #{i}"
        if not isinstance(record, Mapping) or "qid" not in record:
            raise DataError(f"{where} is not an object with a 'qid' field: {str(record)[:120]}")
        qid = _usable_qid(record["qid"], where)
        where = f"{where} (qid {qid!r})"
        if "answer" not in record:
            raise DataError(f"{where}: missing field 'answer'")
        answer = _option_index(record["answer"], f"{where}: 'answer'")
        if answer < 0:
            raise DataError(f"{where}: 'answer' must be >= 0, got {answer}")
        key = question_key(qid, dataset)
        if key in out:
            duplicates.add(key)
        out[key] = Question(answer, question_type(dataset, qid, record.get("type"), where))
    if duplicates:
        raise DataError(
            f"{source}: {len(duplicates)} question(s) listed twice: {format_examples(duplicates)}"
        )
    return out


def parse_predictions(predictions: Any, dataset: str, source: str = "predictions") -> dict[str, Prediction]:
    """``{key: {"prediction": i, "answer"?: j}}`` (the NExT-QA results format; a bare ``i`` is accepted
    too) or ``[{"qid", "prediction", "answer"?}, ...]``; keys are matched like question keys."""
    _check_dataset(dataset)
    if isinstance(predictions, Mapping):
        items = [(f"{source}: key {k!r}", k, v) for k, v in predictions.items()]
    elif isinstance(predictions, list):
        items = []
        for i, record in enumerate(predictions):
            if not isinstance(record, Mapping) or "qid" not in record:
                raise DataError(
                    f"{source}: record #{i} is not an object with a 'qid' field: {str(record)[:120]}"
                )
            items.append((f"{source}: record #{i} (qid {record['qid']!r})", record["qid"], record))
    else:
        raise DataError(f"{source}: expected an object keyed by question or a list of records")
    out: dict[str, Prediction] = {}
    duplicates = set()
    for where, qid, value in items:
        key = question_key(_usable_qid(qid, where), dataset)
        if isinstance(value, Mapping):
            if "prediction" not in value:
                raise DataError(f"{where}: missing field 'prediction'")
            prediction = _option_index(value["prediction"], f"{where}: 'prediction'")
            answer = _option_index(value["answer"], f"{where}: 'answer'") if "answer" in value else None
        else:
            prediction, answer = _option_index(value, f"{where}: the prediction"), None
        if key in out:
            duplicates.add(key)
        out[key] = Prediction(prediction, answer)
    if duplicates:
        raise DataError(
            f"{source}: {len(duplicates)} question(s) predicted twice (e.g. as '<type>_<video>_<qid>' and "
            f"'<video>_<qid>'): {format_examples(duplicates)}"
        )
    return out


def match_predictions(
    predictions: Mapping[str, Prediction],
    questions: Mapping[str, Question],
    sources: tuple[str, str] = ("predictions", "annotations"),
) -> dict[str, bool]:
    """Key -> correct, in annotation order, after checking coverage and answer agreement."""
    try:
        check_matching_qids(predictions, questions, noun="question")
    except DataError as err:
        raise DataError(f"{sources[0]} vs {sources[1]}: {err}") from None
    disagree = [
        key
        for key, question in questions.items()
        if predictions[key].answer is not None and predictions[key].answer != question.answer
    ]
    if disagree:
        raise DataError(
            f"{sources[0]} vs {sources[1]}: {len(disagree)} of {len(questions)} prediction(s) carry an "
            f"'answer' that differs from the annotation (e.g. {format_examples(disagree)}); "
            "are they from the same dataset and split?"
        )
    return {key: predictions[key].prediction == question.answer for key, question in questions.items()}


# --------------------------------------------------------------------------------------------------
# Metrics


def accuracy(correct: int, total: int) -> float | None:
    """Percent with two decimals (``None`` for an empty group), computed as NExT-QA's eval_mc.py does."""
    return round2(correct * 100.0 / total) if total else None


def evaluate_mc_qa(
    predictions: Any,
    annotations: Any,
    dataset: str,
    sources: tuple[str, str] = ("predictions", "annotations"),
) -> dict[str, Any]:
    """Score predicted option indices against annotated answers.

    ``predictions``: see :func:`parse_predictions`; ``annotations``: a list of ``{"qid", "answer",
    "type"?}`` records (prepared JSON, or :func:`read_nextqa_csv`). ``sources`` name the two inputs in
    error messages (the CLI passes the file paths). Returns the headline accuracies first (nextqa:
    Acc@C, Acc@T, Acc@D, Acc; star: Acc, Acc-type-mean; others: Acc), then ``agg_metrics`` (= Acc),
    ``per_type`` (nextqa, star: ``{type: {"Acc", "correct", "total"}}``), ``num_questions``, ``correct``.
    """
    _check_dataset(dataset)
    questions = questions_from_records(annotations, dataset, sources[1])
    if not questions:
        raise DataError(f"{sources[1]}: no questions to score")
    correct = match_predictions(parse_predictions(predictions, dataset, sources[0]), questions, sources)

    per_type: dict[str, dict[str, Any]] = {}
    for qtype in TYPES.get(dataset, ()):
        keys = [key for key, q in questions.items() if q.qtype == qtype]
        if keys:
            hits = sum(correct[key] for key in keys)
            per_type[qtype] = {"Acc": accuracy(hits, len(keys)), "correct": hits, "total": len(keys)}
    total_correct = sum(correct.values())
    overall = accuracy(total_correct, len(questions))

    metrics: dict[str, Any] = {}
    if dataset == "nextqa":
        for group, codes in NEXTQA_GROUPS.items():
            hits = sum(per_type[c]["correct"] for c in codes if c in per_type)
            metrics[f"Acc@{group}"] = accuracy(
                hits, sum(per_type[c]["total"] for c in codes if c in per_type)
            )
        metrics["Acc"] = overall
    elif dataset == "star":
        metrics["Acc"] = overall
        type_means = [per_type[t]["correct"] * 100.0 / per_type[t]["total"] for t in per_type]
        metrics["Acc-type-mean"] = round2(sum(type_means) / len(type_means))
    else:
        metrics["Acc"] = overall
    metrics["agg_metrics"] = overall
    if per_type:
        metrics["per_type"] = per_type
    metrics["num_questions"] = len(questions)
    metrics["correct"] = total_correct
    return metrics


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """Headline accuracies, then one row per question type with its size."""
    rows: list[tuple[str, float | int | None]] = [
        (name, value) for name, value in metrics.items() if name.startswith("Acc")
    ]
    rows += [(f"Acc@{t} (n={v['total']})", v["Acc"]) for t, v in metrics.get("per_type", {}).items()]
    rows.append(("questions", metrics["num_questions"]))
    return format_table(rows)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m lavis.evaluation.mc_qa",
        description="Multiple-choice video QA accuracy (NExT-QA Acc@C/T/D, STAR, How2QA, TVQA, VLEP).",
    )
    parser.add_argument("--dataset", required=True, choices=DATASETS)
    parser.add_argument(
        "--predictions",
        required=True,
        help='JSON: {"<video>_<qid>": {"prediction": i, "answer": j}} or [{"qid", "prediction"}, ...]',
    )
    parser.add_argument(
        "--annotations", required=True, help="the official NExT-QA csv (val.csv) or a prepared JSON list"
    )
    parser.add_argument("--out", help="write the metrics JSON here (atomically)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    return run_metrics_cli(
        lambda: evaluate_mc_qa(
            read_json(args.predictions),
            read_annotations(args.annotations, args.dataset),
            args.dataset,
            sources=(args.predictions, args.annotations),
        ),
        format_metrics,
        args.out,
    )


if __name__ == "__main__":
    raise SystemExit(main())
