"""UnAV-100 audio-visual events (``unav100_annotations.json``, ActivityNet format) → moment retrieval.

Each video's events are grouped by label, and each (video, label) pair becomes one query whose text is the
label ("dog barking") and whose windows are every segment of that label, in time order -- the same
moment-retrieval records as QVHighlights, so SMS and Mr. BLIP train on them unchanged. ``file_name`` names
the video file (``<id>.mp4``), since ids and file names may differ between downloads. Subsets ``train``,
``validation`` and ``test`` become train / val / test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.datasets.annotations import check_record
from lavis.datasets.prepare.anet_tal import labelled_windows, read_database
from lavis.datasets.prepare.common import Fixes, Prepared, Problems, find_input

FILE = "unav100_annotations.json"
SUBSETS = {"train": "train", "training": "train", "validation": "val", "test": "test", "testing": "test"}
KNOWN_OUTPUTS = [f"{s}{v}.json" for s in ("train", "val", "test") for v in ("", "_float")]


def prepare(input_dir: Path, video_ext: str = ".mp4") -> Prepared:
    path = find_input(Path(input_dir), FILE, "the UnAV-100 annotations")
    problems, fixes = Problems(), Fixes()
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "val": [], "test": []}
    entries, skipped = read_database(path, SUBSETS, problems)
    for split, video_id, entry, where in entries:
        windows = labelled_windows(entry, where, problems, fixes)
        if windows is None:
            continue
        by_label: dict[str, list[list[float]]] = {}
        for start, end, label in sorted(windows, key=lambda w: (w[0], w[1])):
            by_label.setdefault(str(label).strip(), []).append([start, end])
        for label, spans in by_label.items():
            splits[split].append(
                {
                    "video": video_id,
                    "qid": f"UnAV100_{video_id}_{label.replace(' ', '_')}",
                    "query": label,
                    "duration": float(entry["duration"]),
                    "relevant_windows": spans,
                    "file_name": f"{video_id}{video_ext}",
                }
            )
    problems.raise_if_any()
    notes = [f"unav100: skipped {n} video(s) of unknown subset {s!r}" for s, n in skipped.items()]
    return Prepared(
        dataset="unav100",
        splits={k: v for k, v in splits.items() if v},
        inputs=[path],
        validator=check_record,
        notes=notes + fixes.notes("unav100"),
        options={"video_ext": video_ext},
    )
