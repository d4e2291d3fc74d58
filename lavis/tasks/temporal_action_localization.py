"""The ``temporal_action_localization`` task: one "query" per video, the answer lists every action.

The model writes ``[[start, end, 'Label'], ...]`` (Mr. BLIP's format with a class label, ``model.window_labels:
true``); evaluation scores the parsed windows with the ActivityNet detection protocol
(:mod:`lavis.evaluation.tal`: mAP at tIoU 0.50:0.05:0.95 and their average). A generated window's score is its
rank (the first window scores highest), as for moment retrieval. A label that is not a class of the split
(``run.classes``, else the labels of the split's ground truth) can match nothing: such windows are dropped from
the detections and counted in ``unknown_label`` (% of generated windows) rather than failing the evaluation.

``R1@0.5`` is the share of ground-truth actions that their video's first generated window hits with the right
label at tIoU >= 0.5. Per split and tag it writes ``<split>_<tag>_predictions.jsonl``, the detections in the
official submission format (``<split>_<tag>_detections.json``, scored by ``python -m lavis.evaluation.tal``)
and ``<split>_<tag>_metrics.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lavis.common.config import RunConfig
from lavis.common.errors import ConfigError
from lavis.common.io import write_json, write_jsonl
from lavis.common.registry import register_task
from lavis.evaluation.tal import Segment, evaluate_detection, segment_iou
from lavis.tasks.moment_retrieval import MomentRetrievalTask


@dataclass
class TALRunConfig(RunConfig):
    task: str = "temporal_action_localization"
    classes: str | None = (
        None  # classes.txt (lavis-prepare anet_tal): the label set; None: the split's labels
    )


@register_task("temporal_action_localization")
class TemporalActionLocalizationTask(MomentRetrievalTask):
    Config = TALRunConfig
    headline_metrics = ("average_mAP", "mAP@0.50", "mAP@0.75", "R1@0.5", "unknown_label", "invalid")

    def class_names(self, records: list[dict[str, Any]]) -> set[str]:
        if self.run_cfg.classes:
            path = Path(self.run_cfg.classes)
            if not path.is_file():
                raise ConfigError(f"run.classes: class list not found: {path}")
            return {line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()}
        return {str(w[2]) for r in records for w in r["gt_windows"] if len(w) > 2}

    def after_evaluation(
        self, records: list[dict[str, Any]], split: str, tag: str, result_dir: Path
    ) -> dict[str, Any]:
        result_dir = Path(result_dir)
        stem = f"{split}_{tag}"
        write_jsonl(result_dir / f"{stem}_predictions.jsonl", records)
        classes = self.class_names(records)
        ground_truth = [
            Segment(r["vid"], float(w[0]), float(w[1]), str(w[2])) for r in records for w in r["gt_windows"]
        ]
        detections, unknown, generated = [], 0, 0
        for r in records:
            if not r["valid"]:
                continue
            for rank, w in enumerate(r["pred_windows"]):
                generated += 1
                if len(w) < 3 or str(w[2]) not in classes:
                    unknown += 1
                    continue
                detections.append(Segment(r["vid"], float(w[0]), float(w[1]), str(w[2]), 1.0 - 0.001 * rank))
        write_json(result_dir / f"{stem}_detections.json", submission(detections))
        gt_classes = {s.label for s in ground_truth}
        metrics = evaluate_detection(ground_truth, [d for d in detections if d.label in gt_classes])
        metrics["R1@0.5"] = recall_at_1(records, 0.5)
        metrics["unknown_label"] = round(100 * unknown / max(generated, 1), 2)
        metrics["invalid"] = round(100 * sum(not r["valid"] for r in records) / max(len(records), 1), 2)
        write_json(result_dir / f"{stem}_metrics.json", {"summary": metrics, "num_videos": len(records)})
        summary = {k: v for k, v in metrics.items() if k != "per_class_AP"}
        summary["agg_metrics"] = metrics["average_mAP"]
        return summary


def submission(detections: list[Segment]) -> dict[str, Any]:
    """The official ActivityNet detection submission format."""
    results: dict[str, list[dict[str, Any]]] = {}
    for d in detections:
        results.setdefault(d.video, []).append(
            {"label": d.label, "score": round(d.score, 3), "segment": [d.start, d.end]}
        )
    return {"version": "VERSION 1.3", "results": results, "external_data": {"used": False, "details": ""}}


def recall_at_1(records: list[dict[str, Any]], threshold: float) -> float:
    """% of ground-truth actions hit (same label, tIoU >= threshold) by their video's first generated window."""
    hits = total = 0
    for r in records:
        total += len(r["gt_windows"])
        if not r["valid"] or not r["pred_windows"] or len(r["pred_windows"][0]) < 3:
            continue
        start, end, label = r["pred_windows"][0][:3]
        for w in r["gt_windows"]:
            if str(w[2]) == str(label):
                iou = segment_iou((float(w[0]), float(w[1])), np.array([[float(start), float(end)]]))[0]
                hits += int(iou >= threshold)
    return round(100 * hits / max(total, 1), 2)
