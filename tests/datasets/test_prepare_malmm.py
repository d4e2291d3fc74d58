"""MA-LMM's annotation files → the project's QA / classification / captioning records: counts, fields,
windows, exclusions, and malformed entries reported with their file and key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prepare_fixtures import (
    write_breakfast,
    write_captions,
    write_coin,
    write_lvu,
    write_videoqa,
    write_youcook2,
)

from lavis.common.errors import DataError
from lavis.datasets.prepare import prepare_dataset
from lavis.datasets.prepare.__main__ import main
from lavis.datasets.prepare.lvu import TASKS, window_end, window_starts
from lavis.datasets.records import check_caption_record, check_open_qa_record, load_records


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")


# ----------------------------------------------------------------------------------------------- LVU


@pytest.mark.parametrize(
    ("duration", "starts"),
    [(99, [0]), (100, [0]), (119, [0]), (120, [0, 20]), (130, [0, 20]), (180, [0, 20, 40, 60, 80]), (40, [0])],
)
def test_lvu_window_starts_follow_malmm(duration, starts):
    """MA-LMM: 0, then range(stride, duration - history + 1, stride)."""
    assert window_starts(duration, 100, 20) == starts
    assert window_starts(duration, 100, 20) == [0, *range(20, duration - 100 + 1, 20)]


def test_lvu_window_ends():
    assert window_end(0, 130, 100) == 99
    assert window_end(20, 130, 100) == 119
    assert window_end(0, 40, 100) == 40  # shorter than the history: the window is the whole video


def test_lvu_all_tasks_one_file_per_task_and_split(tmp_path):
    src = write_lvu(tmp_path / "lvu")
    result = prepare_dataset("lvu", src, tmp_path / "out")
    assert set(result.counts) == {f"{t}_{s}.json" for t in TASKS for s in ("train", "val", "test")}
    # fixture: director = 130 s video (2 windows) + 160 s two-task video (4); genre = 99 s (1) + 160 s (4)
    expected = {"director": 6, "genre": 5, "relationship": 5, "scene": 2, "way_speaking": 1, "writer": 5, "year": 2}
    for task, count in expected.items():
        for split in ("train", "val", "test"):
            assert result.counts[f"{task}_{split}.json"] == count
    genre = load_records(tmp_path / "out" / "genre_val.json", check_open_qa_record)
    assert genre[0] == {"video": "val-genre", "qid": "genre_val-genre_0", "question": "what is the genre of the movie?",
                        "answer": "comedy", "duration": 99, "start": 0, "end": 99, "frame_length": 1188}
    both = [r for r in genre if r["video"] == "val-both"]
    assert [(r["start"], r["end"]) for r in both] == [(0, 99), (20, 119), (40, 139), (60, 159)]
    assert {r["answer"] for r in both} == {"action"}
    way = _load(tmp_path / "out" / "way_speaking_test.json")
    assert way[0]["question"] == "what is the way_speaking of the movie?"
    assert any("lvu director: videos/windows train 2/6" in n for n in result.notes)


def test_lvu_one_task_and_other_windowing(tmp_path, capsys):
    src = write_lvu(tmp_path / "lvu")
    code = main(["lvu", "--input", str(src), "--output", str(tmp_path / "out"), "--task", "relationship",
                 "--history", "60", "--stride", "60"])
    assert code == 0
    written = sorted(p.name for p in (tmp_path / "out").glob("*.json"))
    assert written == ["prepare_manifest.json", "relationship_test.json", "relationship_train.json",
                       "relationship_val.json"]
    records = _load(tmp_path / "out" / "relationship_train.json")
    assert [(r["start"], r["end"]) for r in records] == [(0, 59), (60, 119), (120, 179)]  # 180 s video
    manifest = json.loads((tmp_path / "out" / "prepare_manifest.json").read_text())
    assert manifest["options"] == {"task": "relationship", "history": 60, "stride": 60}
    assert "relationship_train.json" in capsys.readouterr().out


def test_lvu_bad_entries_are_named(tmp_path):
    src = write_lvu(tmp_path / "lvu")

    def spoil(data):
        data["train-genre"]["genre"] = "horror"
        data["train-scene"]["num_frames"] = 0
        del data["train-year"]["duration"]
        data["not-an-object"] = [1, 2]

    _edit(src / "train.json", spoil)
    with pytest.raises(DataError) as err:
        prepare_dataset("lvu", src, tmp_path / "out")
    message = str(err.value)
    where = f"{src / 'train.json'}: video"
    assert message.startswith("4 input problems, nothing was written")
    assert f"{where} 'train-genre': genre label 'horror' is not one of 'comedy', 'action'" in message
    assert f"{where} 'train-scene': 'num_frames' must be a positive integer, got 0" in message
    assert f"{where} 'train-year': missing field(s) duration" in message
    assert f"{where} 'not-an-object': expected an object, got list" in message
    assert not (tmp_path / "out").exists()


def test_lvu_rejects_an_unknown_task_and_bad_windowing(tmp_path):
    src = write_lvu(tmp_path / "lvu")
    with pytest.raises(DataError, match="unknown task 'mood'"):
        prepare_dataset("lvu", src, tmp_path / "out", task="mood")
    with pytest.raises(DataError, match="--history and --stride must be positive"):
        prepare_dataset("lvu", src, tmp_path / "out", stride=0)


def test_lvu_outputs_of_another_task_run_are_not_mixed_in(tmp_path):
    src = write_lvu(tmp_path / "lvu")
    prepare_dataset("lvu", src, tmp_path / "out", task="genre")
    with pytest.raises(DataError, match="genre_test.json, genre_train.json, genre_val.json from an earlier run"):
        prepare_dataset("lvu", src, tmp_path / "out", task="scene")


# ------------------------------------------------------------------------------------ Breakfast, COIN


def test_breakfast_excludes_malmm_videos_and_keeps_labels(tmp_path):
    result = prepare_dataset("breakfast", write_breakfast(tmp_path / "bf"), tmp_path / "out")
    assert result.counts == {"train.json": 2, "val.json": 2}
    train = load_records(tmp_path / "out" / "train.json", check_open_qa_record)
    assert train[0] == {"video": "P03-cam01-P03_friedegg", "qid": "P03-cam01-P03_friedegg",
                        "question": "what type of breakfast is shown in the video?", "answer": "fried egg",
                        "duration": 160, "frame_length": 1591}
    assert "P28-cam01-P28_cereals" not in {r["video"] for r in train}
    assert any("left out 1 video(s) excluded by MA-LMM: P28-cam01-P28_cereals" in n for n in result.notes)


def test_breakfast_label_errors_are_named(tmp_path):
    src = write_breakfast(tmp_path / "bf")

    def spoil(data):
        data["P47-cam01-P47_tea"]["class_name"] = "toast"
        data["P47-cam02-P47_scrambledegg"]["class_label"] = 4

    _edit(src / "val.json", spoil)
    with pytest.raises(DataError) as err:
        prepare_dataset("breakfast", src, tmp_path / "out")
    message = str(err.value)
    assert f"{src / 'val.json'}: video 'P47-cam01-P47_tea': class_name 'toast' is not one of the 10" in message
    assert ("video 'P47-cam02-P47_scrambledegg': class_label 4 does not match class_name 'scrambled egg' "
            "(expected 5)") in message


def test_coin_subsets_exclusions_and_undownloaded_videos(tmp_path):
    result = prepare_dataset("coin", write_coin(tmp_path / "coin"), tmp_path / "out")
    assert result.counts == {"train.json": 2, "val.json": 1}
    val = load_records(tmp_path / "out" / "val.json", check_open_qa_record)
    assert val == [{"video": "vidVal00001", "qid": "vidVal00001", "question": "what is the activity in the video?",
                    "answer": "make sandwich", "duration": 141.5, "frame_length": 900}]
    assert any("excluded by MA-LMM: AfiVmAjfTNs" in n for n in result.notes)
    assert any("1 video(s) without num_frames_actual" in n for n in result.notes)


def test_coin_bad_entry_is_named(tmp_path):
    src = write_coin(tmp_path / "coin")
    _edit(src / "COIN.json", lambda d: d["vidTrain002"].update(target="  ", num_frames_actual=12.5))
    with pytest.raises(DataError) as err:
        prepare_dataset("coin", src, tmp_path / "out")
    message = str(err.value)
    assert f"{src / 'COIN.json'}: video 'vidTrain002': 'target' must be non-empty text" in message
    assert f"{src / 'COIN.json'}: video 'vidTrain002': 'num_frames_actual' must be a positive integer" in message


# ------------------------------------------------------------------------------------------ video QA


def test_msrvtt_qa_qids_are_prefixed_with_the_split(tmp_path):
    result = prepare_dataset("msrvtt_qa", write_videoqa(tmp_path / "qa", "msrvtt"), tmp_path / "out")
    assert result.counts == {"train.json": 2, "val.json": 3, "test.json": 2}
    val = load_records(tmp_path / "out" / "val.json", check_open_qa_record)
    assert val[0] == {"video": "valVid0", "qid": "val_0000000", "question": "what are people sitting on 0?",
                      "answer": "couch", "answer_type": "what", "frame_length": 102}
    assert _load(tmp_path / "out" / "train.json")[0]["qid"] == "train_0000000"  # the source restarts at 0


def test_activitynet_qa_keeps_its_qids_and_writes_answer_type_as_text(tmp_path):
    prepare_dataset("activitynet_qa", write_videoqa(tmp_path / "qa", "activitynet"), tmp_path / "out")
    test = load_records(tmp_path / "out" / "test.json", check_open_qa_record)
    assert [r["qid"] for r in test] == ["v_testVid0_0", "v_testVid1_1"]
    assert test[0]["answer_type"] == "3"


def test_videoqa_bad_entries_are_named(tmp_path):
    src = write_videoqa(tmp_path / "qa", "msvd")

    def spoil(data):
        data["0000001"]["answer"] = ""
        del data["0000002"]["video"]

    _edit(src / "qa_val.json", spoil)
    with pytest.raises(DataError) as err:
        prepare_dataset("msvd_qa", src, tmp_path / "out")
    message = str(err.value)
    assert f"{src / 'qa_val.json'}: question '0000001': 'answer' must be non-empty text, got ''" in message
    assert f"{src / 'qa_val.json'}: question '0000002': missing field(s) video" in message


def test_videoqa_needs_val_only(tmp_path):
    src = write_videoqa(tmp_path / "qa", "msrvtt")
    (src / "qa_train.json").unlink()
    (src / "qa_test.json").unlink()
    result = prepare_dataset("msrvtt_qa", src, tmp_path / "out")
    assert set(result.counts) == {"val.json"}
    assert any("no qa_train.json" in n for n in result.notes) and any("no qa_test.json" in n for n in result.notes)
    (src / "qa_val.json").unlink()
    with pytest.raises(DataError, match="qa_val.json not found: expected the MSRVTT-QA val annotations"):
        prepare_dataset("msrvtt_qa", src, tmp_path / "out2")


# ------------------------------------------------------------------------------------------ captions


@pytest.mark.parametrize("name", ["msrvtt_caption", "msvd_caption"])
def test_captions_are_grouped_per_video(tmp_path, name):
    result = prepare_dataset(name, write_captions(tmp_path / "cap"), tmp_path / "out")
    assert result.counts == {"train.json": 2, "val.json": 1, "test.json": 1}
    train = load_records(tmp_path / "out" / "train.json", check_caption_record)
    assert train[0] == {"video": "video1", "qid": "video1", "frame_length": 152,
                        "captions": ["a person does thing 0", "a person does thing 1", "a person does thing 2"]}
    assert train[1]["captions"] == ["a person does thing 0"]


def test_caption_errors_are_named(tmp_path):
    src = write_captions(tmp_path / "cap")

    def spoil(data):
        data["1"]["caption"] = None
        data["2"]["frame_length"] = 99  # the same video said 152 before

    _edit(src / "cap_train.json", spoil)
    with pytest.raises(DataError) as err:
        prepare_dataset("msrvtt_caption", src, tmp_path / "out")
    message = str(err.value)
    assert f"{src / 'cap_train.json'}: caption '1': 'caption' must be non-empty text, got None" in message
    assert f"{src / 'cap_train.json'}: caption '2': frame_length 99 differs from 152" in message


def test_youcook2_segments_windows_and_test_without_captions(tmp_path):
    result = prepare_dataset("youcook2", write_youcook2(tmp_path / "yc2"), tmp_path / "out")
    assert result.counts == {"train.json": 2, "val.json": 2}  # no test.json: its captions are empty
    assert any("cap_test.json has no reference captions (2 segments)" in n and "evaluate on val" in n
               for n in result.notes)
    assert any("1 window end(s) beyond the video duration clamped" in n for n in result.notes)
    val = load_records(tmp_path / "out" / "val.json", check_caption_record)
    assert val[0] == {"video": "ytB", "qid": "ytB_0016_0026", "captions": ["season the flour"], "duration": 120.5,
                      "start": 16.0, "end": 26.0, "frame_length": 1205}
    assert (val[1]["start"], val[1]["end"]) == (110.0, 120.5)  # end 125 clamped to the duration


def test_youcook2_segment_errors_are_named(tmp_path):
    src = write_youcook2(tmp_path / "yc2")

    def spoil(data):
        key = next(iter(data))
        data[key].update(start_time=300, end_time=310)  # after the end of the 120.5 s video
        data["ytB_0110_0125"]["caption"] = ""

    _edit(src / "cap_val.json", spoil)
    with pytest.raises(DataError) as err:
        prepare_dataset("youcook2", src, tmp_path / "out")
    message = str(err.value)
    assert f"{src / 'cap_val.json'}: segment 'ytB_0016_0026': window [300, 310] starts after the video ends" in message
    assert f"{src / 'cap_val.json'}: segment 'ytB_0110_0125': 'caption' must be non-empty text" in message
