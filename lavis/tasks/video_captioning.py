"""The ``video_captioning`` task: MA-LMM on MSRVTT, MSVD and YouCook2.

Train step: the LM loss of one reference caption. Eval step: one generated caption per video (MA-LMM:
5 beams, 1 returned; max 50 new tokens, 30 and at least 2 for YouCook2) scored against every reference of
the video by pycocoevalcap (:mod:`lavis.evaluation.captioning`: its PTB tokenizer, BLEU-1..4, METEOR,
ROUGE-L, CIDEr; Java is required and its absence is a named error). ``agg_metrics`` = CIDEr + BLEU-4 +
METEOR + ROUGE-L, as the original. Predictions of one video gathered twice (padded distributed batches)
are kept once.

Writes ``<split>_<tag>_predictions.jsonl`` (``image_id``, ``caption``, the references) and
``<split>_<tag>_metrics.json``.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import torch

from lavis.common.config import RunConfig
from lavis.common.registry import register_task
from lavis.evaluation.captioning import evaluate_captioning
from lavis.tasks.base import BaseTask


@dataclass
class VideoCaptioningRunConfig(RunConfig):
    task: str = "video_captioning"


def score_captions(records: list[dict[str, Any]]) -> dict[str, Any]:
    """pycocoevalcap metrics of ``[{"image_id", "caption", "references"}]`` (first record of an id wins)."""
    references: dict[Hashable, list[str]] = {}
    for r in records:
        references.setdefault(r["image_id"], list(r["references"]))
    return evaluate_captioning(
        [{"image_id": r["image_id"], "caption": r["caption"]} for r in records], references
    )


@register_task("video_captioning")
class VideoCaptioningTask(BaseTask):
    Config = VideoCaptioningRunConfig
    headline_metrics = ("CIDEr", "Bleu_4", "METEOR", "ROUGE_L")

    def record_key(self, record: dict[str, Any]) -> Hashable:
        return record["image_id"]

    def valid_step(self, model: torch.nn.Module, samples: dict[str, Any]) -> list[dict[str, Any]]:
        outputs = model.predict(samples, self.generation)
        return [
            {
                "index": int(samples["index"][i]),
                "image_id": samples["qid"][i],
                "vid": samples["vid"][i],
                "caption": out["text"],
                "references": list(samples["captions"][i]),
            }
            for i, out in enumerate(outputs)
        ]

    def score(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return score_captions(records)
