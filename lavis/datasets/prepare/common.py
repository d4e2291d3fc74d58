"""Shared machinery for turning official benchmark downloads into annotation files.

The original preprocessing notebook failed in quiet ways (duplicate qids, integer ground truth used for
evaluation, a half-written file after a crash). Everything here exists to make those failures loud:

* input problems are *collected* (not raised at the first one) so a user sees every malformed line of a
  file with its ``file:line`` location in one run;
* repairs that change the data (clamping a window to the video, swapping an inverted window) are counted
  and reported, never applied silently;
* one run writes all of its files or none of them (temporary names, renamed only after everything
  succeeded), and refuses to leave files of an earlier, different run beside the new ones.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.common.io import sha256

MAX_LISTED = 50  # problems listed in one error message; the rest are counted
MANIFEST_NAME = "prepare_manifest.json"

Validator = Callable[[dict[str, Any], str], dict[str, Any]]


class Problems:
    """Collects every malformed input found in a run, then fails once with all of them listed."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")

    def __len__(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = self.items[:MAX_LISTED]
        more = len(self.items) - len(shown)
        tail = [f"... and {more} more"] if more else []
        noun = "problem" if len(self.items) == 1 else "problems"
        raise DataError("\n".join([f"{len(self.items)} input {noun}, nothing was written:", *shown, *tail]))


@dataclass
class Fixes:
    """Repairs applied to windows, reported after the run so that no change to the data goes unnoticed."""

    clamped_start: int = 0
    clamped_end: int = 0
    swapped: list[str] = field(default_factory=list)

    def notes(self, source: str) -> list[str]:
        out = []
        if self.clamped_start:
            out.append(f"{source}: {self.clamped_start} window start(s) below 0 clamped to 0")
        if self.clamped_end:
            out.append(f"{source}: {self.clamped_end} window end(s) beyond the video duration clamped to it")
        if self.swapped:
            listed = ", ".join(self.swapped[:10]) + (" ..." if len(self.swapped) > 10 else "")
            out.append(
                f"WARNING {source}: {len(self.swapped)} window(s) had start > end and were swapped: {listed}"
            )
        return out


@dataclass
class Prepared:
    """What a dataset module produced, before anything is written.

    ``splits`` hold records with float windows at the source's precision; the writer derives the
    integer-second variant from them (``windows=True``) so the two can never disagree on anything but
    the rounding. ``extra`` files are written exactly as given.
    """

    dataset: str
    splits: dict[str, list[dict[str, Any]]]
    inputs: list[Path]
    validator: Validator
    windows: bool = True
    extra: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)  # plain-text files (e.g. a class list), written as given
    notes: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetSpec:
    """One ``prepare`` command: the function that reads the official files, and every file name it may
    write in any of its modes (used to refuse mixing outputs of different runs)."""

    prepare: Callable[..., Prepared]
    known_outputs: list[str]


# ---------------------------------------------------------------------------------------------- inputs


def find_input(input_dir: Path, name: str, what: str) -> Path:
    """The official file ``name`` inside ``input_dir``, or an error saying what to download."""
    path = Path(input_dir) / name
    if not path.is_file():
        raise DataError(f"{path} not found: expected {what} (see mr_BLIP_data/README.md for the download)")
    return path


def find_splits(
    input_dir: Path, files: dict[str, str], what: str, optional: Iterable[str] = ("train",)
) -> tuple[dict[str, Path], list[str]]:
    """``split -> path`` of the official files present, and a note for each optional one that is not
    (a missing required file is an error saying what to download)."""
    optional = set(optional)
    paths, notes = {}, []
    for split, name in files.items():
        path = Path(input_dir) / name
        if split in optional and not path.is_file():
            notes.append(f"{what}: no {name} in {input_dir}; no {split} file was written")
            continue
        paths[split] = find_input(Path(input_dir), name, f"the {what} {split} annotations")
    return paths, notes


def read_jsonl(path: Path, problems: Problems) -> Iterator[tuple[str, Any]]:
    """``(file:line, object)`` for every non-blank line that parses; the others go to ``problems``."""
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                yield where, json.loads(line)
            except json.JSONDecodeError as err:
                problems.add(where, f"invalid JSON ({err.msg}, column {err.colno})")


