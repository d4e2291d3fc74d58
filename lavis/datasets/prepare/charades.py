"""Charades-STA (``charades_sta_{train,test}.txt`` + ``Charades_v1_{train,test}.csv``) → annotation files.

Two splits:

* ``custom`` (Mr. BLIP's, the default): 800 videos of the Charades training set are held out as val.
  The held-out ids are chosen exactly as the original notebook did: the ``id`` column of
  ``Charades_v1_train.csv`` in file order, shuffled with ``random.Random(seed)`` (seed 42), first 800.
  Only some of those 800 videos have Charades-STA queries, which is why val has 1242 queries
  (train 11166 / val 1242 / test 3720).
* ``original``: the official 12408 train / 3720 test queries.

qids are ``Charades_<video>_<k>``, with ``k`` counting that video's queries in ``charades_sta_train.txt``
(then ``_test.txt``) order, so a query keeps its qid whichever split mode is used. Older releases used
``Charades-STA_<video>`` for every query of a video, which collapsed queries in evaluation.
Durations are the CSV ``length`` column; window ends past it are clamped to it.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.annotations import check_record
from lavis.datasets.prepare.common import (
    Fixes,
    Prepared,
    Problems,
    as_number,
    clean_window,
    find_input,
    positive_duration,
    read_csv,
)

SPLITS = ("custom", "original")
KNOWN_OUTPUTS = [f"{s}{v}.json" for s in ("train", "val", "test") for v in ("", "_float")]


def prepare(input_dir: Path, split: str = "custom", seed: int = 42, num_val_videos: int = 800) -> Prepared:
    """Parse both STA files against the CSV durations, then split as requested."""
    if split not in SPLITS:
        raise DataError(f"charades_sta: --split must be one of {', '.join(SPLITS)}, got {split!r}")
    input_dir = Path(input_dir)
    paths = {
        "train_txt": find_input(input_dir, "charades_sta_train.txt", "the Charades-STA train queries"),
        "test_txt": find_input(input_dir, "charades_sta_test.txt", "the Charades-STA test queries"),
        "train_csv": find_input(input_dir, "Charades_v1_train.csv", "the Charades train metadata (durations)"),
        "test_csv": find_input(input_dir, "Charades_v1_test.csv", "the Charades test metadata (durations)"),
    }
    problems, fixes = Problems(), Fixes()
    train_lengths, train_ids = _read_lengths(paths["train_csv"], problems)
    test_lengths, _ = _read_lengths(paths["test_csv"], problems)
    per_video: dict[str, int] = {}
    train = _read_queries(paths["train_txt"], train_lengths, paths["train_csv"], per_video, problems, fixes)
    test = _read_queries(paths["test_txt"], test_lengths, paths["test_csv"], per_video, problems, fixes)
    problems.raise_if_any()

    notes = []
    if split == "original":
        splits = {"train": train, "test": test}
    else:
        val_ids = held_out_videos(train_ids, seed, num_val_videos)
        splits = {
            "train": [r for r in train if r["video"] not in val_ids],
            "val": [r for r in train if r["video"] in val_ids],
            "test": test,
        }
        with_queries = len({r["video"] for r in splits["val"]})
        notes.append(
            f"charades_sta: custom split held out {len(val_ids)} of {len(train_ids)} Charades train videos "
            f"(seed {seed}); {with_queries} of them have Charades-STA queries"
        )
    return Prepared(
        dataset="charades_sta",
        splits=splits,
        inputs=list(paths.values()),
        validator=check_record,
        notes=notes + fixes.notes("charades_sta"),
        options={"split": split, "seed": seed, "num_val_videos": num_val_videos},
    )


def held_out_videos(train_ids: list[str], seed: int, count: int) -> set[str]:
    """Mr. BLIP's val videos: CSV order, ``Random(seed).shuffle``, first ``count``.

    ``random.seed(42); random.shuffle(ids)`` in the notebook draws the same sequence as
    ``random.Random(42).shuffle(ids)``; the order going in (CSV file order) is what makes it reproducible.
    """
    if not 0 < count < len(train_ids):
        raise DataError(
            f"charades_sta: cannot hold out {count} validation videos from {len(train_ids)} train videos "
            "(use --num-val-videos)"
        )
    ids = list(train_ids)
    random.Random(seed).shuffle(ids)
    return set(ids[:count])


def _read_lengths(path: Path, problems: Problems) -> tuple[dict[str, float], list[str]]:
    """Video id → duration (seconds), and the ids in file order (the split depends on that order)."""
    lengths: dict[str, float] = {}
    order: list[str] = []
    for where, row in read_csv(path, ["id", "length"], problems):
        vid = row["id"].strip()
        if not vid:
            problems.add(where, "empty video id")
            continue
        length = positive_duration(row["length"], where, problems)
        if length is None:
            continue
        if vid in lengths:
            problems.add(where, f"video {vid} is listed twice")
            continue
        lengths[vid] = float(length)
        order.append(vid)
    return lengths, order


def _read_queries(
    path: Path,
    lengths: dict[str, float],
    csv_path: Path,
    per_video: dict[str, int],
    problems: Problems,
    fixes: Fixes,
) -> list[dict[str, Any]]:
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            head, sep, query = line.rstrip("\r\n").partition("##")
            parts = head.split()
            if not sep or len(parts) != 3:
                problems.add(where, f"expected 'VIDEO START END##QUERY', got {line.strip()!r}")
                continue
            video, start, end = parts
            if as_number(start) is None or as_number(end) is None:
                problems.add(where, f"start/end must be numbers, got {start!r} {end!r}")
                continue
            if not query.strip():
                problems.add(where, "empty query")
                continue
            if video not in lengths:
                problems.add(where, f"video {video} has no 'length' in {csv_path.name}")
                continue
            duration = lengths[video]
            window = clean_window([start, end], duration, where, problems, fixes)
            if window is None:
                continue
            k = per_video.get(video, 0)
            per_video[video] = k + 1
            out.append(
                {
                    "video": video,
                    "qid": f"Charades_{video}_{k}",
                    "query": query.strip(),
                    "duration": duration,
                    "relevant_windows": [window],
                }
            )
    return out
