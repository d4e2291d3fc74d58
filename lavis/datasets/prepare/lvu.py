"""LVU (MA-LMM's ``{train,val,test}.json``) → one classification file per task and split, one record per window.

The source is an object keyed by YouTube id; each video carries ``subset``, ``duration`` (s),
``num_frames`` (frames extracted at 10 fps) and, for every task it is labelled for, ``<task>`` (the label
string, the generation target) and ``<task>_answer`` (a letter, unused).

MA-LMM scores long movies as overlapping windows, each its own sample (accuracy is averaged over
windows): one window starts at 0 and further ones at ``stride``, ``2·stride``, ... as long as
``start <= duration - history``; a window covers ``[start, min(start + history - 1, duration)]`` seconds.
With the published ``--history 100 --stride 20`` a 130 s movie gives windows at 0, 20 (2 records).
Each window is written with ``start``/``end``; the frame reader maps them to frames (at 10 fps,
clamped to the video) and MA-LMM takes ``num_frames`` of them by integer linspace (``sampling:
linspace``), also in training.

Records (open-ended QA / classification format, :func:`lavis.datasets.records.check_open_qa_record`)::

    {"video": "<id>", "qid": "<task>_<id>_<start>", "question": "what is the <task> of the movie?",
     "answer": "<label>", "duration": 130, "start": 20, "end": 119, "frame_length": 1598}

Files are ``<task>_<split>.json`` (``genre_train.json``, ...); ``--task`` limits the run to one task.
A label outside the task's label set is an input problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.prepare.common import (
    Prepared,
    Problems,
    find_splits,
    positive_duration,
    positive_int,
    read_keyed_json,
)
from lavis.datasets.records import check_open_qa_record

LABELS: dict[str, tuple[str, ...]] = {
    "director": ("steven", "martin", "ron", "robert", "mark", "peter", "ridley", "quentin"),
    "genre": ("comedy", "action", "romance", "thriller"),
    "relationship": ("friend", "ex-boyfriend ex-girlfriend", "husband wife", "boyfriend girlfriend"),
    "scene": ("office", "airport", "school", "hotel", "prison", "restaurant"),
    "way_speaking": ("explain", "confront", "discuss", "teach", "threaten"),
    "writer": ("unknown", "ian", "stephen", "john", "david", "sylvester", "akiva"),
    "year": tuple(str(i) for i in range(9)),
}
TASKS = tuple(LABELS)
FILES = {"train": "train.json", "val": "val.json", "test": "test.json"}
KNOWN_OUTPUTS = [f"{task}_{split}.json" for task in TASKS for split in FILES]


def question_for(task: str) -> str:
    """MA-LMM's prompt, with the task key as written (``way_speaking`` keeps its underscore)."""
    return f"what is the {task} of the movie?"


def window_starts(duration: float, history: int, stride: int) -> list[int]:
    """0, then ``stride``, ``2·stride``, ... while ``start <= duration - history``."""
    starts, start = [0], stride
    while start <= duration - history:
        starts.append(start)
        start += stride
    return starts


def window_end(start: int, duration: float, history: int) -> float | int:
    return min(start + history - 1, duration)


def prepare(input_dir: Path, task: str | None = None, history: int = 100, stride: int = 20) -> Prepared:
    if task is not None and task not in LABELS:
        raise DataError(f"lvu: unknown task {task!r} (choose from {', '.join(TASKS)})")
    if history < 1 or stride < 1:
        raise DataError(f"lvu: --history and --stride must be positive integers (got {history}, {stride})")
    tasks = [task] if task else list(TASKS)
    paths, notes = find_splits(Path(input_dir), FILES, "LVU")
    problems = Problems()
    splits: dict[str, list[dict[str, Any]]] = {}
    counts: dict[str, list[str]] = {t: [] for t in tasks}
    for split, path in paths.items():
        videos = _videos(path, read_keyed_json(path, "video id"), tasks, problems)
        for t in tasks:
            records = [rec for video in videos for rec in _windows(video, t, history, stride)]
            splits[f"{t}_{split}"] = records
            counts[t].append(f"{split} {sum(t in video['labels'] for video in videos)}/{len(records)}")
    problems.raise_if_any()
    notes += [f"lvu {t}: videos/windows {', '.join(c)}" for t, c in counts.items()]
    return Prepared(
        dataset="lvu",
        splits=splits,
        inputs=list(paths.values()),
        validator=check_open_qa_record,
        windows=False,
        notes=notes,
        options={"task": task or "all", "history": history, "stride": stride},
    )


def _videos(path: Path, data: dict[str, Any], tasks: list[str], problems: Problems) -> list[dict[str, Any]]:
    """The videos labelled for any of ``tasks``, each checked once: duration, frames, labels."""
    out = []
    for video, entry in data.items():
        where = f"{path}: video {video!r}"
        if not isinstance(entry, dict):
            problems.add(where, f"expected an object, got {type(entry).__name__}")
            continue
        labels = {t: entry[t] for t in tasks if t in entry}
        if not labels:
            continue
        bad = {t: label for t, label in labels.items() if label not in LABELS[t]}
        for t, label in bad.items():
            problems.add(where, f"{t} label {label!r} is not one of {', '.join(map(repr, LABELS[t]))}")
        missing = [k for k in ("duration", "num_frames") if k not in entry]
        if missing:
            problems.add(where, f"missing field(s) {', '.join(missing)}")
            continue
        duration = positive_duration(entry["duration"], where, problems)
        frames = positive_int(entry["num_frames"], "num_frames", where, problems)
        if duration is None or frames is None or bad:
            continue
        out.append({"video": video, "labels": labels, "duration": duration, "frame_length": frames})
    return out


def _windows(video: dict[str, Any], task: str, history: int, stride: int) -> list[dict[str, Any]]:
    if task not in video["labels"]:
        return []
    duration = video["duration"]
    return [
        {
            "video": video["video"],
            "qid": f"{task}_{video['video']}_{start}",
            "question": question_for(task),
            "answer": video["labels"][task],
            "duration": duration,
            "start": start,
            "end": window_end(start, duration, history),
            "frame_length": video["frame_length"],
        }
        for start in window_starts(duration, history, stride)
    ]