def read_csv(path: Path, required: Iterable[str], problems: Problems) -> Iterator[tuple[str, dict[str, str]]]:
    """``(file:line, row)`` for a CSV with a header; a missing column is fatal, a ragged row is reported."""
    required = list(required)
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise DataError(f"{path}: empty file, expected a CSV header with {', '.join(required)}") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(missing)} (header: {','.join(header)})")
        lineno = reader.line_num
        for row in reader:
            start, lineno = lineno + 1, reader.line_num
            where = f"{path}:{start}"
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                problems.add(where, f"expected {len(header)} comma-separated fields, found {len(row)}")
                continue
            yield where, dict(zip(header, row))


def read_json(path: Path) -> Any:
    """A whole JSON file; a syntax error is reported with its line and column."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(f"{path}:{err.lineno}:{err.colno}: invalid JSON: {err.msg}") from None


def read_keyed_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object keyed by sample or video id (the MA-LMM annotation layout)."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object keyed by {what}, got {type(data).__name__}")
    return data


def as_number(value: Any) -> float | None:
    """A finite float from a JSON number or a numeric string; ``None`` if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def positive_duration(value: Any, where: str, problems: Problems) -> float | int | None:
    """The duration as given (int stays int), or ``None`` after reporting why it is unusable."""
    number = as_number(value)
    if number is None or number <= 0:
        problems.add(where, f"duration must be a positive number of seconds, got {value!r}")
        return None
    return value if isinstance(value, (int, float)) else number


def clean_window(
    raw: Any, duration: float, where: str, problems: Problems, fixes: Fixes, label: bool = False
) -> list[Any] | None:
    """``[start, end]`` (or ``[start, end, label]``) as floats within ``[0, duration]``.

    The float values are the source's own (``float(x)`` of what the file says); only the documented
    repairs change them, and each one is counted in ``fixes``.
    """
    size = 3 if label else 2
    if not isinstance(raw, (list, tuple)) or len(raw) != size:
        shape = "[start, end, label]" if label else "[start, end]"
        problems.add(where, f"window {raw!r} is not {shape}")
        return None
    start, end = as_number(raw[0]), as_number(raw[1])
    if start is None or end is None:
        problems.add(where, f"window {list(raw)!r} has a non-numeric start or end")
        return None
    if label and (not isinstance(raw[2], str) or not raw[2].strip()):
        problems.add(where, f"window {list(raw)!r} has no label")
        return None
    if start > end:
        start, end = end, start
        fixes.swapped.append(where)
    if start > duration:
        problems.add(where, f"window {list(raw)!r} starts after the video ends (duration {duration})")
        return None
    if start < 0:
        start = 0.0
        fixes.clamped_start += 1
    if end > duration:
        end = float(duration)
        fixes.clamped_end += 1
    return [start, end, raw[2].strip()] if label else [start, end]


def positive_int(value: Any, name: str, where: str, problems: Problems) -> int | None:
    """An integer count (frames) > 0; ``12.0`` is accepted as 12, ``12.5`` and ``"12"`` are not."""
    ok = (
        isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        and value == int(value) and value > 0
    )
    if not ok:
        problems.add(where, f"'{name}' must be a positive integer, got {value!r}")
        return None
    return int(value)


def require_fields(row: Any, fields: Iterable[str], where: str, problems: Problems) -> bool:
    """Is ``row`` an object with all ``fields``? If not, one problem says which are missing."""
    if not isinstance(row, dict):
        problems.add(where, f"expected a JSON object, got {type(row).__name__}")
        return False
    missing = [f for f in fields if f not in row]
    if missing:
        problems.add(where, f"missing field(s) {', '.join(missing)}")
        return False
    return True


def nonempty_text(value: Any, name: str, where: str, problems: Problems) -> str | None:
    """Stripped text; leading/trailing whitespace in the sources is an artefact of how they were split."""
    if not isinstance(value, str) or not value.strip():
        problems.add(where, f"'{name}' must be non-empty text, got {value!r}")
        return None
    return value.strip()


# ---------------------------------------------------------------------------------------------- outputs


def to_integer_seconds(rec: dict[str, Any]) -> dict[str, Any]:
    """The training-target variant: integer-second windows and an integer duration.

    Rounding the duration too (``max(1, round(d))``) keeps every rounded window inside ``[0, duration]``
    (``round`` is monotonic, so ``end <= d`` implies ``round(end) <= round(d)``); the model only ever
    sees ``round(duration)`` anyway, and this matches the integer files released with CALCE.
    """
    out = dict(rec)
    if "duration" in rec:
        out["duration"] = max(1, round(rec["duration"]))
    if "relevant_windows" in rec:
        out["relevant_windows"] = [[round(w[0]), round(w[1]), *w[2:]] for w in rec["relevant_windows"]]
    return out


