"""Breakfast (MA-LMM's ``{train,val}.json``) → train / val classification files, one record per video.

The source is an object keyed by video id (``P03-cam01-P03_cereals``) with ``duration`` (s),
``frame_length`` (frames extracted at 10 fps), ``class_name`` and ``class_label`` (0-9). Records
(:func:`lavis.datasets.records.check_open_qa_record`)::

    {"video": "<id>", "qid": "<id>", "question": "what type of breakfast is shown in the video?",
     "answer": "fried egg", "duration": 160, "frame_length": 1591}

As in MA-LMM, three videos are always left out (``EXCLUDED``; their frames are unusable) and the
evaluation split is val: MA-LMM's test split re-reads val.json, so no test file is written.
``class_name`` must be one of the 10 classes and agree with ``class_label``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.datasets.prepare.common import (
    Prepared,
    Problems,
    find_splits,
    nonempty_text,
    positive_duration,
    positive_int,
    read_keyed_json,
    require_fields,
)
from lavis.datasets.records import check_open_qa_record

QUESTION = "what type of breakfast is shown in the video?"
CLASSES = (
    "cereal", "coffee", "tea", "pancake", "fried egg", "scrambled egg", "sandwich", "juice", "milk", "salat",
)  # index = class_label
EXCLUDED = ("P28-cam01-P28_cereals", "P27-stereo-P27_milk_ch0", "P28-cam02-P28_cereals")
FILES = {"train": "train.json", "val": "val.json"}
KNOWN_OUTPUTS = [f"{s}.json" for s in FILES]


def prepare(input_dir: Path) -> Prepared:
    paths, notes = find_splits(Path(input_dir), FILES, "Breakfast")
    problems = Problems()
    splits, excluded = {}, []
    for split, path in paths.items():
        splits[split] = _records(path, read_keyed_json(path, "video id"), problems, excluded)
    problems.raise_if_any()
    if excluded:
        notes.append(f"breakfast: left out {len(excluded)} video(s) excluded by MA-LMM: {', '.join(excluded)}")
    notes.append("breakfast: evaluate on val.json (MA-LMM's test split is the val split)")
    return Prepared(
        dataset="breakfast",
        splits=splits,
        inputs=list(paths.values()),
        validator=check_open_qa_record,
        windows=False,
        notes=notes,
    )


def _records(path: Path, data: dict[str, Any], problems: Problems, excluded: list[str]) -> list[dict[str, Any]]:
    out = []
    for video, entry in data.items():
        if video in EXCLUDED:
            excluded.append(video)
            continue
        where = f"{path}: video {video!r}"
        if not require_fields(entry, ("duration", "frame_length", "class_name"), where, problems):
            continue
        label = nonempty_text(entry["class_name"], "class_name", where, problems)
        if label is not None and label not in CLASSES:
            problems.add(where, f"class_name {label!r} is not one of the 10 Breakfast classes")
            label = None
        index = entry.get("class_label")
        if label is not None and index is not None and index != CLASSES.index(label):
            problems.add(where, f"class_label {index!r} does not match class_name {label!r} "
                                f"(expected {CLASSES.index(label)})")
            label = None
        duration = positive_duration(entry["duration"], where, problems)
        frames = positive_int(entry["frame_length"], "frame_length", where, problems)
        if label is None or duration is None or frames is None:
            continue
        out.append({"video": video, "qid": video, "question": QUESTION, "answer": label,
                    "duration": duration, "frame_length": frames})
    return out
