"""The prepare command on the real official files in ../shared/data: exact counts, unique qids, windows
inside the video, float ground truth equal to the source, integer files equal to known Mr. BLIP files."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from lavis.datasets.annotations import check_record, load_annotations
from lavis.datasets.prepare import prepare_dataset
from lavis.datasets.prepare.nextqa import check_nextqa_record

EXPECTED = {
    "qvh": {"train": 7218, "val": 1550, "test": 1542},
    "charades_sta": {"train": 11166, "val": 1242, "test": 3720},
    "charades_sta_original": {"train": 12408, "test": 3720},
    "anet": {"train": 37421, "val": 17505, "test": 17031},
    "nextqa": {"val": 4996, "test": 8564},
    "nextgqa": {"val": 3358, "test": 5553},
}


@pytest.fixture(scope="module")
def prepared(shared_data: Path, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("prepared")
    runs = {
        "qvh": ("qvh", shared_data / "qvhighlights", {}),
        "charades_sta": ("charades_sta", shared_data / "charades_sta", {}),
        "charades_sta_original": ("charades_sta", shared_data / "charades_sta", {"split": "original"}),
        "anet": ("anet", shared_data / "activitynet_captions", {}),
        "nextqa": ("nextqa", shared_data / "nextqa", {}),
        "nextgqa": ("nextgqa", shared_data / "nextgqa",
                    {"map_path": shared_data / "nextqa" / "map_vid_vidorID.json",
                     "nextqa_input": shared_data / "nextqa"}),
    }
    for key, (name, src, options) in runs.items():
        prepare_dataset(name, src, out / key, **options)
    return {key: out / key for key in runs}


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("key", list(EXPECTED))
def test_counts_are_exact(prepared, key):
    has_windows = key != "nextqa"
    for split, count in EXPECTED[key].items():
        assert len(_load(prepared[key] / f"{split}.json")) == count, split
        if has_windows:
            assert len(_load(prepared[key] / f"{split}_float.json")) == count, split
    written = {p.name for p in prepared[key].glob("*.json")} - {"prepare_manifest.json"}
    expected = {f"{s}{v}.json" for s in EXPECTED[key] for v in (("", "_float") if has_windows else ("",))}
    assert written == expected


@pytest.mark.parametrize("key", list(EXPECTED))
def test_qids_unique_and_windows_inside_video(prepared, key):
    checker = check_nextqa_record if key.startswith("next") else check_record
    seen: set[str] = set()
    for path in sorted(prepared[key].glob("*.json")):
        if path.name == "prepare_manifest.json":
            continue
        records = _load(path)
        qids = [r["qid"] for r in records]
        assert len(set(qids)) == len(qids), path.name
        if not path.name.endswith("_float.json"):
            assert not seen & set(qids), f"{path.name} shares qids with another split"
            seen |= set(qids)
        for i, rec in enumerate(records):
            checker(rec, f"{path.name}[{i}]")
            for w in rec.get("relevant_windows", []):
                assert 0 <= w[0] <= w[1] <= rec["duration"], (path.name, rec["qid"], w)
        if path.name.endswith("_float.json"):
            continue
        for rec in records:  # integer files: integer windows and duration
            assert all(isinstance(x, int) for w in rec.get("relevant_windows", []) for x in w[:2])
    if not key.startswith("next"):
        for path in prepared[key].glob("*_float.json"):
            load_annotations(path)  # the framework's own reader accepts the files


def _clamped(start: float, end: float, duration: float) -> list[float]:
    start, end = sorted((float(start), float(end)))
    return [max(0.0, start), min(end, float(duration))]


def test_qvh_float_ground_truth_equals_source(prepared, shared_data):
    src = shared_data / "qvhighlights"
    for split, name in [("train", "highlight_train_release.jsonl"), ("val", "highlight_val_release.jsonl"),
                        ("test", "highlight_test_with_gt.jsonl")]:
        rows = [json.loads(line) for line in (src / name).read_text().splitlines() if line.strip()]
        out = _load(prepared["qvh"] / f"{split}_float.json")
        assert [r["qid"] for r in out] == [f"QVHighlight_{r['qid']}" for r in rows]
        for rec, row in zip(out, rows):
            assert rec["video"] == row["vid"] and rec["duration"] == row["duration"]
            assert rec["relevant_windows"] == [_clamped(s, e, row["duration"]) for s, e in row["relevant_windows"]]


def test_qvh_integer_files_equal_mr_blip_format_release(prepared, shared_data):
    """CALCE ships QVH annotations in Mr. BLIP's format; ours must agree on every field it has."""
    for split in ("train", "val"):
        theirs = _load(shared_data / "calce_annotations" / "qvh" / f"{split}.json")
        ours = _load(prepared["qvh"] / f"{split}.json")
        keys = ("video", "qid", "query", "duration", "relevant_windows")
        assert [{k: r[k] for k in keys} for r in ours] == [{k: r[k] for k in keys} for r in theirs]


