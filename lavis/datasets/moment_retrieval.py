"""``MomentRetrievalDataset``: annotation records + videos → samples for moment retrieval."""

from __future__ import annotations

from typing import Any

import numpy as np

from lavis.datasets.annotations import load_annotations
from lavis.datasets.collate import collate_samples
from lavis.datasets.video_records import VideoRecordDataset


class MomentRetrievalDataset(VideoRecordDataset):
    """One sample per query: the frames, their timestamps, the query and its windows (seconds)."""

    def __init__(self, ann_path, video_root, processor, **kwargs: Any) -> None:
        super().__init__(ann_path, video_root, processor, load=load_annotations, **kwargs)

    def fields(self, rec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        return {"duration": float(rec["duration"]), "query": rec["query"], "relevant_windows": rec["relevant_windows"]}


# The batch layout is the generic one (see lavis.datasets.collate); the old name stays importable.
collate_moment_retrieval = collate_samples
