"""NExT-QA (``{train,val,test}.csv`` + ``map_vid_vidorID.json``) → multiple-choice QA annotation files.

Record format (the multiple-choice format of :mod:`lavis.datasets.records`, checked by
:func:`~lavis.datasets.records.check_mc_qa_record` with 5 options; NExT-GQA adds ``relevant_windows``
and ``duration``)::

    {"video": "<vidor dir>/<video id>", "qid": "<type>_<video id>_<qid>", "question": "...",
     "options": [5 strings], "answer": <0..4>, "type": "CW"}

``video`` is the path under the NExT video root (VidOR layout), as ``map_vid_vidorID.json`` gives it.
The qid starts with the question type because per-type accuracy is computed from ``qid.split("_")[0]``.
Text is kept as in the csv (stripped); the original pipeline appended "?" to questions and "." to options
at this stage; here that belongs to the prompt, not the data. The csv has no duration, so NExT-QA
records carry none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.prepare.common import (
    Prepared,
    Problems,
    as_number,
    find_input,
    nonempty_text,
    read_csv,
    read_json,
)
from lavis.datasets.records import mc_qa_checker

NUM_OPTIONS = 5
OPTION_COLUMNS = [f"a{i}" for i in range(NUM_OPTIONS)]
SPLITS = ("train", "val", "test")
MAP_FILE = "map_vid_vidorID.json"
KNOWN_OUTPUTS = [f"{s}.json" for s in SPLITS]
check_nextqa_record = mc_qa_checker(NUM_OPTIONS)  # the multiple-choice format of lavis.datasets.records


def load_video_map(path: Path) -> dict[str, str]:
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError(f"{path}: expected an object mapping video id → '<dir>/<video id>'")
    return data


def prepare(input_dir: Path, map_path: Path | None = None) -> Prepared:
    """val and test are required (they are what is evaluated); train.csv is used when present."""
    input_dir = Path(input_dir)
    map_path = Path(map_path) if map_path else find_input(input_dir, MAP_FILE, "the NExT-QA video id map")
    video_map = load_video_map(map_path)
    paths = {}
    for split in SPLITS:
        path = input_dir / f"{split}.csv"
        if split != "train" or path.is_file():
            paths[split] = find_input(input_dir, f"{split}.csv", f"the NExT-QA {split} questions")
    problems = Problems()
    splits = {split: _with_index_answers(path, video_map, problems) for split, path in paths.items()}
    problems.raise_if_any()
    notes = [] if "train" in paths else [f"nextqa: no train.csv in {input_dir}; wrote val and test only"]
    return Prepared(
        dataset="nextqa",
        splits=splits,
        inputs=[map_path, *paths.values()],
        validator=check_nextqa_record,
        windows=False,
        notes=notes,
    )


def _with_index_answers(path: Path, video_map: dict[str, str], problems: Problems) -> list[dict[str, Any]]:
    out = []
    for where, row, rec in read_questions(path, "video", video_map, problems):
        answer = as_number(row["answer"])
        if answer is None or answer != int(answer) or not 0 <= answer < NUM_OPTIONS:
            problems.add(where, f"answer must be an option index 0..{NUM_OPTIONS - 1}, got {row['answer']!r}")
            continue
        out.append({**rec, "answer": int(answer)})
    return out


def read_questions(
    path: Path, video_column: str, video_map: dict[str, str], problems: Problems
) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """``(file:line, csv row, record without answer)``; the answer column differs between NExT-QA
    (an index) and NExT-GQA (the option text), so each caller resolves it."""
    columns = [video_column, "question", "answer", "qid", "type", *OPTION_COLUMNS]
    out = []
    for where, row in read_csv(path, columns, problems):
        video_id = row[video_column].strip()
        qtype, qid = row["type"].strip(), row["qid"].strip()
        if not video_id or not qtype or not qid:
            problems.add(where, f"empty {video_column}, type or qid")
            continue
        if video_id not in video_map:
            problems.add(where, f"video {video_id} is not in {MAP_FILE}")
            continue
        question = nonempty_text(row["question"], "question", where, problems)
        options = [nonempty_text(row[c], c, where, problems) for c in OPTION_COLUMNS]
        if question is None or any(o is None for o in options):
            continue
        rec = {
            "video": video_map[video_id],
            "qid": f"{qtype}_{video_id}_{qid}",
            "question": question,
            "options": options,
            "type": qtype,
        }
        out.append((where, row, rec))
    return out
