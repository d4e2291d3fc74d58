"""The question-answering and captioning annotation formats, and one checker per format.

Every file is a JSON list (or JSON lines) with one record per sample. Shared fields:

* ``video``: the file stem under the video root (``<video>.mp4``) or the name of a frame folder
  (``<frames root>/<video>/frame000001.jpg``); may contain ``/`` for nested layouts;
* ``qid``: a unique string; evaluation keys predictions by it;
* optional ``duration`` (seconds, > 0), ``start`` / ``end`` (seconds, a clip window inside the video,
  ``0 <= start <= end`` and ``end <= duration`` when both are known) and ``frame_length`` (int > 0, the
  number of extracted frames when the input is a frame folder).

The three formats (moment retrieval has its own, :mod:`lavis.datasets.annotations`):

* **open-ended QA and classification** (:func:`check_open_qa_record`)::

      {"video", "qid", "question": str, "answer": str, "answer_type"?: str}

  Classification datasets put their fixed prompt in ``question`` and the label string in ``answer``.
* **captioning** (:func:`check_caption_record`)::

      {"video", "qid", "captions": [str, ...]}     # every reference caption of the video / segment

* **multiple-choice QA** (:func:`check_mc_qa_record`)::

      {"video", "qid", "question": str, "options": [str, ...], "answer": <option index>, "type"?: str}

  plus, for grounded QA (NExT-GQA), ``relevant_windows``: ``[[start, end], ...]`` in seconds.

A checker returns the record unchanged or raises a :class:`DataError` that names the location it was
given (``file[i] (qid ...)``) and what was expected; :func:`load_records` runs one over a file.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.annotations import read_records

Checker = Callable[[Any, str], dict[str, Any]]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _text(rec: dict[str, Any], name: str, where: str) -> None:
    value = rec.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DataError(f"{where}: field '{name}' must be non-empty text, got {value!r}")


def _common(rec: Any, where: str, fields: tuple[str, ...]) -> dict[str, Any]:
    """``video``, ``qid`` and the text ``fields``, then the optional fields every format shares."""
    if not isinstance(rec, dict):
        raise DataError(f"{where}: expected an object, got {type(rec).__name__}")
    for name in ("video", "qid", *fields):
        _text(rec, name, where)
    duration = rec.get("duration")
    if "duration" in rec and (not _is_number(duration) or not duration > 0):
        raise DataError(f"{where}: 'duration' must be a positive number of seconds, got {duration!r}")
    if ("start" in rec) != ("end" in rec):
        raise DataError(f"{where}: 'start' and 'end' come together (a clip window), got only one of them")
    if "start" in rec:
        start, end = rec["start"], rec["end"]
        if not (_is_number(start) and _is_number(end) and 0 <= start <= end):
            raise DataError(f"{where}: clip window start={start!r}, end={end!r} must satisfy 0 <= start <= end")
        if duration is not None and end > duration:
            raise DataError(f"{where}: clip window ends at {end} s, after the video ends ({duration} s)")
    if "frame_length" in rec:
        length = rec["frame_length"]
        if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
            raise DataError(f"{where}: 'frame_length' must be a positive integer (frames), got {length!r}")
    return rec


def check_open_qa_record(rec: Any, where: str) -> dict[str, Any]:
    """Open-ended QA or classification: ``question`` and ``answer`` are text."""
    rec = _common(rec, where, ("question", "answer"))
    if "answer_type" in rec:
        _text(rec, "answer_type", where)
    return rec


def check_caption_record(rec: Any, where: str) -> dict[str, Any]:
    """Captioning: ``captions`` is a non-empty list of non-empty strings."""
    rec = _common(rec, where, ())
    captions = rec.get("captions")
    if not isinstance(captions, list) or not captions or not all(
        isinstance(c, str) and c.strip() for c in captions
    ):
        raise DataError(f"{where}: 'captions' must be a non-empty list of non-empty strings, got {captions!r}")
    return rec


def check_mc_qa_record(rec: Any, where: str, num_options: int | None = None) -> dict[str, Any]:
    """Multiple-choice QA: ``options`` (exactly ``num_options`` if given, else at least 2) and the index
    of the correct one in ``answer``; optional ``type`` and ``relevant_windows``."""
    rec = _common(rec, where, ("question",))
    if "type" in rec:
        _text(rec, "type", where)
    options = rec.get("options")
    count_ok = isinstance(options, list) and (
        len(options) == num_options if num_options is not None else len(options) >= 2
    )
    if not count_ok or not all(isinstance(o, str) and o.strip() for o in options):
        expected = f"{num_options}" if num_options is not None else "at least 2"
        raise DataError(f"{where}: 'options' must be {expected} non-empty strings, got {options!r}")
    answer = rec.get("answer")
    if isinstance(answer, bool) or not isinstance(answer, int) or not 0 <= answer < len(options):
        raise DataError(f"{where}: 'answer' must be an option index 0..{len(options) - 1}, got {answer!r}")
    if "relevant_windows" in rec:
        windows, duration = rec["relevant_windows"], rec.get("duration")
        if not isinstance(windows, list) or not windows or not all(
            isinstance(w, list) and len(w) == 2 and all(_is_number(x) for x in w) for w in windows
        ):
            raise DataError(f"{where}: 'relevant_windows' must be a non-empty list of [start, end]")
        for w in windows:
            if not (0 <= w[0] <= w[1] and (duration is None or w[1] <= duration)):
                raise DataError(f"{where}: window {w!r} is not within [0, duration={duration}]")
    return rec


def mc_qa_checker(num_options: int) -> Checker:
    """:func:`check_mc_qa_record` with a fixed option count (5 for NExT-QA, 4 for STAR, ...)."""

    def check(rec: Any, where: str) -> dict[str, Any]:
        return check_mc_qa_record(rec, where, num_options)

    check.__name__ = f"check_mc_qa_record[{num_options} options]"
    return check


CHECKERS: dict[str, Checker] = {
    "open_qa": check_open_qa_record,
    "caption": check_caption_record,
    "mc_qa": check_mc_qa_record,
}


def load_records(path: str | os.PathLike, checker: Checker) -> list[dict[str, Any]]:
    """Read an annotation file (JSON list or JSON lines), check every record, require unique qids."""
    records = [checker(rec, where) for where, rec in read_records(path)]
    if not records:
        raise DataError(f"Annotation file has no records: {path}")
    dupes = [q for q, n in Counter(r["qid"] for r in records).items() if n > 1]
    if dupes:
        raise DataError(
            f"{path}: {len(dupes)} qid(s) occur more than once (e.g. {', '.join(map(repr, dupes[:5]))}); "
            "qids must be unique or predictions of different samples would overwrite each other"
        )
    return records
