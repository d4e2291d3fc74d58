"""Malformed inputs are reported with file:line, and a failed run leaves nothing behind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from prepare_fixtures import (
    write_all_downloads,
    write_anet,
    write_charades,
    write_nextgqa,
    write_nextqa,
    write_qvh,
)

from lavis.common.errors import DataError
from lavis.datasets.prepare import prepare_dataset
from lavis.datasets.prepare.__main__ import main


def _append_line(path: Path, line: str) -> int:
    """Append a line; return its 1-based line number."""
    text = path.read_text(encoding="utf-8")
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + line + "\n", encoding="utf-8")
    return text.count("\n") + 1


def _nothing_written(out: Path) -> bool:
    return not out.exists() or not any(out.iterdir())


def test_every_fixture_dataset_prepares(tmp_path):
    downloads = write_all_downloads(tmp_path / "downloads")
    options = {"charades_sta": {"num_val_videos": 2}}
    for name, src in downloads.items():
        result = prepare_dataset(name, src, tmp_path / "out" / name, **options.get(name, {}))
        assert result.counts and all(n > 0 for n in result.counts.values())


def test_every_malformed_line_is_reported_with_file_and_line(tmp_path):
    src = write_qvh(tmp_path / "qvh")
    val = src / "highlight_val_release.jsonl"
    bad_json = _append_line(val, '{"qid": 13, "query": "broken"')
    no_windows = _append_line(val, json.dumps({"qid": 14, "query": "q", "duration": 150, "vid": "v"}))
    bad_window = _append_line(val, json.dumps({"qid": 15, "query": "q", "duration": 150, "vid": "v",
                                               "relevant_windows": [[160, 170]]}))
    out = tmp_path / "out"
    with pytest.raises(DataError) as err:
        prepare_dataset("qvh", src, out)
    message = str(err.value)
    assert message.startswith("3 input problems, nothing was written")
    assert f"{val}:{bad_json}: invalid JSON" in message
    assert f"{val}:{no_windows}: missing field(s) relevant_windows" in message
    assert f"{val}:{bad_window}: window [160, 170] starts after the video ends" in message
    assert _nothing_written(out)


def test_charades_lines_and_csv_rows_are_located(tmp_path):
    src = write_charades(tmp_path / "charades")
    txt = src / "charades_sta_train.txt"
    no_sep = _append_line(txt, "TR001 1.0 2.0 person walks")
    unknown = _append_line(txt, "NOPE1 1.0 2.0##person walks.")
    not_number = _append_line(txt, "TR001 one 2.0##person walks.")
    csv_line = _append_line(src / "Charades_v1_test.csv", "TE009,S,x,5,6,Yes,s,o,d,,-3")
    with pytest.raises(DataError) as err:
        prepare_dataset("charades_sta", src, tmp_path / "out", num_val_videos=2)
    message = str(err.value)
    assert f"{txt}:{no_sep}: expected 'VIDEO START END##QUERY'" in message
    assert f"{txt}:{unknown}: video NOPE1 has no 'length' in Charades_v1_train.csv" in message
    assert f"{txt}:{not_number}: start/end must be numbers" in message
    assert f"{src / 'Charades_v1_test.csv'}:{csv_line}: duration must be a positive number" in message
    assert _nothing_written(tmp_path / "out")


def test_qa_rows_are_located(tmp_path):
    qa = write_nextqa(tmp_path / "nextqa")
    bad_answer = _append_line(qa / "val.csv", "1001,300,640,480,what,7,9,CW,a,b,c,d,e")
    unmapped = _append_line(qa / "test.csv", "9999,300,640,480,what,1,2,CW,a,b,c,d,e")
    ragged = _append_line(qa / "test.csv", "1001,300,640")
    with pytest.raises(DataError) as err:
        prepare_dataset("nextqa", qa, tmp_path / "out")
    message = str(err.value)
    assert f"{qa / 'val.csv'}:{bad_answer}: answer must be an option index 0..4, got '7'" in message
    assert f"{qa / 'test.csv'}:{unmapped}: video 9999 is not in map_vid_vidorID.json" in message
    assert f"{qa / 'test.csv'}:{ragged}: expected 13 comma-separated fields, found 3" in message

    gqa = write_nextgqa(tmp_path / "nextgqa")
    wrong_text = _append_line(gqa / "val.csv", "1001,300,640,480,what,fly,0,CW,a,b,c,d,e")
    with pytest.raises(DataError) as err:
        prepare_dataset("nextgqa", gqa, tmp_path / "out2")
    assert f"{gqa / 'val.csv'}:{wrong_text}: answer 'fly' is not one of the options" in str(err.value)


def test_nextgqa_duplicated_answer_text_is_reported(tmp_path):
    gqa = write_nextgqa(tmp_path / "nextgqa")
    line = _append_line(gqa / "test.csv", "2002,300,640,480,how,happy,1,TC,x,happy,y,happy,z")
    # qid 1 of video 2002 is grounded in the fixture's gsub_test.json
    result = prepare_dataset("nextgqa", gqa, tmp_path / "out")
    warning = [n for n in result.notes if n.startswith("WARNING")]
    assert warning and f"{gqa / 'test.csv'}:{line}" in warning[0] and "options [1, 3]" in warning[0]


def test_anet_inverted_window_is_swapped_and_reported(tmp_path):
    src = write_anet(tmp_path / "anet")
    result = prepare_dataset("anet", src, tmp_path / "out")
    assert any("v_bbb' sentence 1" in n and "swapped" in n for n in result.notes)
    assert any("window end(s) beyond the video duration clamped" in n for n in result.notes)
    train = json.loads((tmp_path / "out" / "train_float.json").read_text())
    by_qid = {r["qid"]: r for r in train}
    assert by_qid["ActivityNet_v_bbb_1"]["relevant_windows"] == [[39.1, 40.5]]
    assert by_qid["ActivityNet_v_aaa_1"]["relevant_windows"] == [[17.37, 82.73]]  # clamped
    assert by_qid["ActivityNet_v_aaa_1"]["query"] == "She bows."
    integer = {r["qid"]: r for r in json.loads((tmp_path / "out" / "train.json").read_text())}
    assert integer["ActivityNet_v_aaa_1"] == {**by_qid["ActivityNet_v_aaa_1"], "duration": 83,
                                              "relevant_windows": [[17, 83]]}


def test_duplicate_qids_across_splits_fail_before_writing(tmp_path):
    src = write_qvh(tmp_path / "qvh")
    _append_line(src / "highlight_val_release.jsonl",
                 json.dumps({"qid": 1, "query": "q", "duration": 150, "vid": "v", "relevant_windows": [[0, 2]]}))
    with pytest.raises(DataError, match=r"1 qid\(s\) are not unique \('QVHighlight_1' in train.json, val.json\)"):
        prepare_dataset("qvh", src, tmp_path / "out")
    assert _nothing_written(tmp_path / "out")


def test_qvh_without_test_ground_truth_never_writes_a_test_file(tmp_path):
    src = write_qvh(tmp_path / "qvh", with_gt=False)
    result = prepare_dataset("qvh", src, tmp_path / "out")
    assert "test.json" not in result.counts and "test_float.json" not in result.counts
    records = json.loads((tmp_path / "out" / "test_no_gt.json").read_text())
    assert records and all(r["relevant_windows"] == [] and r["gt_available"] is False for r in records)


def test_failure_while_writing_leaves_no_file(tmp_path, monkeypatch):
    src = write_qvh(tmp_path / "qvh")
    out = tmp_path / "out"
    out.mkdir()
    calls = {"n": 0}
    real_fsync = os.fsync

    def failing_fsync(fd):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        prepare_dataset("qvh", src, out)
    assert list(out.iterdir()) == []


def test_outputs_of_another_run_are_not_mixed_in(tmp_path):
    src = write_charades(tmp_path / "charades")
    out = tmp_path / "out"
    prepare_dataset("charades_sta", src, out, num_val_videos=2)
    prepare_dataset("charades_sta", src, out, num_val_videos=2)  # same options: overwrites
    with pytest.raises(DataError, match="val.json, val_float.json from an earlier run"):
        prepare_dataset("charades_sta", src, out, split="original")


def test_cli_prints_one_error_and_exits_2(tmp_path, capsys):
    code = main(["anet", "--input", str(tmp_path / "missing"), "--output", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err.strip() == f"error: --input {tmp_path / 'missing'} is not a directory"
    assert "Traceback" not in captured.err


def test_cli_reports_counts(tmp_path, capsys):
    src = write_charades(tmp_path / "charades")
    code = main(["charades_sta", "--input", str(src), "--output", str(tmp_path / "out"), "--num-val-videos", "2"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "train.json" in printed and "val_float.json" in printed and "window end(s)" in printed
    manifest = json.loads((tmp_path / "out" / "prepare_manifest.json").read_text())
    assert manifest["options"] == {"split": "custom", "seed": 42, "num_val_videos": 2}
    assert sum(manifest["outputs"][f"{s}.json"] for s in ("train", "val")) == 9
