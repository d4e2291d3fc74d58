"""The ``video_qa`` task: open-ended video QA (and generative classification) scored by exact match.

Train step: the LM loss of the answer. Eval step: generate ``run.generation.num_return_sequences`` beams
per question and score top-1 / top-5 exact match after BLIP's text normalisation
(:mod:`lavis.evaluation.open_qa`); MSRVTT-QA and MSVD-QA keep only the first word (``first_word_only``).
Writes ``<split>_<tag>_predictions.jsonl`` (question, answer, beams) and ``<split>_<tag>_metrics.json``.
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
class VideoQARunConfig(RunConfig):
    task: str = "video_qa"
    first_word_only: bool = False  # MA-LMM's rule for MSRVTT-QA / MSVD-QA: keep the first word of each beam


@register_task("video_qa")
class VideoQATask(BaseTask):
    Config = VideoQARunConfig
    headline_metrics = ("top1", "top5")

    def valid_step(self, model: torch.nn.Module, samples: dict[str, Any]) -> list[dict[str, Any]]:
        outputs = model.predict(samples, self.generation)
        return [
            {
                "index": int(samples["index"][i]),
                "qid": samples["qid"][i],
                "vid": samples["vid"][i],
                "question": samples["question"][i],
                "answer": samples["answer"][i],
                "prediction": out["candidates"],
            }
            for i, out in enumerate(outputs)
        ]

    def score(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        return evaluate_open_qa(
            records,
            [{"qid": r["qid"], "answer": r["answer"]} for r in records],
            first_word_only=self.run_cfg.first_word_only,
        )
