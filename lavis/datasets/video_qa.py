"""``VideoQADataset``: open-ended video QA and generative classification records → samples.

Records: the open-ended QA format of :mod:`lavis.datasets.records` (``video``, ``qid``, ``question``,
``answer``; optional ``duration``, ``start``/``end``). A classification record holds the dataset's fixed
prompt as its question and the label as its answer.
The sample carries ``text_input`` (the prompt template filled with the question: what the LLM, and an
instruction-aware Q-Former, read) and ``text_output`` (the answer: the training target).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from lavis.common.errors import DataError
from lavis.datasets.records import check_open_qa_record, load_records
from lavis.datasets.text import apply_text_rule
from lavis.datasets.video_records import VideoRecordDataset


class VideoQADataset(VideoRecordDataset):
    """One sample per question: frames, ``question``, ``answer``, ``text_input``, ``text_output``."""

    def __init__(
        self, ann_path, video_root, processor, prompt: str = "{question}", text_rule: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(ann_path, video_root, processor, load=partial(load_records, checker=check_open_qa_record), **kwargs)
        if "{question}" not in prompt:
            raise DataError(f"the prompt template {prompt!r} has no '{{question}}' placeholder")
        self.prompt = prompt
        self.text_rule = text_rule  # "blip": MA-LMM's blip_question / blip_caption processing of the texts

    def fields(self, rec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        question = apply_text_rule(rec["question"], self.text_rule, kind="question")
        answer = apply_text_rule(rec["answer"], self.text_rule)
        out = {
            "question": question,
            "answer": answer,
            "text_input": self.prompt.format(question=question),
            "text_output": answer,
        }
        if rec.get("duration") is not None:
            out["duration"] = float(rec["duration"])
        return out
