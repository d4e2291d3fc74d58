"""COIN (MA-LMM's ``COIN.json``) → train / val classification files, one record per video.

MA-LMM reads one object keyed by YouTube id with ``subset`` (``"train"`` or ``"val"``), ``duration``
(s), ``target`` (the task name, 180 classes) and ``num_frames_actual`` (frames extracted at 10 fps).
Records (:func:`lavis.datasets.records.check_open_qa_record`)::

    {"video": "<id>", "qid": "<id>", "question": "what is the activity in the video?",
     "answer": "<target>", "duration": 141.5, "frame_length": 1415}

Left out, as MA-LMM does, and counted in the notes: the two ``EXCLUDED`` ids, and videos without
``num_frames_actual`` (the ones that could not be downloaded; only about 10,500 of 11,827 could).
Entries of any other subset are counted and skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.datasets.prepare.common import (
    Prepared,
    Problems,
    find_input,
    nonempty_text,
    positive_duration,
    positive_int,
    read_keyed_json,
    require_fields,
)
from lavis.datasets.records import check_open_qa_record

QUESTION = "what is the activity in the video?"
EXCLUDED = ("AfiVmAjfTNs", "cjwtcDKTQM8")
FILE = "COIN.json"
SUBSETS = ("train", "val")
KNOWN_OUTPUTS = [f"{s}.json" for s in SUBSETS]


def prepare(input_dir: Path) -> Prepared:
    path = find_input(Path(input_dir), FILE, "MA-LMM's COIN annotations (subset, duration, target, num_frames_actual)")
    data = read_keyed_json(path, "video id")
    problems = Problems()
    splits: dict[str, list[dict[str, Any]]] = {s: [] for s in SUBSETS}
    excluded, no_frames, other = [], 0, {}
    for video, entry in data.items():
        where = f"{path}: video {video!r}"
        if video in EXCLUDED:
            excluded.append(video)
            continue
        if not require_fields(entry, ("subset", "duration", "target"), where, problems):
            continue
        if entry["subset"] not in SUBSETS:
            other[str(entry["subset"])] = other.get(str(entry["subset"]), 0) + 1
            continue
        if "num_frames_actual" not in entry:
            no_frames += 1
            continue
        label = nonempty_text(entry["target"], "target", where, problems)
        duration = positive_duration(entry["duration"], where, problems)
        frames = positive_int(entry["num_frames_actual"], "num_frames_actual", where, problems)
        if label is None or duration is None or frames is None:
            continue
        splits[entry["subset"]].append({"video": video, "qid": video, "question": QUESTION, "answer": label,
                                        "duration": duration, "frame_length": frames})
    problems.raise_if_any()
    notes = []
    if excluded:
        notes.append(f"coin: left out {len(excluded)} video(s) excluded by MA-LMM: {', '.join(excluded)}")
    if no_frames:
        notes.append(f"coin: left out {no_frames} video(s) without num_frames_actual (not downloaded)")
    notes += [f"coin: skipped {n} video(s) of subset {s!r}" for s, n in other.items()]
    return Prepared(
        dataset="coin",
        splits=splits,
        inputs=[path],
        validator=check_open_qa_record,
        windows=False,
        notes=notes,
    )
