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
KNOWN_OUTPUTS = [f"{s}{v}.json" for s in SUBSETS.values() for v in ("", "_float")] + ["classes.txt"]


def prepare(input_dir: Path, video_prefix: str = "v_") -> Prepared:
    path = find_input(Path(input_dir), FILE, "the ActivityNet 1.3 annotations")
    problems, fixes = Problems(), Fixes()
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SUBSETS.values()}
    entries, skipped = read_database(path, SUBSETS, problems)
    for split, youtube_id, entry, where in entries:
        windows = labelled_windows(entry, where, problems, fixes)
        if windows is not None:
            video = f"{video_prefix}{youtube_id}"
            splits[split].append(
                {"video": video, "qid": f"ActivityNetTAL_{video}", "query": "", "duration": float(entry["duration"]),
                 "relevant_windows": windows}
            )
    problems.raise_if_any()
    notes = [f"anet_tal: skipped {n} video(s) of subset {s!r} (no public labels)" for s, n in skipped.items()]
    classes = taxonomy_classes(read_json(path).get("taxonomy") or [])
    if not classes:
        classes = sorted({w[2] for recs in splits.values() for rec in recs for w in rec["relevant_windows"]})
        notes.append(f"anet_tal: no taxonomy in {path.name}; classes.txt lists the {len(classes)} labels annotated")
    return Prepared(
        dataset="anet_tal",
        texts={"classes.txt": "".join(f"{c}\n" for c in classes)},
        splits=splits,
        inputs=[path],
        validator=check_record,
        notes=notes + fixes.notes("anet_tal"),
        options={"video_prefix": video_prefix},
    )


def taxonomy_classes(taxonomy: list[dict[str, Any]]) -> list[str]:
    """The action classes of the official taxonomy: its leaf nodes (200 in v1.3), sorted."""
    parents = {node.get("parentName") for node in taxonomy}
    return sorted({str(node["nodeName"]) for node in taxonomy if node.get("nodeName") not in parents})


def read_database(
    path: Path, subsets: dict[str, str], problems: Problems
) -> tuple[list[tuple[str, str, dict, str]], dict[str, int]]:
    """``[(split, video id, entry, where), ...]`` of an ActivityNet-format ``{"database": {...}}`` file (also
    UnAV-100's), and the count of videos per subset not in ``subsets``."""
    data = read_json(path)
    database = data.get("database") if isinstance(data, dict) else None
    if not isinstance(database, dict):
        raise DataError(f"{path}: expected an object with a 'database' object (the ActivityNet format)")
    entries, skipped = [], {}
    for video_id, entry in database.items():
        where = f"{path}: database[{video_id!r}]"
        if not isinstance(entry, dict) or "subset" not in entry:
            problems.add(where, "expected an object with 'subset', 'duration' and 'annotations'")
            continue
        split = subsets.get(entry["subset"])
        if split is None:
            skipped[str(entry["subset"])] = skipped.get(str(entry["subset"]), 0) + 1
            continue
        entries.append((split, str(video_id), entry, where))
    return entries, skipped


def labelled_windows(entry: dict, where: str, problems: Problems, fixes: Fixes) -> list[list] | None:
    """``[[start, end, label], ...]`` of an entry (clipped to its duration), or None after reporting a problem."""
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
    return windows if len(windows) == len(annotations) else None
