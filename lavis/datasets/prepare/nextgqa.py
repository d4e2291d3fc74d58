"""NExT-GQA (``{val,test}.csv`` + ``gsub_{val,test}.json`` + ``map_vid_vidorID.json``) → grounded QA files.

Records are NExT-QA's (see ``nextqa.py``) plus ``duration`` and ``relevant_windows`` from ``gsub_*.json``
(the grounding is only published for val and test; train QA is NExT-QA's train.csv). Both window
variants are written, like the moment-retrieval sets: ``{val,test}.json`` (integer seconds) and
``{val,test}_float.json`` (the gsub values; grounding metrics must use these).

Two properties of the release need care:

* ``answer`` is the option *text*. One test question lists the correct text twice ("happy" as options 3
  and 4), so the text alone does not give the index. With ``nextqa_input`` (the NExT-QA csv folder) the
  index is taken from NExT-QA, which has it, and checked against the text; otherwise the first matching
  option is used and every ambiguous row is reported.
* some windows start at -0.1 s or end past the (integer) ``duration``; they are clamped and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.prepare.common import (
    Fixes,
    Prepared,
    Problems,
    clean_window,
    find_input,
    positive_duration,
    read_csv,
    read_json,
)
from lavis.datasets.prepare.nextqa import (
    MAP_FILE,
    check_nextqa_record,
    load_video_map,
    read_questions,
)

SPLITS = ("val", "test")
KNOWN_OUTPUTS = [f"{s}{v}.json" for s in SPLITS for v in ("", "_float")]


def prepare(input_dir: Path, map_path: Path | None = None, nextqa_input: Path | None = None) -> Prepared:
    input_dir = Path(input_dir)
    map_path = Path(map_path) if map_path else find_input(input_dir, MAP_FILE, "the NExT-QA video id map")
    video_map = load_video_map(map_path)
    problems, fixes = Problems(), Fixes()
    inputs, splits, ambiguous = [map_path], {}, []
    for split in SPLITS:
        csv_path = find_input(input_dir, f"{split}.csv", f"the NExT-GQA {split} questions")
        gsub_path = find_input(input_dir, f"gsub_{split}.json", f"the NExT-GQA {split} grounding")
        known = None
        if nextqa_input is not None:
            nextqa_csv = find_input(Path(nextqa_input), f"{split}.csv", f"the NExT-QA {split} questions")
            known = _nextqa_answers(nextqa_csv, problems)
            inputs.append(nextqa_csv)
        grounding = read_json(gsub_path)
        if not isinstance(grounding, dict):
            raise DataError(f"{gsub_path}: expected an object keyed by video id")
        splits[split] = []
        for where, row, rec in read_questions(csv_path, "video_id", video_map, problems):
            video_id, qid = row["video_id"].strip(), row["qid"].strip()
            answer = _answer_index(row, rec["options"], known, where, problems, ambiguous)
            located = _grounding(grounding, gsub_path, video_id, qid, where, problems, fixes)
            if answer is None or located is None:
                continue
            duration, windows = located
            splits[split].append({**rec, "answer": answer, "duration": duration, "relevant_windows": windows})
        inputs += [csv_path, gsub_path]
    problems.raise_if_any()
    notes = fixes.notes("nextgqa")
    if ambiguous:
        notes.append(
            f"WARNING nextgqa: {len(ambiguous)} answer text(s) match several options; used the first match "
            f"(pass --nextqa-input to take the index from NExT-QA): {', '.join(ambiguous[:10])}"
        )
    return Prepared(
        dataset="nextgqa",
        splits=splits,
        inputs=inputs,
        validator=check_nextqa_record,
        notes=notes,
        options={"nextqa_input": str(nextqa_input) if nextqa_input else None},
    )


def _nextqa_answers(path: Path, problems: Problems) -> dict[tuple[str, str], int]:
    out = {}
    for where, row in read_csv(path, ["video", "qid", "answer"], problems):
        try:
            out[(row["video"].strip(), row["qid"].strip())] = int(row["answer"])
        except ValueError:
            problems.add(where, f"answer must be an option index, got {row['answer']!r}")
    return out


def _answer_index(
    row: dict[str, str],
    options: list[str],
    known: dict[tuple[str, str], int] | None,
    where: str,
    problems: Problems,
    ambiguous: list[str],
) -> int | None:
    text = row["answer"].strip()
    matches = [i for i, option in enumerate(options) if option == text]
    if not matches:
        problems.add(where, f"answer {text!r} is not one of the options {options!r}")
        return None
    if known is not None:
        index = known.get((row["video_id"].strip(), row["qid"].strip()))
        if index is None:
            problems.add(where, "question not found in the NExT-QA csv given with --nextqa-input")
            return None
        if index not in matches:
            problems.add(where, f"NExT-QA answer index {index} is not the option text {text!r}")
            return None
        return index
    if len(matches) > 1:
        ambiguous.append(f"{where} ({text!r} = options {matches})")
    return matches[0]


def _grounding(
    grounding: dict, path: Path, video_id: str, qid: str, where: str, problems: Problems, fixes: Fixes
) -> tuple[Any, list[list[float]]] | None:
    entry = grounding.get(video_id)
    if not isinstance(entry, dict) or not isinstance(entry.get("location"), dict):
        problems.add(where, f"video {video_id} has no entry with 'location' in {path.name}")
        return None
    raw = entry["location"].get(qid)
    if not isinstance(raw, list) or not raw:
        problems.add(where, f"question {qid} of video {video_id} has no window in {path.name}")
        return None
    duration = positive_duration(entry.get("duration"), f"{path}: {video_id!r}", problems)
    if duration is None:
        return None
    at = f"{path}: {video_id!r} location {qid!r}"
    windows = [clean_window(w, duration, at, problems, fixes) for w in raw]
    if any(w is None for w in windows):
        return None
    return duration, windows
