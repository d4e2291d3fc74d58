"""SeViLA's datasets from their official files → multiple-choice records: qids, option counts, answer
indices, clip windows, VLEP's video rule; malformed lines reported with file:line (or file[index])."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prepare_fixtures import write_star, write_tvqa, write_vlep

from lavis.common.errors import DataError
from lavis.datasets.prepare import prepare_dataset
from lavis.datasets.prepare.__main__ import main
from lavis.datasets.prepare.tvqa import parse_ts
from lavis.datasets.prepare.vlep import video_path
from lavis.datasets.records import check_mc_qa_record, load_records, mc_qa_checker


def _load(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))


def _append_line(path: Path, line: str) -> int:
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


# ---------------------------------------------------------------------------------------------- STAR


def test_star_answer_index_from_choice_text_and_windows(tmp_path):
    result = prepare_dataset("star", write_star(tmp_path / "star"), tmp_path / "out")
    assert result.counts == {"train.json": 2, "val.json": 2}
    train = load_records(tmp_path / "out" / "train.json", mc_qa_checker(4))
    assert train[0] == {"video": "6H78U", "qid": "Interaction_T1_13", "question": "Which object was taken by the person?",
                        "options": ["The closet.", "The cup.", "The door.", "The towel."], "answer": 2,
                        "type": "Interaction", "start": 11.1, "end": 19.6}
    val = _load(tmp_path / "out" / "val.json")
    assert [(r["type"], r["answer"]) for r in val] == [("Prediction", 3), ("Feasibility", 1)]
    assert (val[1]["start"], val[1]["end"]) == (2.5, 4.0)  # given inverted: swapped and reported
    assert any("WARNING star: 1 window(s) had start > end" in n and "STAR_val.json[1]" in n for n in result.notes)


def test_star_problems_name_file_and_index(tmp_path):
    src = write_star(tmp_path / "star")
    data = _load(src / "STAR_train.json")
    data[0]["answer"] = "The window."
    data[1]["choices"] = data[1]["choices"][:3]
    data.append({"question_id": "Mystery_T9_1", "question": "q", "video_id": "v", "answer": "a",
                 "choices": data[0]["choices"], "start": 0, "end": 1})
    (src / "STAR_train.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataError) as err:
        prepare_dataset("star", src, tmp_path / "out")
    message = str(err.value)
    path = src / "STAR_train.json"
    assert f"{path}[0] (question_id 'Interaction_T1_13'): answer 'The window.' is not the text of any choice" in message
    assert f"{path}[1] (question_id 'Sequence_T2_7'): 'choices' must be 4 objects with a 'choice' text" in message
    assert f"{path}[2] (question_id 'Mystery_T9_1'): question_id should start with one of Interaction" in message


def test_star_duplicated_choice_text_uses_the_first_and_warns(tmp_path):
    src = write_star(tmp_path / "star")
    data = _load(src / "STAR_val.json")
    data[0]["choices"][1]["choice"] = data[0]["answer"]  # the answer text (choice 3) also at choice 1
    (src / "STAR_val.json").write_text(json.dumps(data), encoding="utf-8")
    result = prepare_dataset("star", src, tmp_path / "out")
    assert _load(tmp_path / "out" / "val.json")[0]["answer"] == 1
    assert any(n.startswith("WARNING star: 1 answer text(s) match several choices") and "choices [1, 3]" in n
               for n in result.notes)


# ------------------------------------------------------------------------------------- TVQA, How2QA


@pytest.mark.parametrize(("name", "prefix", "num_options"), [("tvqa", "TVQA", 5), ("how2qa", "HOW2QA", 4)])
def test_tvqa_format_qids_options_and_ts(tmp_path, name, prefix, num_options):
    result = prepare_dataset(name, write_tvqa(tmp_path / name, how2qa=name == "how2qa"), tmp_path / "out")
    assert result.counts == {"train.json": 2, "val.json": 3}
    val = load_records(tmp_path / "out" / "val.json", mc_qa_checker(num_options))
    assert [r["qid"] for r in val] == [f"{prefix}_0", f"{prefix}_1", f"{prefix}_2"]  # SeViLA's: TVQA_<line>
    assert val[0] == {"video": "s03e02_seg02_clip_02", "qid": f"{prefix}_0", "question": "Why does he leave 2?",
                      "options": [f"Because of reason {j}." for j in range(num_options)], "answer": 2 % num_options,
                      "start": 76.01, "end": 84.2}
    assert "start" not in val[1] and "end" not in val[1]  # ts "NaN-NaN": no moment, the whole clip
    assert any(n.startswith(f"WARNING {name}: 1 question(s) have a NaN 'ts'") for n in result.notes)
    train = _load(tmp_path / "out" / "train.json")
    assert [r["qid"] for r in train] == [f"{prefix}_train_0", f"{prefix}_train_1"]
    assert (train[1]["start"], train[1]["end"]) == (0.5, 3.0)


def test_parse_ts():
    assert parse_ts("20.16-25.12") == ["20.16", "25.12"]
    assert parse_ts([1, 2]) == [1, 2]
    assert parse_ts("20.16") is None and parse_ts(3) is None


def test_tvqa_bad_lines_are_located(tmp_path):
    src = write_tvqa(tmp_path / "tvqa")
    val = src / "tvqa_val.jsonl"
    good = json.loads(val.read_text().splitlines()[0])
    bad_idx = _append_line(val, json.dumps({**good, "answer_idx": 5}))
    bad_ts = _append_line(val, json.dumps({**good, "ts": "12.5"}))
    no_option = _append_line(val, json.dumps({k: v for k, v in good.items() if k != "a4"}))
    broken = _append_line(val, '{"q": "unfinished"')
    with pytest.raises(DataError) as err:
        prepare_dataset("tvqa", src, tmp_path / "out")
    message = str(err.value)
    assert message.startswith("4 input problems, nothing was written")
    assert f"{val}:{bad_idx}: answer_idx must be an option index 0..4, got 5" in message
    assert f"{val}:{bad_ts}: ts must be \"start-end\" (seconds), got '12.5'" in message
    assert f"{val}:{no_option}: missing field(s) a4" in message
    assert f"{val}:{broken}: invalid JSON" in message
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------- VLEP


def test_vlep_video_rule():
    assert video_path("friends_s03e09_seg02_clip_07_ep") == "tvqa/friends_s03e09_seg02_clip_07"
    youtube = "OO9kSxcT9Rg_subs_012_00:13:00_00:14:00_ep"
    assert video_path(youtube) == f"youtube/{youtube}"
    assert video_path(youtube, youtube_dir="") == youtube
    assert video_path("friends_s03e09_seg02_clip_07_ep", tvqa_dir="tv") == "tv/friends_s03e09_seg02_clip_07"


def test_vlep_two_events_ids_and_dev_as_val(tmp_path, capsys):
    src = write_vlep(tmp_path / "vlep")
    code = main(["vlep", "--input", str(src), "--output", str(tmp_path / "out"), "--tvqa-dir", "tvqa_3fps"])
    assert code == 0
    train = load_records(tmp_path / "out" / "train.json", mc_qa_checker(2))
    assert train[0] == {"video": "tvqa_3fps/friends_s03e09_seg02_clip_07", "qid": "VLEP_1",
                        "question": "What is the most probable subsequent event?",
                        "options": ["The customer eats the food.", "The customer takes the tray."], "answer": 0,
                        "start": 38.8, "end": 40.37}
    assert train[1]["video"] == "youtube/OO9kSxcT9Rg_subs_012_00:13:00_00:14:00_ep"
    assert [r["qid"] for r in _load(tmp_path / "out" / "val.json")] == ["VLEP_21411"]
    assert "2 examples from TVQA clips (under tvqa_3fps/), 1 from YouTube vlogs" in capsys.readouterr().out


def test_vlep_bad_lines_are_located(tmp_path):
    src = write_vlep(tmp_path / "vlep")
    dev = src / "vlep_dev_release.jsonl"
    good = json.loads(dev.read_text().splitlines()[0])
    three_events = _append_line(dev, json.dumps({**good, "example_id": 7, "events": ["a", "b", "c"]}))
    bad_answer = _append_line(dev, json.dumps({**good, "example_id": 8, "answer": 2}))
    bad_ts = _append_line(dev, json.dumps({**good, "example_id": 9, "ts": [1.0]}))
    with pytest.raises(DataError) as err:
        prepare_dataset("vlep", src, tmp_path / "out")
    message = str(err.value)
    assert f"{dev}:{three_events}: 'events' must be the 2 candidate events" in message
    assert f"{dev}:{bad_answer}: 'answer' must be 0 or 1, got 2" in message
    assert f"{dev}:{bad_ts}: window [1.0] is not [start, end]" in message


def test_duplicate_example_ids_across_splits_fail(tmp_path):
    src = write_vlep(tmp_path / "vlep")
    good = json.loads((src / "vlep_dev_release.jsonl").read_text().splitlines()[0])
    _append_line(src / "vlep_dev_release.jsonl", json.dumps({**good, "example_id": 1}))
    with pytest.raises(DataError, match=r"1 qid\(s\) are not unique \('VLEP_1' in train.json, val.json\)"):
        prepare_dataset("vlep", src, tmp_path / "out")


def test_outputs_pass_the_generic_mc_checker(tmp_path):
    for name, writer in [("star", write_star), ("tvqa", write_tvqa), ("vlep", write_vlep)]:
        prepare_dataset(name, writer(tmp_path / name), tmp_path / "out" / name)
        for path in (tmp_path / "out" / name).glob("*.json"):
            if path.name != "prepare_manifest.json":
                load_records(path, check_mc_qa_record)
