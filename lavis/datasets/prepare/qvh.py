"""QVHighlights (moment_detr release) → train / val / test annotation files.

The public test file has no ground truth; the original notebook filled it with a dummy ``[[0, 150]]``,
which any evaluator would happily score. Here the test split gets real windows only from
``highlight_test_with_gt.jsonl``. Without it, the queries are written to ``test_no_gt.json`` with empty
``relevant_windows`` and ``"gt_available": false``, under a name no config points at for evaluation.
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
    nonempty_text,
    positive_duration,
    read_jsonl,
)

FILES = {
    "train": "highlight_train_release.jsonl",
    "val": "highlight_val_release.jsonl",
    "test": "highlight_test_release.jsonl",
    "test_gt": "highlight_test_with_gt.jsonl",
}
KNOWN_OUTPUTS = [f"{s}{v}.json" for s in ("train", "val", "test") for v in ("", "_float")] + ["test_no_gt.json"]


def qid_for(raw_qid: Any) -> str:
    return f"QVHighlight_{raw_qid}"


def prepare(input_dir: Path) -> Prepared:
    """Read the moment_detr jsonl files; every malformed line is reported before anything is written."""
    input_dir = Path(input_dir)
    problems, fixes = Problems(), Fixes()
    train_path = find_input(input_dir, FILES["train"], "the QVHighlights train annotations")
    val_path = find_input(input_dir, FILES["val"], "the QVHighlights val annotations")
    gt_path, release_path = input_dir / FILES["test_gt"], input_dir / FILES["test"]
    splits = {
        "train": _read(train_path, problems, fixes, with_windows=True),
        "val": _read(val_path, problems, fixes, with_windows=True),
    }
    inputs, extra, notes, release = [train_path, val_path], {}, [], None
    if gt_path.is_file():
        splits["test"] = _read(gt_path, problems, fixes, with_windows=True)
        inputs.append(gt_path)
        if release_path.is_file():
            inputs.append(release_path)
            release = _read(release_path, problems, fixes, with_windows=False)
    elif release_path.is_file():
        extra["test_no_gt"] = [
            {**rec, "relevant_windows": [], "gt_available": False}
            for rec in _read(release_path, problems, fixes, with_windows=False)
        ]
        inputs.append(release_path)
        notes.append(
            f"{FILES['test_gt']} not found: test queries written to test_no_gt.json without ground truth "
            "(for prediction / Codalab submission only; no test.json is written)"
        )
    else:
        raise DataError(f"{input_dir}: neither {FILES['test_gt']} nor {FILES['test']} found")
    problems.raise_if_any()
    if release is not None:
        _same_queries(splits["test"], release, release_path)
    return Prepared(
        dataset="qvh",
        splits=splits,
        extra=extra,
        inputs=inputs,
        validator=check_record,
        notes=notes + fixes.notes("qvh"),
    )


def _read(path: Path, problems: Problems, fixes: Fixes, with_windows: bool) -> list[dict[str, Any]]:
    out = []
    for where, row in read_jsonl(path, problems):
        if not isinstance(row, dict):
            problems.add(where, f"expected a JSON object, got {type(row).__name__}")
            continue
        missing = [k for k in ("qid", "vid", "query", "duration") if k not in row]
        if with_windows and "relevant_windows" not in row:
            missing.append("relevant_windows")
        if missing:
            problems.add(where, f"missing field(s) {', '.join(missing)}")
            continue
        if isinstance(row["qid"], bool) or not isinstance(row["qid"], (int, str)) or str(row["qid"]) == "":
            problems.add(where, f"'qid' must be an integer or text, got {row['qid']!r}")
            continue
        video = nonempty_text(row["vid"], "vid", where, problems)
        query = nonempty_text(row["query"], "query", where, problems)
        duration = positive_duration(row["duration"], where, problems)
        if video is None or query is None or duration is None:
            continue
        rec = {"video": video, "qid": qid_for(row["qid"]), "query": query, "duration": duration}
        if with_windows:
            raw = row["relevant_windows"]
            if not isinstance(raw, list) or not raw:
                problems.add(where, f"'relevant_windows' must be a non-empty list, got {raw!r}")
                continue
            windows = [clean_window(w, duration, where, problems, fixes) for w in raw]
            if any(w is None for w in windows):
                continue
            rec["relevant_windows"] = windows
        out.append(rec)
    return out


def _same_queries(with_gt: list[dict], release: list[dict], release_path: Path) -> None:
    """The GT file must describe the same queries as the release file, or one of them is the wrong file."""
    key = [(r["qid"], r["video"], r["query"]) for r in with_gt]
    if sorted(key) != sorted((r["qid"], r["video"], r["query"]) for r in release):
        raise DataError(
            f"{release_path}: its queries differ from {FILES['test_gt']} (qid, vid or query); "
            "one of the two files is not from the same QVHighlights release"
        )
