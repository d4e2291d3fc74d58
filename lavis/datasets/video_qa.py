"""``VideoQADataset``: open-ended video QA and generative classification records → samples.

Record format (JSON list; see ``mr_BLIP_data/README.md``)::

    {"video": "<file stem>", "qid": "<unique id>", "question": "...", "answer": "..."}
    + optional "answer_type", "duration" (s), "start"/"end" (s, a clip inside the video)

A classification record holds the dataset's fixed prompt as its question and the label as its answer.
The sample carries ``text_input`` (the prompt template filled with the question: what the LLM, and an
instruction-aware Q-Former, read) and ``text_output`` (the answer: the training target).
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import numpy as np

from lavis.common.errors import DataError
from lavis.datasets.annotations import read_records
from lavis.datasets.video_records import VideoRecordDataset

QA_FIELDS = {"video": str, "qid": (str, int), "question": str, "answer": str}


def check_qa_record(rec: Any, where: str) -> dict[str, Any]:
    """Validate one open-ended QA record; return it with ``qid`` as a string."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object with fields {sorted(QA_FIELDS)}, got {type(rec).__name__}")
    for name, types in QA_FIELDS.items():
        if name not in rec:
            raise DataError(f"{where}: missing field '{name}' (required: {', '.join(QA_FIELDS)})")
        if not isinstance(rec[name], types) or isinstance(rec[name], bool):
            raise DataError(f"{where}: field '{name}' has type {type(rec[name]).__name__}")
    for name in ("start", "end", "duration"):
        value = rec.get(name)
        if value is not None and (not isinstance(value, int | float) or isinstance(value, bool) or value < 0):
            raise DataError(f"{where}: '{name}' must be a non-negative number of seconds, got {value!r}")
    return {**rec, "qid": str(rec["qid"])}


def load_qa_records(path: str | os.PathLike) -> list[dict[str, Any]]:
    records = [check_qa_record(rec, where) for where, rec in read_records(path)]
    if not records:
        raise DataError(f"Annotation file has no records: {path}")
    dupes = [q for q, n in Counter(r["qid"] for r in records).items() if n > 1]
    if dupes:
        raise DataError(f"{path}: {len(dupes)} qid(s) occur more than once (e.g. {', '.join(map(repr, dupes[:5]))})")
    return records


class VideoQADataset(VideoRecordDataset):
    """One sample per question: frames, ``question``, ``answer``, ``text_input``, ``text_output``."""

    def __init__(self, ann_path, video_root, processor, prompt: str = "{question}", **kwargs: Any) -> None:
        super().__init__(ann_path, video_root, processor, load=load_qa_records, **kwargs)
        if "{question}" not in prompt:
            raise DataError(f"the prompt template {prompt!r} has no '{{question}}' placeholder")
        self.prompt = prompt

    def fields(self, rec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        out = {
            "question": rec["question"],
            "answer": rec["answer"],
            "text_input": self.prompt.format(question=rec["question"]),
            "text_output": rec["answer"],
        }
        if rec.get("duration") is not None:
            out["duration"] = float(rec["duration"])
        return out
