"""Open-ended video QA in MA-LMM's layout: MSRVTT-QA, MSVD-QA, ActivityNet-QA.

Each split is ``qa_{train,val,test}.json``: an object keyed by question id whose entries hold
``question``, ``answer``, ``question_id``, ``video`` (the video / frame-folder name),
``frame_length`` (frames extracted at 10 fps) and ``answer_type`` (``"what"``, ``"who"``, ... for
MSRVTT/MSVD; an integer 0-8 for ActivityNet-QA, written as text here). Records
(:func:`lavis.datasets.records.check_open_qa_record`)::

    {"video": "video6513", "qid": "val_0000000", "question": "what are three people sitting on?",
     "answer": "couch", "answer_type": "what", "frame_length": 102}

qids: MSRVTT-QA and MSVD-QA number their questions from ``0000000`` again in every split file, so
their qids are ``<split>_<question_id>``; ActivityNet-QA ids (``v_<video>_<n>``) are already unique and
are kept. Text is stripped and otherwise kept (lower-casing and punctuation are the text processor's
job). ``qa_ans2label.json`` (the answer vocabulary) is not needed: answers are generated.
``qa_val.json`` is required; a missing train or test file is reported in the notes and not written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.datasets.prepare.common import (
    DatasetSpec,
    Prepared,
    Problems,
    find_splits,
    nonempty_text,
    positive_int,
    read_keyed_json,
    require_fields,
)
from lavis.datasets.records import check_open_qa_record

FILES = {"train": "qa_train.json", "val": "qa_val.json", "test": "qa_test.json"}
KNOWN_OUTPUTS = [f"{s}.json" for s in FILES]
NAMES = {"msrvtt_qa": "MSRVTT-QA", "msvd_qa": "MSVD-QA", "activitynet_qa": "ActivityNet-QA"}
SPLIT_PREFIXED = ("msrvtt_qa", "msvd_qa")  # question ids restart in every split file


def prepare_videoqa(dataset: str, input_dir: Path) -> Prepared:
    paths, notes = find_splits(Path(input_dir), FILES, NAMES[dataset], optional=("train", "test"))
    problems = Problems()
    splits = {
        split: _records(path, read_keyed_json(path, "question id"), split, dataset in SPLIT_PREFIXED, problems)
        for split, path in paths.items()
    }
    problems.raise_if_any()
    return Prepared(
        dataset=dataset,
        splits=splits,
        inputs=list(paths.values()),
        validator=check_open_qa_record,
        windows=False,
        notes=notes,
    )


def _records(
    path: Path, data: dict[str, Any], split: str, prefix: bool, problems: Problems
) -> list[dict[str, Any]]:
    out = []
    for key, entry in data.items():
        where = f"{path}: question {key!r}"
        if not require_fields(entry, ("question", "answer", "question_id", "video"), where, problems):
            continue
        question = nonempty_text(entry["question"], "question", where, problems)
        answer = nonempty_text(entry["answer"], "answer", where, problems)
        video = nonempty_text(entry["video"], "video", where, problems)
        qid = entry["question_id"]
        if isinstance(qid, bool) or not isinstance(qid, (str, int)) or str(qid).strip() == "":
            problems.add(where, f"'question_id' must be text or an integer, got {qid!r}")
            qid = None
        frames = positive_int(entry["frame_length"], "frame_length", where, problems) if "frame_length" in entry \
            else None
        if question is None or answer is None or video is None or qid is None:
            continue
        if "frame_length" in entry and frames is None:
            continue
        qid = str(qid).strip()
        rec = {"video": video, "qid": f"{split}_{qid}" if prefix else qid, "question": question, "answer": answer}
        answer_type = entry.get("answer_type")
        if isinstance(answer_type, (str, int)) and not isinstance(answer_type, bool) and str(answer_type).strip():
            rec["answer_type"] = str(answer_type).strip()
        if frames is not None:
            rec["frame_length"] = frames
        out.append(rec)
    return out


MSRVTT_QA = DatasetSpec(lambda input_dir: prepare_videoqa("msrvtt_qa", input_dir), KNOWN_OUTPUTS)
MSVD_QA = DatasetSpec(lambda input_dir: prepare_videoqa("msvd_qa", input_dir), KNOWN_OUTPUTS)
ACTIVITYNET_QA = DatasetSpec(lambda input_dir: prepare_videoqa("activitynet_qa", input_dir), KNOWN_OUTPUTS)
