"""ActivityNet 1.3 temporal action localisation (``activity_net.v1-3.min.json``) → train / val.

Mr. BLIP's TAL setting treats a whole video as one "query" whose target lists every action segment
with its class: ``{"video": "v_<id>", "query": "", "relevant_windows": [[s, e, "Label"], ...]}``.
``training`` becomes train and ``validation`` becomes val (the ``testing`` subset has no public labels
and is skipped; TAL results on ActivityNet 1.3 are conventionally reported on validation).
Video files of the official download are named ``v_<youtube id>.mp4``, hence the ``v_`` prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.annotations import check_record
from lavis.datasets.prepare.common import (
    Fixes,
    Prepared,
    Problems,
    clean_window,
    find_input,
    positive_duration,
    read_json,
)

FILE = "activity_net.v1-3.min.json"
SUBSETS = {"training": "train", "validation": "val"}
KNOWN_OUTPUTS = [f"{s}{v}.json" for s in SUBSETS.values() for v in ("", "_float")]


def prepare(input_dir: Path, video_prefix: str = "v_") -> Prepared:
    path = find_input(Path(input_dir), FILE, "the ActivityNet 1.3 annotations")
    data = read_json(path)
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise DataError(f"{path}: expected an object with a 'database' object (the official v1.3 format)")
    problems, fixes = Problems(), Fixes()
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SUBSETS.values()}
    skipped: dict[str, int] = {}
    for youtube_id, entry in database.items():
        where = f"{path}: database[{youtube_id!r}]"
        if not isinstance(entry, dict) or "subset" not in entry:
            problems.add(where, "expected an object with 'subset', 'duration' and 'annotations'")
            continue
        split = SUBSETS.get(entry["subset"])
        if split is None:
            skipped[str(entry["subset"])] = skipped.get(str(entry["subset"]), 0) + 1
            continue
        rec = _record(youtube_id, entry, video_prefix, where, problems, fixes)
        if rec is not None:
            splits[split].append(rec)
    problems.raise_if_any()
    notes = [f"anet_tal: skipped {n} video(s) of subset {s!r} (no public labels)" for s, n in skipped.items()]
    return Prepared(
        dataset="anet_tal",
        splits=splits,
        inputs=[path],
        validator=check_record,
        notes=notes + fixes.notes("anet_tal"),
        options={"video_prefix": video_prefix},
    )


def _record(
    youtube_id: str, entry: dict, prefix: str, where: str, problems: Problems, fixes: Fixes
) -> dict[str, Any] | None:
    duration = positive_duration(entry.get("duration"), where, problems)
    annotations = entry.get("annotations")
    if not isinstance(annotations, list) or not annotations:
        problems.add(where, "'annotations' must be a non-empty list of {segment, label}")
        return None
    if duration is None:
        return None
    windows = []
    for i, ann in enumerate(annotations):
        at = f"{where} annotation {i}"
        if not isinstance(ann, dict) or "segment" not in ann or "label" not in ann:
            problems.add(at, "expected {'segment': [start, end], 'label': ...}")
            continue
        segment = ann["segment"]
        raw = [*segment, ann["label"]] if isinstance(segment, list) else segment
        window = clean_window(raw, duration, at, problems, fixes, label=True)
        if window is not None:
            windows.append(window)
    if len(windows) != len(annotations):
        return None
    video = f"{prefix}{youtube_id}"
    return {"video": video, "qid": f"ActivityNetTAL_{video}", "query": "", "duration": duration,
            "relevant_windows": windows}
