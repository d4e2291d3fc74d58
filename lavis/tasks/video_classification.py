"""The ``video_classification`` task: classification by generation (MA-LMM on LVU, Breakfast, COIN).

The label is the target text; evaluation generates ``run.generation.num_return_sequences`` beams (MA-LMM:
5 beams, 5 returned) and scores exact string matches with the label after BLIP's text normalisation
(:mod:`lavis.evaluation.open_qa`): **top-1** when the first beam is the label, **top-5** when any of the
first five is; ``agg_metrics`` = top-1 (%). There is no ranking over a closed label set: a beam that is
not a label is simply a miss, as in the original. LVU windows are separate samples, so accuracy is the
mean over windows.

Writes ``<split>_<tag>_predictions.jsonl`` (label, beams) and ``<split>_<tag>_metrics.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from lavis.common.config import RunConfig
from lavis.common.registry import register_task
from lavis.evaluation.open_qa import evaluate_open_qa
from lavis.tasks.base import BaseTask


@dataclass
class VideoClassificationRunConfig(RunConfig):
    task: str = "video_classification"


def score_classification(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Top-1 / top-5 over ``[{"qid", "label", "prediction": beams}]``; ``num_questions`` is named ``num_samples``."""
    metrics = evaluate_open_qa(
        [{"qid": r["qid"], "prediction": r["prediction"]} for r in records],
        [{"qid": r["qid"], "answer": r["label"]} for r in records],
    )
    metrics["num_samples"] = metrics.pop("num_questions")
    return metrics


@register_task("video_classification")
class VideoClassificationTask(BaseTask):
    Config = VideoClassificationRunConfig
    headline_metrics = ("top1", "top5", "num_samples")

    def valid_step(self, model: torch.nn.Module, samples: dict[str, Any]) -> list[dict[str, Any]]:
        outputs = model.predict(samples, self.generation)
        return [
            {
                "index": int(samples["index"][i]),
                "qid": samples["qid"][i],
                "vid": samples["vid"][i],
                "label": samples["answer"][i],
                "prediction": out["candidates"],
            }
            for i, out in enumerate(outputs)
        ]

    def score(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return score_classification(records)
