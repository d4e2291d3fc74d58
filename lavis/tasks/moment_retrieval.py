"""The ``moment_retrieval`` task: LM loss for training; generate → parse → score for evaluation.

After each evaluation it writes, per split and checkpoint tag:
``<split>_<tag>_predictions.jsonl`` (raw text, parsed windows, ground truth per query),
``<split>_<tag>_submission.jsonl`` (official QVHighlights submission format),
``<split>_<tag>_metrics.json`` and optionally ``<split>_<tag>_windows.png``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from lavis.common.config import RunConfig, one_of
from lavis.common.io import write_json, write_jsonl
from lavis.common.registry import register_task
from lavis.evaluation.moment_retrieval import evaluate_moment_retrieval
from lavis.evaluation.plots import plot_windows
from lavis.tasks.base import BaseTask

logger = logging.getLogger(__name__)
PROTOCOLS = ("mr_blip", "official")
R1_AVG_THRESHOLDS = [f"{0.5 + 0.05 * i:.2f}".rstrip("0").rstrip(".") for i in range(10)]


@dataclass
class MomentRetrievalRunConfig(RunConfig):
    task: str = "moment_retrieval"
    metric_protocol: str = one_of("mr_blip", *PROTOCOLS)  # mr_blip: generation order, + mIoU; official: QVH
    plot_predictions: int = 0  # draw predicted vs true windows of the first N queries into a PNG
    report_whole_video_baseline: bool = True  # also score the trivial "whole video" prediction


@register_task("moment_retrieval")
class MomentRetrievalTask(BaseTask):
    Config = MomentRetrievalRunConfig
    headline_metrics = ("R1@0.3", "R1@0.5", "R1@0.7", "R1-avg", "mIoU", "mAP", "invalid", "baseline_R1@0.5")

    def valid_step(self, model: torch.nn.Module, samples: dict[str, Any]) -> list[dict[str, Any]]:
        outputs = model.predict(samples, self.generation)
        records = []
        for i, out in enumerate(outputs):
            records.append(
                {
                    "index": int(samples["index"][i]),
                    "qid": samples["qid"][i],
                    "vid": samples["vid"][i],
                    "query": samples["query"][i],
                    "duration": float(samples["duration"][i]),
                    "raw_prediction": out["raw"],
                    "prediction": out["text"],
                    "pred_windows": out["windows"],
                    "valid": out["valid"],
                    "rescued": bool(out.get("rescued", False)),
                    "gt_windows": samples["relevant_windows"][i],
                }
            )
        return records

    def score(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        preds = [{"qid": r["qid"], "pred_relevant_windows": _with_scores(r["pred_windows"])} for r in records]
        gts = [{"qid": r["qid"], "relevant_windows": [w[:2] for w in r["gt_windows"]]} for r in records]
        return evaluate_moment_retrieval(preds, gts, protocol=self.run_cfg.metric_protocol)

    def after_evaluation(
        self, records: list[dict[str, Any]], split: str, tag: str, result_dir: Path
    ) -> dict[str, Any]:
        result_dir = Path(result_dir)
        stem = f"{split}_{tag}"
        write_jsonl(result_dir / f"{stem}_predictions.jsonl", records)
        write_jsonl(result_dir / f"{stem}_submission.jsonl", [submission_record(r) for r in records])
        metrics = self.score(records)
        summary = summarize(metrics)
        out: dict[str, Any] = {"summary": summary, "detail": metrics, "num_queries": len(records)}
        if self.run_cfg.report_whole_video_baseline:
            baseline = [dict(r, pred_windows=[[0.0, r["duration"]]]) for r in records]
            out["whole_video_baseline"] = summarize(self.score(baseline))
        write_json(result_dir / f"{stem}_metrics.json", out)
        if self.run_cfg.plot_predictions > 0:
            shown = records[: self.run_cfg.plot_predictions]
            plot_windows(shown, result_dir / f"{stem}_windows.png", title=f"{split} ({tag})")
        summary = dict(summary)
        # answers only the lenient parser could read (the published code scored them as invalid), in %
        summary["rescued"] = round(100 * sum(r.get("rescued", False) for r in records) / max(len(records), 1), 2)
        summary["agg_metrics"] = summary["R1-avg"]
        if "whole_video_baseline" in out:
            summary["baseline_R1@0.5"] = out["whole_video_baseline"]["R1@0.5"]
        return summary


def _with_scores(windows: list[list[Any]]) -> list[list[float]]:
    """Generated windows carry no score: rank order becomes a strictly decreasing score."""
    return [[float(w[0]), float(w[1]), round(1.0 - 0.001 * k, 3)] for k, w in enumerate(windows)]


def submission_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A line of the official QVHighlights submission file (qid back to the official integer id)."""
    qid: Any = rec["qid"]
    match = re.fullmatch(r"QVHighlight_(\d+)", str(qid))
    if match:
        qid = int(match.group(1))
    return {
        "qid": qid,
        "query": rec["query"],
        "vid": rec["vid"],
        "pred_relevant_windows": _with_scores(rec["pred_windows"]),
    }


def summarize(metrics: dict[str, Any]) -> dict[str, float]:
    """Flat headline numbers of the 'full' bucket: R1@θ, R1-avg, mAP@θ, mAP, mIoU, invalid %."""
    full = metrics["full"]
    out: dict[str, float] = {}
    for thr, value in full["MR-R1"].items():
        out[f"R1@{thr}"] = value
    out["R1-avg"] = round(sum(full["MR-R1"][t] for t in R1_AVG_THRESHOLDS) / len(R1_AVG_THRESHOLDS), 2)
    for thr, value in full["MR-mAP"].items():
        out["mAP" if thr == "average" else f"mAP@{thr}"] = value
    for key in ("MR-mIoU", "MR-invalid"):
        if key in full:
            out[key[3:]] = full[key]
    return out
