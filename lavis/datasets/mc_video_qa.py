"""``MultipleChoiceQADataset``: multiple-choice video QA records → samples (NExT-QA, STAR, How2QA, TVQA, VLEP).

Records: the multiple-choice format of :mod:`lavis.datasets.records` (``video``, ``qid``, ``question``,
``options``, ``answer`` = option index; optional ``type``, ``start``/``end``, ``duration`` and, for NExT-GQA,
``relevant_windows``), as ``python -m lavis.datasets.prepare <dataset>`` writes them. A clip window
(``start``/``end``) restricts frame sampling to it (STAR, How2QA, TVQA, VLEP).

A sample carries the text fields a model builds its prompts from -- ``question``, ``options``, ``answer``,
``type``, ``prompt_style`` (``qa``, or ``vlep`` for a question-less next-event prediction) -- and
``benchmark``, the name the evaluation groups accuracy by (:mod:`lavis.evaluation.mc_qa`).
``punctuate`` adds a final "?" to questions and "." to options where missing (SeViLA's NExT-QA preparation).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from lavis.common.errors import DataError
from lavis.datasets.records import check_mc_qa_record, load_records, mc_qa_checker
from lavis.datasets.video_records import VideoRecordDataset

PROMPT_STYLES = ("qa", "vlep")


def _ending(text: str, mark: str) -> str:
    text = text.strip()
    return text if text.endswith(mark) else text + mark


class MultipleChoiceQADataset(VideoRecordDataset):
    """One sample per question: frames, ``question``, ``options``, ``answer`` and the grouping fields."""

    def __init__(
        self,
        ann_path,
        video_root,
        processor,
        benchmark: str,
        num_options: int | None = None,
        prompt_style: str = "qa",
        punctuate: bool = False,
        **kwargs: Any,
    ) -> None:
        checker = mc_qa_checker(num_options) if num_options else check_mc_qa_record
        super().__init__(
            ann_path, video_root, processor, load=partial(load_records, checker=checker), **kwargs
        )
        if prompt_style not in PROMPT_STYLES:
            raise DataError(f"prompt_style must be one of {PROMPT_STYLES}, got {prompt_style!r}")
        self.benchmark = benchmark
        self.prompt_style = prompt_style
        self.punctuate = punctuate
        self.grounded = any("relevant_windows" in rec for rec in self.records)
        if self.grounded and not all("relevant_windows" in rec for rec in self.records):
            raise DataError(f"{ann_path}: some records have 'relevant_windows' and others not")

    def fields(self, rec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        question, options = rec["question"], list(rec["options"])
        if self.punctuate:
            question = _ending(question, "?")
            options = [_ending(o, ".") for o in options]
        out = {
            "question": question,
            "options": options,
            "answer": int(rec["answer"]),
            "type": rec.get("type"),
            "prompt_style": self.prompt_style,
            "benchmark": self.benchmark,
        }
        if rec.get("duration") is not None:
            out["duration"] = float(rec["duration"])
        if self.grounded:
            out["relevant_windows"] = rec["relevant_windows"]
        return out
