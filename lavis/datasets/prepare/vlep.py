"""VLEP (``vlep_{train,dev}_release.jsonl``) → train / val two-option QA (future event prediction).

One example per line: ``example_id``, ``vid_name``, ``ts`` (``[start, end]`` of the premise, s),
``events`` (the two candidate future events) and ``answer`` (0 or 1). There is no question: every
example asks the same thing, which is written as ``question`` (:data:`QUESTION`). Records
(:func:`lavis.datasets.records.check_mc_qa_record`, 2 options)::

    {"video": "tvqa/friends_s03e09_seg02_clip_07", "qid": "VLEP_20142",
     "question": "What is the most probable subsequent event?", "options": [2 events], "answer": 0,
     "start": 38.8, "end": 40.37}

* qid: ``VLEP_<example_id>`` (SeViLA's).
* video: the examples come from two sources with their own files. YouTube vlog clips have a ``:`` in
  their name (``OO9kSxcT9Rg_subs_012_00:13:00_00:14:00_ep``) and keep it; TV-show clips are TVQA clips
  whose name is ``vid_name`` without its last 3 characters. The record's ``video`` is the path under
  one VLEP video root: ``<youtube_dir>/<name>`` or ``<tvqa_dir>/<TVQA clip>`` (``--youtube-dir``,
  ``--tvqa-dir``; default ``youtube`` and ``tvqa``; an empty value puts the files at the root).
* dev is the evaluated split and becomes ``val.json`` (the test file has no answers).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lavis.datasets.prepare.common import (
    Fixes,
    Prepared,
    Problems,
    clean_window,
    find_splits,
    nonempty_text,
    read_jsonl,
    require_fields,
)
from lavis.datasets.records import mc_qa_checker

QUESTION = "What is the most probable subsequent event?"
FILES = {"train": "vlep_train_release.jsonl", "val": "vlep_dev_release.jsonl"}
KNOWN_OUTPUTS = [f"{s}.json" for s in FILES]


def video_path(vid_name: str, tvqa_dir: str = "tvqa", youtube_dir: str = "youtube") -> str:
    """Where an example's video lives under the VLEP video root (SeViLA's rule for the two sources)."""
    if ":" in vid_name:
        return f"{youtube_dir}/{vid_name}" if youtube_dir else vid_name
    clip = vid_name[:-3]
    return f"{tvqa_dir}/{clip}" if tvqa_dir else clip


def prepare(input_dir: Path, tvqa_dir: str = "tvqa", youtube_dir: str = "youtube") -> Prepared:
    tvqa_dir, youtube_dir = tvqa_dir.strip("/"), youtube_dir.strip("/")
    paths, notes = find_splits(Path(input_dir), FILES, "VLEP")
    problems, fixes = Problems(), Fixes()
    splits, sources = {}, {"youtube": 0, "tvqa": 0}
    for split, path in paths.items():
        splits[split] = []
        for where, row in read_jsonl(path, problems):
            rec = _record(row, where, tvqa_dir, youtube_dir, problems, fixes)
            if rec is not None:
                splits[split].append(rec)
                sources["youtube" if ":" in row["vid_name"] else "tvqa"] += 1
    problems.raise_if_any()
    notes.append(f"vlep: {sources['tvqa']} examples from TVQA clips (under {tvqa_dir or 'the root'}/), "
                 f"{sources['youtube']} from YouTube vlogs (under {youtube_dir or 'the root'}/)")
    return Prepared(
        dataset="vlep",
        splits=splits,
        inputs=list(paths.values()),
        validator=mc_qa_checker(2),
        windows=False,
        notes=notes + fixes.notes("vlep"),
        options={"tvqa_dir": tvqa_dir, "youtube_dir": youtube_dir},
    )


def _record(
    row: Any, where: str, tvqa_dir: str, youtube_dir: str, problems: Problems, fixes: Fixes
) -> dict[str, Any] | None:
    if not require_fields(row, ("example_id", "vid_name", "ts", "events", "answer"), where, problems):
        return None
    example_id = row["example_id"]
    if isinstance(example_id, bool) or not isinstance(example_id, (int, str)) or str(example_id).strip() == "":
        problems.add(where, f"'example_id' must be an integer or text, got {example_id!r}")
        return None
    name = nonempty_text(row["vid_name"], "vid_name", where, problems)
    if name is not None and ":" not in name and len(name) <= 3:
        problems.add(where, f"vid_name {name!r} is too short to be a TVQA clip name plus a 3-character suffix")
        name = None
    events = row["events"]
    if not isinstance(events, list) or len(events) != 2:
        problems.add(where, f"'events' must be the 2 candidate events, got {events!r}")
        return None
    options = [nonempty_text(e, f"events[{j}]", where, problems) for j, e in enumerate(events)]
    answer = row["answer"]
    if isinstance(answer, bool) or answer not in (0, 1):
        problems.add(where, f"'answer' must be 0 or 1, got {answer!r}")
        answer = None
    window = clean_window(row["ts"], math.inf, where, problems, fixes)
    if name is None or answer is None or window is None or any(o is None for o in options):
        return None
    return {"video": video_path(name, tvqa_dir, youtube_dir), "qid": f"VLEP_{str(example_id).strip()}",
            "question": QUESTION, "options": options, "answer": int(answer), "start": window[0], "end": window[1]}
