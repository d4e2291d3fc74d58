"""STAR (``STAR_{train,val}.json``) → train / val multiple-choice QA files.

The official files are JSON lists; each question has ``question_id`` (``Interaction_T1_13``),
``question``, ``video_id`` (a Charades video), ``start`` / ``end`` (s, the clip the question is about),
``answer`` (the *text* of the correct choice) and ``choices`` (``[{"choice_id", "choice"}, ...]``, 4).
Records (:func:`lavis.datasets.records.check_mc_qa_record`, 4 options)::

    {"video": "6H78U", "qid": "Interaction_T1_13", "question": "...", "options": [4 strings],
     "answer": 2, "type": "Interaction", "start": 11.1, "end": 19.6}

* qid: the official question id, as SeViLA keeps it; ``type`` is its first part (Interaction,
  Sequence, Prediction, Feasibility), the groups of STAR's per-type accuracy.
* answer: the index of the choice whose text equals ``answer`` (both stripped). No match is an input
  problem; several matches use the first and are listed in a WARNING (SeViLA silently took the last).
* the clip window is kept as given; a start below 0 is set to 0 and start > end is swapped (counted).
* ``STAR_test.json`` has no answers and is not read; results are reported on val.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.prepare.common import (
    Fixes,
    Prepared,
    Problems,
    clean_window,
    find_splits,
    nonempty_text,
    read_json,
    require_fields,
)
from lavis.datasets.records import mc_qa_checker

NUM_OPTIONS = 4
FILES = {"train": "STAR_train.json", "val": "STAR_val.json"}
KNOWN_OUTPUTS = [f"{s}.json" for s in FILES]
TYPES = ("Interaction", "Sequence", "Prediction", "Feasibility")


def prepare(input_dir: Path) -> Prepared:
    paths, notes = find_splits(Path(input_dir), FILES, "STAR")
    problems, fixes = Problems(), Fixes()
    splits, ambiguous = {}, []
    for split, path in paths.items():
        data = read_json(path)
        if not isinstance(data, list):
            raise DataError(f"{path}: expected a JSON list of questions, got {type(data).__name__}")
        splits[split] = [rec for i, row in enumerate(data)
                         if (rec := _record(row, f"{path}[{i}]", problems, fixes, ambiguous)) is not None]
    problems.raise_if_any()
    notes += fixes.notes("star")
    if ambiguous:
        notes.append(f"WARNING star: {len(ambiguous)} answer text(s) match several choices; used the first match: "
                     f"{', '.join(ambiguous[:10])}")
    return Prepared(
        dataset="star",
        splits=splits,
        inputs=list(paths.values()),
        validator=mc_qa_checker(NUM_OPTIONS),
        windows=False,
        notes=notes,
    )


def _record(row: Any, where: str, problems: Problems, fixes: Fixes, ambiguous: list[str]) -> dict[str, Any] | None:
    fields = ("question_id", "question", "video_id", "answer", "choices", "start", "end")
    if not require_fields(row, fields, where, problems):
        return None
    qid = nonempty_text(row["question_id"], "question_id", where, problems)
    if qid is None:
        return None
    where = f"{where} (question_id {qid!r})"
    qtype = qid.split("_")[0]
    if qtype not in TYPES:
        problems.add(where, f"question_id should start with one of {', '.join(TYPES)}")
        return None
    question = nonempty_text(row["question"], "question", where, problems)
    video = nonempty_text(row["video_id"], "video_id", where, problems)
    answer = nonempty_text(row["answer"], "answer", where, problems)
    choices = row["choices"]
    if not isinstance(choices, list) or len(choices) != NUM_OPTIONS or not all(
        isinstance(c, dict) and "choice" in c for c in choices
    ):
        problems.add(where, f"'choices' must be {NUM_OPTIONS} objects with a 'choice' text")
        return None
    options = [nonempty_text(c["choice"], f"choices[{j}].choice", where, problems) for j, c in enumerate(choices)]
    window = clean_window([row["start"], row["end"]], math.inf, where, problems, fixes)
    if question is None or video is None or answer is None or window is None or any(o is None for o in options):
        return None
    matches = [j for j, option in enumerate(options) if option == answer]
    if not matches:
        problems.add(where, f"answer {answer!r} is not the text of any choice {options!r}")
        return None
    if len(matches) > 1:
        ambiguous.append(f"{where} ({answer!r} = choices {matches})")
    return {"video": video, "qid": qid, "question": question, "options": options, "answer": matches[0],
            "type": qtype, "start": window[0], "end": window[1]}
