"""Video captioning in MA-LMM's layout: MSRVTT and MSVD (one record per video), YouCook2 (per segment).

MSRVTT / MSVD: ``cap_{train,val,test}.json`` is an object keyed by caption id whose entries hold
``image_id`` (``"video6513.mp4"``), ``caption``, ``id``, ``video`` (the video / frame-folder name) and
``frame_length``. All captions of a video become one record, in file order (duplicates kept: they are
separate references for COCO-style metrics)::

    {"video": "video6513", "qid": "video6513", "captions": ["a family is having coversation", ...],
     "frame_length": 102}

YouCook2: ``cap_{train,val,test}.json`` is keyed by segment id ``<video>_<start4>_<end4>`` with
``video``, ``segment``, ``duration``, ``start_time``, ``end_time``, ``frame_length``, ``recipe`` and one
``caption``; each segment is a record with its clip window::

    {"video": "xHr8X2Wpmno", "qid": "xHr8X2Wpmno_0047_0060", "captions": ["pick the ends off ..."],
     "duration": 206.86, "start": 47.0, "end": 60.0, "frame_length": 2070}

The YouCook2 test file has no captions (every ``caption`` is empty): no test file is written and
evaluation uses val, as MA-LMM does. Windows are clamped to ``[0, duration]`` (counted).
Records pass :func:`lavis.datasets.records.check_caption_record`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.datasets.prepare.common import (
    DatasetSpec,
    Fixes,
    Prepared,
    Problems,
    clean_window,
    find_splits,
    nonempty_text,
    positive_duration,
    positive_int,
    read_keyed_json,
    require_fields,
)
from lavis.datasets.records import check_caption_record

FILES = {"train": "cap_train.json", "val": "cap_val.json", "test": "cap_test.json"}
KNOWN_OUTPUTS = [f"{s}.json" for s in FILES]
NAMES = {"msrvtt_caption": "MSRVTT captioning", "msvd_caption": "MSVD captioning", "youcook2": "YouCook2"}


def prepare_per_video(dataset: str, input_dir: Path) -> Prepared:
    """MSRVTT / MSVD captions grouped by video; ``cap_val.json`` is required, train and test are not."""
    paths, notes = find_splits(Path(input_dir), FILES, NAMES[dataset], optional=("train", "test"))
    problems = Problems()
    splits = {split: _videos(path, read_keyed_json(path, "caption id"), problems) for split, path in paths.items()}
    problems.raise_if_any()
    return Prepared(
        dataset=dataset,
        splits=splits,
        inputs=list(paths.values()),
        validator=check_caption_record,
        windows=False,
        notes=notes,
    )


def _videos(path: Path, data: dict[str, Any], problems: Problems) -> list[dict[str, Any]]:
    by_video: dict[str, dict[str, Any]] = {}
    for key, entry in data.items():
        where = f"{path}: caption {key!r}"
        if not require_fields(entry, ("video", "caption"), where, problems):
            continue
        video = nonempty_text(entry["video"], "video", where, problems)
        caption = nonempty_text(entry["caption"], "caption", where, problems)
        frames = positive_int(entry["frame_length"], "frame_length", where, problems) if "frame_length" in entry \
            else None
        if video is None or caption is None or ("frame_length" in entry and frames is None):
            continue
        rec = by_video.setdefault(video, {"video": video, "qid": video, "captions": []})
        rec["captions"].append(caption)
        if frames is not None:
            known = rec.setdefault("frame_length", frames)
            if known != frames:
                problems.add(where, f"frame_length {frames} differs from {known} given for {video!r} before")
    return list(by_video.values())


def prepare_youcook2(input_dir: Path) -> Prepared:
    paths, notes = find_splits(Path(input_dir), FILES, "YouCook2", optional=("train", "test"))
    problems, fixes = Problems(), Fixes()
    splits = {}
    for split, path in paths.items():
        data = read_keyed_json(path, "segment id")
        if split == "test" and data and all(isinstance(e, dict) and not str(e.get("caption", "")).strip()
                                            for e in data.values()):
            notes.append(f"youcook2: {path.name} has no reference captions ({len(data)} segments); no test file "
                         "was written: evaluate on val, as MA-LMM does")
            continue
        splits[split] = _segments(path, data, problems, fixes)
    problems.raise_if_any()
    return Prepared(
        dataset="youcook2",
        splits=splits,
        inputs=list(paths.values()),
        validator=check_caption_record,
        windows=False,
        notes=notes + fixes.notes("youcook2"),
    )


def _segments(path: Path, data: dict[str, Any], problems: Problems, fixes: Fixes) -> list[dict[str, Any]]:
    out = []
    fields = ("video", "duration", "start_time", "end_time", "caption")
    for key, entry in data.items():
        where = f"{path}: segment {key!r}"
        if not require_fields(entry, fields, where, problems):
            continue
        video = nonempty_text(entry["video"], "video", where, problems)
        caption = nonempty_text(entry["caption"], "caption", where, problems)
        duration = positive_duration(entry["duration"], where, problems)
        frames = positive_int(entry["frame_length"], "frame_length", where, problems) if "frame_length" in entry \
            else None
        if video is None or caption is None or duration is None or ("frame_length" in entry and frames is None):
            continue
        window = clean_window([entry["start_time"], entry["end_time"]], duration, where, problems, fixes)
        if window is None:
            continue
        segment = entry.get("segment") if isinstance(entry.get("segment"), str) and entry["segment"] else key
        rec = {"video": video, "qid": segment, "captions": [caption], "duration": duration,
               "start": window[0], "end": window[1]}
        if frames is not None:
            rec["frame_length"] = frames
        out.append(rec)
    return out


MSRVTT_CAPTION = DatasetSpec(lambda input_dir: prepare_per_video("msrvtt_caption", input_dir), KNOWN_OUTPUTS)
MSVD_CAPTION = DatasetSpec(lambda input_dir: prepare_per_video("msvd_caption", input_dir), KNOWN_OUTPUTS)
YOUCOOK2 = DatasetSpec(prepare_youcook2, KNOWN_OUTPUTS)
