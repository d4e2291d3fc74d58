"""``VideoCaptionDataset``: captioning records (MSRVTT, MSVD, YouCook2) → samples.

Records: the captioning format of :mod:`lavis.datasets.records` (``video``, ``qid``, ``captions``: every
reference of the video or segment; optional ``duration``, ``start``/``end``). Training reads one sample
per caption (``per_caption``; MA-LMM trains on every caption of a video as its own sample), evaluation
one per video. A sample carries ``text_input`` (the fixed instruction, MA-LMM: "what does the video
describe?"), ``text_output`` (its caption: the training target, after the ``text_rule``) and ``captions``
(all references as written: pycocoevalcap tokenises them itself).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from lavis.datasets.records import check_caption_record, load_records
from lavis.datasets.text import apply_text_rule
from lavis.datasets.video_records import VideoRecordDataset

CAPTION_PROMPT = "what does the video describe?"


def one_record_per_caption(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each caption of each record as its own record (``qid`` ``<qid>#<n>``, ``caption`` set)."""
    return [
        dict(rec, qid=f"{rec['qid']}#{n}", caption=caption)
        for rec in records
        for n, caption in enumerate(rec["captions"])
    ]


class VideoCaptionDataset(VideoRecordDataset):
    """Frames, ``text_input``, ``text_output`` and ``captions`` (the references) per sample."""

    def __init__(
        self,
        ann_path,
        video_root,
        processor,
        prompt: str = CAPTION_PROMPT,
        per_caption: bool = False,
        text_rule: str | None = None,
        **kwargs: Any,
    ) -> None:
        records = load_records(ann_path, check_caption_record)
        if per_caption:
            records = one_record_per_caption(records)
        super().__init__(ann_path, video_root, processor, records=records, **kwargs)
        self.prompt = prompt
        self.text_rule = text_rule

    def fields(self, rec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        target = rec.get("caption", rec["captions"][0])
        out = {
            "text_input": self.prompt,
            "text_output": apply_text_rule(target, self.text_rule),
            "captions": list(rec["captions"]),
        }
        if rec.get("duration") is not None:
            out["duration"] = float(rec["duration"])
        return out
