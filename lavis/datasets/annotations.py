"""The moment-retrieval annotation format, read and checked.

One record per query (JSON list, or JSON lines)::

    {"video": "<file stem>", "qid": "<unique id>", "query": "<text>", "duration": <seconds>,
     "relevant_windows": [[start, end], ...]}

Windows are seconds (integers for training targets, floats for evaluation ground truth); a third element
may carry a label (temporal action localisation). An optional ``file_name`` (relative to the video folder,
extension included) names the video file when it is not ``<video><video_ext>`` (UnAV-100). Every record is checked when the file is read, and a
bad one is reported with the file, its position and what was expected.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError

REQUIRED_FIELDS = {"video": str, "qid": (str, int), "query": str, "duration": (int, float), "relevant_windows": list}


def read_records(path: str | os.PathLike) -> list[tuple[str, dict[str, Any]]]:
    """``[(location, record), ...]`` from a JSON list or a JSONL file; location is ``file:line`` or ``file[i]``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Annotation file not found: {path}")
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None
        return [(f"{path}[{i}]", rec) for i, rec in enumerate(data)]
    records = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append((f"{path}:{lineno}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{lineno}: invalid JSON: {err.msg} (column {err.colno})") from None
    return records


def check_record(rec: Any, where: str) -> dict[str, Any]:
    """Validate one record; return it with ``qid`` as a string and windows as lists."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object with fields {sorted(REQUIRED_FIELDS)}, got {type(rec).__name__}")
    for name, types in REQUIRED_FIELDS.items():
        if name not in rec:
            raise DataError(f"{where}: missing field '{name}' (required: {', '.join(REQUIRED_FIELDS)})")
        if not isinstance(rec[name], types) or isinstance(rec[name], bool):
            raise DataError(f"{where}: field '{name}' has type {type(rec[name]).__name__}, expected {_names(types)}")
    file_name = rec.get("file_name")
    if file_name is not None and (not isinstance(file_name, str) or not file_name or Path(file_name).is_absolute()):
        raise DataError(f"{where}: 'file_name' must be a file name relative to the video folder, got {file_name!r}")
    duration = float(rec["duration"])
    if not duration > 0:
        raise DataError(f"{where}: 'duration' must be positive, got {rec['duration']!r}")
    windows = rec["relevant_windows"]
    for w in windows:
        ok = isinstance(w, list) and len(w) in (2, 3) and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in w[:2]
        )
        if not ok or (len(w) == 3 and not isinstance(w[2], str)):
            raise DataError(
                f"{where}: bad window {w!r} in 'relevant_windows' (expected [start, end] in seconds, "
                "or [start, end, \"label\"])"
            )
        if w[0] < 0 or w[1] < w[0]:
            raise DataError(f"{where}: window {w!r} must satisfy 0 <= start <= end")
    out = dict(rec)
    out["qid"] = str(rec["qid"])
    return out


def load_annotations(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read and check an annotation file; qids must be unique within it."""
    records = [check_record(rec, where) for where, rec in read_records(path)]
    if not records:
        raise DataError(f"Annotation file has no records: {path}")
    dupes = [q for q, n in Counter(r["qid"] for r in records).items() if n > 1]
    if dupes:
        raise DataError(
            f"{path}: {len(dupes)} qid(s) occur more than once (e.g. {', '.join(map(repr, dupes[:5]))}); "
            "qids must be unique or predictions of different queries would overwrite each other"
        )
    return records


def _names(types: Any) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join(t.__name__ for t in types)
