"""``MomentRetrievalDataset``: annotation records + videos → samples for moment retrieval."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from lavis.common.errors import ConfigError, DataError
from lavis.datasets.annotations import load_annotations
from lavis.datasets.collate import collate_samples
from lavis.datasets.subtitles import Cue, load_subtitles
from lavis.datasets.video_records import VideoRecordDataset

MISSING_SUBTITLES = ("error", "empty")


class MomentRetrievalDataset(VideoRecordDataset):
    """One sample per query: the frames, their timestamps, the query and its windows (seconds).

    CALCE's inputs come along when configured: ``items`` (the query's noun phrases) when the records carry them,
    and, with ``subtitle_root``, the video's ``<video>.srt`` as ``subtitles`` (filtered cues) and
    ``subtitle_durations`` (speech spans). A missing SRT is an error naming it, unless ``missing_subtitles:
    empty`` (a video without speech: the prompt then shows the placeholder caption).
    """

    def __init__(
        self,
        ann_path,
        video_root,
        processor,
        subtitle_root: str | os.PathLike | None = None,
        missing_subtitles: str = "error",
        **kwargs: Any,
    ) -> None:
        super().__init__(ann_path, video_root, processor, load=load_annotations, **kwargs)
        if missing_subtitles not in MISSING_SUBTITLES:
            raise ConfigError(f"missing_subtitles must be one of {MISSING_SUBTITLES}, got {missing_subtitles!r}")
        self.subtitle_root = Path(subtitle_root) if subtitle_root else None
        self.missing_subtitles = missing_subtitles

    def fields(self, rec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        out = {"duration": float(rec["duration"]), "query": rec["query"], "relevant_windows": rec["relevant_windows"]}
        if "items" in rec:
            out["items"] = list(rec["items"])
        if "stage1_result" in rec:  # CALCE stage 2: the stage-1 windows (lavis-prepare calce-merge)
            out["stage1_result"] = [list(w) for w in rec["stage1_result"]]
        if self.subtitle_root is not None:
            out["subtitles"], out["subtitle_durations"] = self.subtitles(rec)
        return out

    def subtitles(self, rec: dict[str, Any]) -> tuple[list[Cue], list[tuple[float, float]]]:
        path = self.subtitle_root / f"{rec['video']}.srt"
        if not path.is_file() and self.missing_subtitles == "empty":
            return [], []
        try:
            return load_subtitles(path)
        except DataError as err:
            raise DataError(f"{err} (qid {rec['qid']}, annotation file {self.ann_path})") from None


# The batch layout is the generic one (see lavis.datasets.collate); the old name stays importable.
collate_moment_retrieval = collate_samples
