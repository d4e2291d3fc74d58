"""``VideoRecordDataset``: annotation records + videos → samples; subclasses say which fields a sample carries.

Everything about reading a video for a record lives here once: the per-sample random generator (seeded
by ``(seed, epoch, index)``, so a sample is the same whatever the worker count and a resumed run sees
exactly the data it would have seen), the optional clip window (``start``/``end`` in the record), and
what happens to a bad video (an error naming the file, the qid and the annotation file; or, with
``on_bad_video: skip``, a ``None`` sample that the collate function counts).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lavis.common.errors import DataError
from lavis.datasets.audio import AudioClipConfig, AudioSource, frame_intervals, load_frame_audio
from lavis.datasets.collate import collate_samples
from lavis.datasets.frame_sources import FrameSource

logger = logging.getLogger(__name__)

ON_BAD_VIDEO = ("error", "skip")


class VideoRecordDataset(Dataset):
    """One sample per annotation record: ``video``, ``timestamps``, ``qid``, ``vid``, ``index`` + :meth:`fields`."""

    def __init__(
        self,
        ann_path: str | os.PathLike,
        video_root: str | os.PathLike,
        processor,
        video_ext: str = ".mp4",
        on_bad_video: str = "error",
        seed: int = 0,
        records: list[dict[str, Any]] | None = None,
        load: Callable[[str | os.PathLike], list[dict[str, Any]]] | None = None,
        audio: AudioClipConfig | None = None,
    ) -> None:
        if on_bad_video not in ON_BAD_VIDEO:
            raise DataError(f"on_bad_video must be one of {ON_BAD_VIDEO}, got {on_bad_video!r}")
        self.ann_path = str(ann_path)
        if records is None:
            if load is None:
                raise ValueError("give the records or a function that loads them")
            records = load(ann_path)
        self.records = records
        self.video_root = Path(video_root)
        self.processor = processor
        self.video_ext = video_ext
        self.on_bad_video = on_bad_video
        self.seed = seed
        self.epoch = 0
        self.audio = audio  # set: every frame also gets its audio clip (SMS): ``audio``, ``audio_mask``
        # set (by enable_frame_sources, when model.feature_cache is on): samples carry ``frame_source``
        self.frame_sources = False
        self.records = self._drop_or_report_missing_videos(self.records)

    def _drop_or_report_missing_videos(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Find missing and empty video files when the split is built, not hours into training: every problem
        is reported at once (count, first paths, annotation file); ``on_bad_video: skip`` drops those records."""
        paths = [self.video_path(rec) for rec in records]
        problems = find_missing_videos(paths)
        if not problems:
            return records
        if self.on_bad_video == "skip":
            bad = {str(path) for path, _ in problems}
            logger.warning(
                "Skipping %d of %d records of %s whose video is missing or empty", len(problems), len(records),
                self.ann_path,
            )
            return [rec for rec, path in zip(records, paths) if str(path) not in bad]
        qids = {str(path): rec["qid"] for rec, path in zip(records, paths)}
        shown = "; ".join(f"{path} ({what}, qid {qids[str(path)]})" for path, what in problems[:5])
        more = f"; ... and {len(problems) - 5} more" if len(problems) > 5 else ""
        raise DataError(
            f"{len(problems)} of {len(records)} videos referenced by {self.ann_path} are missing or empty: "
            f"{shown}{more}. Fix the video root, or set on_bad_video: skip in the dataset config to drop them."
        )

    collater = staticmethod(collate_samples)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def video_path(self, rec: dict[str, Any]) -> Any:
        """``video_root/<video><video_ext>``, or ``video_root/<file_name>`` when the record names its file
        (UnAV-100 style data, where the id and the file name differ)."""
        if rec.get("file_name"):
            return self.video_root / rec["file_name"]
        return self.video_root / f"{rec['video']}{self.video_ext}"

    def fields(self, rec: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
        """The task's fields of a sample (query and windows, question and answer, ...)."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        rec = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        clip = (rec["start"], rec["end"]) if rec.get("start") is not None and rec.get("end") is not None else None
        try:
            video, frames = self.processor(self.video_path(rec), rng, clip)
            audio = None
            if self.audio is not None and not self.audio.defer:
                audio = load_frame_audio(self.video_path(rec), frames, self.audio)
        except DataError as err:
            msg = f"{err} (qid {rec['qid']}, annotation file {self.ann_path})"
            if self.on_bad_video == "skip":
                logger.warning("Skipping sample: %s", msg)
                return None
            raise DataError(msg + ". Set on_bad_video: skip in the dataset config to skip such samples.") from None
        sample = {
            "video": video,
            "timestamps": torch.tensor(frames.timestamps, dtype=torch.float32),
            "qid": rec["qid"],
            "vid": rec["video"],
            "index": index,
        }
        if self.frame_sources:
            sample["frame_source"] = FrameSource.of(self.video_path(rec), frames.indices, self.processor)
        if audio is not None:
            sample["audio"], sample["audio_mask"] = audio.clips, audio.mask
        elif self.audio is not None:
            source = self.video_path(rec)
            sample["audio_source"] = AudioSource(
                source if not isinstance(source, Path) else str(source), tuple(frame_intervals(frames)), self.audio
            )
        sample.update(self.fields(rec, rng))
        sample.setdefault("duration", frames.num_video_frames / frames.fps)
        return sample


def find_missing_videos(paths: list[Any], workers: int = 16) -> list[tuple[Any, str]]:
    """``(path, "missing" | "empty")`` for each file that does not exist or has 0 bytes (a frame folder: that
    is missing or holds nothing), in input order; checked in parallel threads (it is file-system latency).
    Entries that are not paths (in-memory videos) are not checked."""

    def check(path: Any) -> str | None:
        if not isinstance(path, (str, os.PathLike)):
            return None
        path = Path(path)
        if path.is_dir():
            return None if any(path.iterdir()) else "empty"
        if not path.exists():
            return "missing"
        return "empty" if path.stat().st_size == 0 else None

    unique = list(dict.fromkeys(str(p) if isinstance(p, (str, os.PathLike)) else id(p) for p in paths))
    by_key = {str(p) if isinstance(p, (str, os.PathLike)) else id(p): p for p in paths}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = dict(zip(unique, pool.map(lambda key: check(by_key[key]), unique)))
    return [(by_key[key], verdicts[key]) for key in unique if verdicts[key] is not None]