def to_float_seconds(rec: dict[str, Any]) -> dict[str, Any]:
    out = dict(rec)
    if "relevant_windows" in rec:
        out["relevant_windows"] = [[float(w[0]), float(w[1]), *w[2:]] for w in rec["relevant_windows"]]
    return out


def check_windows_in_range(rec: dict[str, Any], where: str) -> None:
    """The invariant every output must satisfy; a failure here is a bug in a dataset module."""
    duration = rec.get("duration")
    for w in rec.get("relevant_windows", []):
        if not (0 <= w[0] <= w[1] and (duration is None or w[1] <= duration)):
            raise DataError(f"{where}: window {w!r} is not within [0, duration={duration}]")


def output_files(prepared: Prepared) -> dict[str, list[dict[str, Any]]]:
    """File name → records, validated, with qids checked for uniqueness across every split."""
    files: dict[str, list[dict[str, Any]]] = {}
    for split, records in prepared.splits.items():
        if prepared.windows:
            files[f"{split}.json"] = [to_integer_seconds(r) for r in records]
            files[f"{split}_float.json"] = [to_float_seconds(r) for r in records]
        else:
            files[f"{split}.json"] = list(records)
    for name, records in prepared.extra.items():
        files[f"{name}.json"] = list(records)
    for name, records in files.items():
        if not records:
            raise DataError(f"{prepared.dataset}: {name} would be empty; check the input files")
        for i, rec in enumerate(records):
            where = f"{name}[{i}] (qid {rec.get('qid')!r})"
            files[name][i] = prepared.validator(rec, where)
            check_windows_in_range(files[name][i], where)
    check_unique_qids(prepared.dataset, {n: r for n, r in files.items() if not n.endswith("_float.json")})
    return files


def check_unique_qids(dataset: str, files: dict[str, list[dict[str, Any]]]) -> None:
    """Within and across splits: evaluation keys results by qid, so a duplicate silently drops queries."""
    owners: dict[str, list[str]] = {}
    for name, records in files.items():
        for rec in records:
            owners.setdefault(rec["qid"], []).append(name)
    dupes = {q: names for q, names in owners.items() if len(names) > 1}
    if dupes:
        examples = "; ".join(f"{q!r} in {', '.join(n)}" for q, n in list(dupes.items())[:5])
        raise DataError(f"{dataset}: {len(dupes)} qid(s) are not unique ({examples}); nothing was written")


def dumps_records(records: list[Any]) -> str:
    """A JSON list with one record per line: valid JSON, yet greppable and diff-friendly."""
    if not records:
        return "[]\n"
    return "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n]\n"


def write_all(output_dir: Path, contents: dict[str, str], known_names: Iterable[str]) -> list[Path]:
    """Write every file or none: all go to temporary names first and are renamed only at the end.

    ``known_names`` are files this command may write in other modes; if one of them exists but is not
    part of this run it is from an earlier run with other options, and mixing the two would be silent
    corruption, so the run refuses.
    """
    output_dir = Path(output_dir)
    stale = sorted(n for n in known_names if n not in contents and (output_dir / n).exists())
    if stale:
        raise DataError(
            f"{output_dir} holds {', '.join(stale)} from an earlier run that this run would not overwrite; "
            "remove them or choose another --output"
        )
    created = not output_dir.exists()
    output_dir.mkdir(parents=True, exist_ok=True)
    temps: dict[str, str] = {}
    mode = 0o666 & ~_umask()  # mkstemp creates 0600; annotation files are meant to be shared
    try:
        for name, text in contents.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=output_dir)
            temps[name] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
        for name, tmp in temps.items():
            os.replace(tmp, output_dir / name)
    except BaseException:
        for tmp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if created:
            with contextlib.suppress(OSError):
                output_dir.rmdir()
        raise
    return [output_dir / name for name in contents]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_prepared(prepared: Prepared, output_dir: Path, known_names: Iterable[str]) -> dict[str, int]:
    """Validate, then write all annotation files plus a manifest; returns records per file."""
    files = output_files(prepared)
    counts = {name: len(records) for name, records in files.items()}
    manifest = {
        "dataset": prepared.dataset,
        "options": prepared.options,
        "inputs": {str(p): sha256(p) for p in prepared.inputs},
        "outputs": counts,
        "notes": prepared.notes,
    }
    contents = {name: dumps_records(records) for name, records in files.items()}
    for name, text in prepared.texts.items():
        contents[name] = text
        counts[name] = len(text.splitlines())
    contents[MANIFEST_NAME] = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    write_all(output_dir, contents, known_names)
    return counts