def _charades_source(shared_data: Path, split: str) -> list[tuple[str, float, float, str, float]]:
    base = shared_data / "charades_sta"
    with open(base / f"Charades_v1_{split}.csv", newline="") as f:
        lengths = {r["id"]: float(r["length"]) for r in csv.DictReader(f)}
    out = []
    for line in (base / f"charades_sta_{split}.txt").read_text().splitlines():
        head, query = line.split("##", 1)
        video, start, end = head.split()
        out.append((video, float(start), float(end), query.strip(), lengths[video]))
    return out


def test_charades_float_ground_truth_and_durations(prepared, shared_data):
    for split in ("train", "test"):
        src = _charades_source(shared_data, split)
        out = _load(prepared["charades_sta_original"] / f"{split}_float.json")
        assert len(out) == len(src)
        for rec, (video, start, end, query, length) in zip(out, src):
            assert (rec["video"], rec["query"], rec["duration"]) == (video, query, length)
            assert rec["relevant_windows"] == [_clamped(start, end, length)]


def test_charades_custom_split_partitions_original_train(prepared):
    original = _load(prepared["charades_sta_original"] / "train_float.json")
    train = _load(prepared["charades_sta"] / "train_float.json")
    val = _load(prepared["charades_sta"] / "val_float.json")
    assert not {r["video"] for r in train} & {r["video"] for r in val}
    assert sorted(r["qid"] for r in train + val) == sorted(r["qid"] for r in original)
    # same qid -> same record whichever split mode produced it
    by_qid = {r["qid"]: r for r in original}
    assert all(by_qid[r["qid"]] == r for r in train + val)


def test_charades_integer_files_equal_mr_blip_format_release(prepared, shared_data):
    """CALCE's Charades train file (Mr. BLIP format, 4 queries dropped): same windows and durations."""
    theirs = _load(shared_data / "calce_annotations" / "charades" / "train.json")
    ours = _load(prepared["charades_sta_original"] / "train.json")
    j = 0
    for rec in theirs:
        while (ours[j]["video"], ours[j]["query"]) != (rec["video"], rec["query"]):
            j += 1
        assert (ours[j]["duration"], ours[j]["relevant_windows"]) == (rec["duration"], rec["relevant_windows"])
        j += 1


def test_anet_float_ground_truth_equals_source(prepared, shared_data):
    src = shared_data / "activitynet_captions"
    for split, name, prefix in [("train", "train.json", "ActivityNet"), ("val", "val_1.json", "ActivityNet"),
                                ("test", "val_2.json", "ActivityNet_val2")]:
        data = json.loads((src / name).read_text())
        expected = [
            (f"{prefix}_{video}_{j}", sentence.strip(), entry["duration"], [_clamped(s, e, entry["duration"])])
            for video, entry in data.items()
            for j, ((s, e), sentence) in enumerate(zip(entry["timestamps"], entry["sentences"]))
        ]
        out = _load(prepared["anet"] / f"{split}_float.json")
        assert [(r["qid"], r["query"], r["duration"], r["relevant_windows"]) for r in out] == expected


def test_nextqa_answers_match_source_and_golden_predictions(prepared, shared_data):
    preds = json.loads((shared_data / "nextqa" / "HGA-bert-ft-h256-val_preds.json").read_text())
    val = _load(prepared["nextqa"] / "val.json")
    answers = {f"{r['qid'].split('_')[1]}_{r['qid'].split('_')[2]}": r["answer"] for r in val}
    assert answers == {key: p["answer"] for key, p in preds.items()}
    assert {r["type"] for r in val} == {"CW", "CH", "TN", "TC", "TP", "DL", "DC", "DO"}
    assert all(r["video"].count("/") == 1 for r in val)


def test_nextgqa_windows_answers_and_durations(prepared, shared_data):
    src = shared_data / "nextgqa"
    for split in ("val", "test"):
        gsub = json.loads((src / f"gsub_{split}.json").read_text())
        with open(src / f"{split}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        out = _load(prepared["nextgqa"] / f"{split}_float.json")
        assert len(out) == len(rows)
        for rec, row in zip(out, rows):
            entry = gsub[row["video_id"]]
            assert rec["duration"] == entry["duration"]
            assert rec["relevant_windows"] == [_clamped(s, e, entry["duration"])
                                               for s, e in entry["location"][row["qid"]]]
            assert rec["options"][rec["answer"]] == row["answer"].strip()
    # the one duplicated option text is resolved from NExT-QA, not by first match
    test = {r["qid"]: r for r in _load(prepared["nextgqa"] / "test.json")}
    assert test["TC_3842638015_4"]["answer"] == 4
