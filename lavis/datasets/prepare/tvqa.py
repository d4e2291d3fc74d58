"""TVQA and How2QA (the TVQA jsonl format, as distributed with VALUE) → train / val multiple-choice QA.

One question per line: ``vid_name``, ``q``, ``a0`` .. ``a{n-1}`` (TVQA 5, How2QA 4), ``answer_idx`` and
``ts`` (``"20.16-25.12"``: the moment the question is about, in seconds). Records
(:func:`lavis.datasets.records.check_mc_qa_record`)::

    {"video": "s03e02_seg02_clip_10", "qid": "TVQA_17", "question": "Why is Howard ...?",
     "options": [5 strings], "answer": 2, "start": 20.16, "end": 25.12}

* qid: SeViLA numbers questions by their line: ``TVQA_<i>`` / ``HOW2QA_<i>`` (i from 0). Both split
  files start at 0, so val (the evaluated split; test = val) keeps SeViLA's qids and train questions
  are ``TVQA_train_<i>`` / ``HOW2QA_train_<i>``. The per-type accuracy key ``qid.split("_")[0]`` is the
  dataset name either way.
* the window is kept as given (start < 0 set to 0, start > end swapped, counted). A ``ts`` whose
  numbers are ``NaN`` has no moment: the record gets no window (the whole clip is used), and the
  count is printed as a WARNING.
* ``video`` is ``vid_name``. TVQA clips are distributed as 3 fps frames; SeViLA re-encoded each clip
  to ``<vid_name>.mp4`` with ffmpeg (SeViLA issue #29).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lavis.datasets.prepare.common import (
    DatasetSpec,
    Fixes,
    Prepared,
    Problems,
    as_number,
    clean_window,
    find_splits,
    nonempty_text,
    read_jsonl,
    require_fields,
)
from lavis.datasets.records import mc_qa_checker

DATASETS = {
    # name: (files, number of options, qid prefix, display name)
    "tvqa": ({"train": "tvqa_train.jsonl", "val": "tvqa_val.jsonl"}, 5, "TVQA", "TVQA"),
    "how2qa": ({"train": "how2qa_train_release.jsonl", "val": "how2qa_val_release.jsonl"}, 4, "HOW2QA", "How2QA"),
}
KNOWN_OUTPUTS = ["train.json", "val.json"]


def prepare_tvqa_format(dataset: str, input_dir: Path) -> Prepared:
    files, num_options, prefix, name = DATASETS[dataset]
    paths, notes = find_splits(Path(input_dir), files, name)
    problems, fixes = Problems(), Fixes()
    splits, no_moment = {}, []
    for split, path in paths.items():
        qid_prefix = prefix if split == "val" else f"{prefix}_{split}"
        splits[split] = []
        for i, (where, row) in enumerate(read_jsonl(path, problems)):
            rec = _record(row, where, num_options, problems, fixes, no_moment)
            if rec is not None:
                splits[split].append({"video": rec.pop("video"), "qid": f"{qid_prefix}_{i}", **rec})
    problems.raise_if_any()
    notes += fixes.notes(dataset)
    if no_moment:
        listed = ", ".join(no_moment[:10]) + (" ..." if len(no_moment) > 10 else "")
        notes.append(f"WARNING {dataset}: {len(no_moment)} question(s) have a NaN 'ts' and no clip window "
                     f"(the whole video is used): {listed}")
    return Prepared(
        dataset=dataset,
        splits=splits,
        inputs=list(paths.values()),
        validator=mc_qa_checker(num_options),
        windows=False,
        notes=notes,
    )


def parse_ts(ts: Any) -> list[Any] | None:
    """``"s-e"`` (or ``[s, e]``) → ``[s, e]`` as given; ``None`` if it is neither shape."""
    if isinstance(ts, str):
        parts = ts.strip().split("-")
        return parts if len(parts) == 2 else None
    if isinstance(ts, list) and len(ts) == 2:
        return ts
    return None


def _is_nan(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() == "nan"
    return isinstance(value, float) and math.isnan(value)


def _record(
    row: Any, where: str, num_options: int, problems: Problems, fixes: Fixes, no_moment: list[str]
) -> dict[str, Any] | None:
    option_keys = [f"a{j}" for j in range(num_options)]
    if not require_fields(row, ("vid_name", "q", "answer_idx", "ts", *option_keys), where, problems):
        return None
    video = nonempty_text(row["vid_name"], "vid_name", where, problems)
    question = nonempty_text(row["q"], "q", where, problems)
    options = [nonempty_text(row[k], k, where, problems) for k in option_keys]
    answer = as_number(row["answer_idx"])
    if answer is None or answer != int(answer) or not 0 <= answer < num_options:
        problems.add(where, f"answer_idx must be an option index 0..{num_options - 1}, got {row['answer_idx']!r}")
        answer = None
    bounds = parse_ts(row["ts"])
    if bounds is None:
        problems.add(where, f"ts must be \"start-end\" (seconds), got {row['ts']!r}")
        return None
    window: list[float] | None = None
    if all(_is_nan(b) for b in bounds):
        no_moment.append(where)
    else:
        window = clean_window(bounds, math.inf, where, problems, fixes)
        if window is None:
            return None
    if video is None or question is None or answer is None or any(o is None for o in options):
        return None
    rec = {"video": video, "question": question, "options": options, "answer": int(answer)}
    if window is not None:
        rec.update(start=window[0], end=window[1])
    return rec


TVQA = DatasetSpec(lambda input_dir: prepare_tvqa_format("tvqa", input_dir), KNOWN_OUTPUTS)
HOW2QA = DatasetSpec(lambda input_dir: prepare_tvqa_format("how2qa", input_dir), KNOWN_OUTPUTS)
