"""The ``multiple_choice_qa`` task: pick one of the options; accuracy per benchmark, grounding when annotated.

Train step: the model's loss (what it learns is the model's business: SeViLA's ``mode``). Eval step:
``model.predict`` gives per question the chosen option index (``prediction``) and, for a keyframe model,
the times of the frames it read (``keyframe_times``). Scoring uses :mod:`lavis.evaluation.mc_qa` with the
benchmark the dataset names (``benchmark``: NExT-QA per type C / T / D, STAR overall, ...) and, when the
records carry evidence windows (NExT-GQA), :mod:`lavis.evaluation.grounding` on the keyframe span.

Writes ``<split>_<tag>_predictions.jsonl`` (every record), ``<split>_<tag>_results.json`` in the NExT-QA
results format (``{"<video>_<qid>": {"prediction": i, "answer": j}}`` for NExT-QA; qid-keyed otherwise), which
``python -m lavis.evaluation.mc_qa`` scores again, and ``<split>_<tag>_metrics.json``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lavis.common.config import RunConfig
from lavis.common.errors import DataError
from lavis.common.io import write_json, write_jsonl
from lavis.common.registry import register_task
from lavis.evaluation.grounding import evaluate_grounding
from lavis.evaluation.mc_qa import evaluate_mc_qa, nextqa_key
from lavis.tasks.base import BaseTask


@dataclass
class MultipleChoiceQARunConfig(RunConfig):
    task: str = "multiple_choice_qa"
    grounding: bool = True  # NExT-GQA metrics from the keyframe span when the records have evidence windows


@register_task("multiple_choice_qa")
class MultipleChoiceQATask(BaseTask):
    Config = MultipleChoiceQARunConfig
    headline_metrics = (
        "Acc@C",
        "Acc@T",
        "Acc@D",
        "Acc",
        "Acc-type-mean",
        "Acc-oracle",
        "mIoP",
        "IoP@0.5",
        "mIoU",
        "Acc@GQA",
    )

    def valid_step(self, model: torch.nn.Module, samples: dict[str, Any]) -> list[dict[str, Any]]:
        outputs = model.predict(samples, self.generation)
        records = []
        for i, out in enumerate(outputs):
            rec = {
                "index": int(samples["index"][i]),
                "qid": samples["qid"][i],
                "vid": samples["vid"][i],
                "benchmark": samples["benchmark"][i],
                "type": samples["type"][i],
                "question": samples["question"][i],
                "answer": int(samples["answer"][i]),
                "prediction": int(out["prediction"]),
            }
            for key in ("frame_idx", "keyframe_times", "frame_predictions"):
                if key in out:
                    rec[key] = out[key]
            if "relevant_windows" in samples:
                rec["relevant_windows"] = samples["relevant_windows"][i]
                rec["duration"] = float(samples["duration"][i])
            records.append(rec)
        return records

    def after_evaluation(
        self, records: list[dict[str, Any]], split: str, tag: str, result_dir: Path
    ) -> dict[str, Any]:
        stem = f"{split}_{tag}"
        result_dir = Path(result_dir)
        write_jsonl(result_dir / f"{stem}_predictions.jsonl", records)
        benchmarks = sorted({r["benchmark"] for r in records})
        if len(benchmarks) != 1:
            raise DataError(
                f"{split}: one evaluation set mixes benchmarks {benchmarks}; evaluate them separately"
            )
        benchmark = benchmarks[0]
        annotations = [{"qid": r["qid"], "answer": r["answer"], "type": r["type"]} for r in records]
        metrics = evaluate_mc_qa(
            records, annotations, benchmark, sources=(f"{split} predictions", f"{split} records")
        )
        write_json(result_dir / f"{stem}_results.json", results_file(records, benchmark))
        if records and all("frame_predictions" in r for r in records):
            # voting models: the oracle is right when any single frame was (SeViLA paper, Table 9)
            hits = sum(any(p == r["answer"] for p in r["frame_predictions"]) for r in records)
            metrics["Acc-oracle"] = round(100.0 * hits / len(records), 2)
        if self.run_cfg.grounding and records and all("relevant_windows" in r for r in records):
            metrics.update(grounding_metrics(records))
        write_json(result_dir / f"{stem}_metrics.json", metrics)
        return metrics


def results_file(records: list[dict[str, Any]], benchmark: str) -> dict[str, dict[str, int]]:
    """``{key: {"prediction", "answer"}}``; NExT-QA keys are ``<video>_<qid>`` as its own evaluation expects."""
    out: dict[str, dict[str, int]] = OrderedDict()
    for r in records:
        key = nextqa_key(r["qid"]) if benchmark == "nextqa" else str(r["qid"])
        out[key] = {"prediction": r["prediction"], "answer": r["answer"]}
    return out


def grounding_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """NExT-GQA metrics of the keyframe spans (first to last keyframe time) and the answers."""
    missing = [r["qid"] for r in records if not r.get("keyframe_times")]
    if missing:
        raise DataError(
            f"{len(missing)} grounded question(s) have no keyframe times from the model (e.g. {missing[:3]}); "
            "grounding needs a model that reports the frames it read (set run.grounding: false to skip)"
        )
    spans = {
        r["qid"]: {"location": r["keyframe_times"], "prediction": r["prediction"], "answer": r["answer"]}
        for r in records
    }
    truth = [
        {
            "qid": r["qid"],
            "relevant_windows": r["relevant_windows"],
            "duration": r["duration"],
            "answer": r["answer"],
        }
        for r in records
    ]
    metrics = evaluate_grounding(spans, truth)
    metrics["grounded_questions"] = metrics.pop("num_questions")
    return metrics
