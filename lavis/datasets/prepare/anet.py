"""ActivityNet Captions (``train.json``, ``val_1.json``, ``val_2.json``) → train / val / test.

Follows Mr. BLIP: val_1 is the validation split and val_2 the test split; one query per sentence.
qids are ``ActivityNet_<video>_<j>`` (``j`` = sentence index) for train and val. val_2 annotates the
same videos as val_1 (4885 of them) with other sentences, so Mr. BLIP's scheme gives 14434 test qids
that are also val qids; test qids are therefore ``ActivityNet_val2_<video>_<j>``.
Sentences are stripped (most of them start with a space in the release). Two training timestamps in
the release have start > end; they are swapped and reported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.annotations import check_record
from lavis.datasets.prepare.common import (
    Fixes,
    Prepared,
    Problems,
    clean_window,
    find_input,
    nonempty_text,
    positive_duration,
    read_json,
)

FILES = {"train": "train.json", "val": "val_1.json", "test": "val_2.json"}
QID_PREFIX = {"train": "ActivityNet", "val": "ActivityNet", "test": "ActivityNet_val2"}
KNOWN_OUTPUTS = [f"{s}{v}.json" for s in FILES for v in ("", "_float")]


def prepare(input_dir: Path) -> Prepared:
    input_dir = Path(input_dir)
    paths = {s: find_input(input_dir, name, f"ActivityNet Captions {name}") for s, name in FILES.items()}
    problems, fixes = Problems(), Fixes()
    splits = {split: read_captions(path, QID_PREFIX[split], problems, fixes) for split, path in paths.items()}
    problems.raise_if_any()
    return Prepared(
        dataset="anet",
        splits=splits,
        inputs=list(paths.values()),
        validator=check_record,
        notes=fixes.notes("anet"),
    )


def read_captions(path: Path, qid_prefix: str, problems: Problems, fixes: Fixes) -> list[dict[str, Any]]:
    """One record per (video, sentence); locations name the video key and sentence index."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object keyed by video id, got {type(data).__name__}")
    out = []
    for video, entry in data.items():
        where = f"{path}: video {video!r}"
        if not isinstance(entry, dict) or not {"duration", "timestamps", "sentences"} <= entry.keys():
            problems.add(where, "expected an object with duration, timestamps and sentences")
            continue
        duration = positive_duration(entry["duration"], where, problems)
        stamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(stamps, list) or not isinstance(sentences, list) or len(stamps) != len(sentences):
            problems.add(where, "timestamps and sentences must be lists of the same length")
            continue
        if duration is None:
            continue
        for j, (stamp, sentence) in enumerate(zip(stamps, sentences)):
            at = f"{where} sentence {j}"
            query = nonempty_text(sentence, "sentence", at, problems)
            window = clean_window(stamp, duration, at, problems, fixes)
            if query is None or window is None:
                continue
            out.append(
                {
                    "video": video,
                    "qid": f"{qid_prefix}_{video}_{j}",
                    "query": query,
                    "duration": duration,
                    "relevant_windows": [window],
                }
            )
    return out
