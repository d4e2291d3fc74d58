"""The QA / captioning record checkers accept the documented formats and name what is wrong otherwise."""

from __future__ import annotations

import json

import pytest

from lavis.common.errors import DataError
from lavis.datasets.records import (
    check_caption_record,
    check_mc_qa_record,
    check_open_qa_record,
    load_records,
    mc_qa_checker,
)

OPEN = {"video": "v1", "qid": "q1", "question": "what is it?", "answer": "cat", "answer_type": "what",
        "duration": 12.5, "start": 1.0, "end": 4.0, "frame_length": 125}
CAPTION = {"video": "v1", "qid": "v1", "captions": ["a cat sits", "a cat"], "frame_length": 40}
MC = {"video": "v1", "qid": "Interaction_T1_1", "question": "what?", "options": ["a", "b", "c", "d"], "answer": 3,
      "type": "Interaction", "start": 0.0, "end": 2.5}


def test_valid_records_pass_unchanged():
    assert check_open_qa_record(dict(OPEN), "f[0]") == OPEN
    assert check_open_qa_record({"video": "v", "qid": "q", "question": "q?", "answer": "a"}, "f[0]")
    assert check_caption_record(dict(CAPTION), "f[0]") == CAPTION
    assert check_mc_qa_record(dict(MC), "f[0]") == MC
    assert mc_qa_checker(4)(dict(MC), "f[0]") == MC
    grounded = {**MC, "duration": 10, "relevant_windows": [[1, 2.5], [3, 10]]}
    assert check_mc_qa_record(grounded, "f[0]") == grounded


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"qid": 7}, "f[3]: field 'qid' must be non-empty text, got 7"),
        ({"answer": ""}, "f[3]: field 'answer' must be non-empty text"),
        ({"answer_type": 3}, "f[3]: field 'answer_type' must be non-empty text, got 3"),
        ({"duration": 0}, "f[3]: 'duration' must be a positive number of seconds, got 0"),
        ({"start": 5.0}, r"f[3]: clip window start=5.0, end=4.0 must satisfy 0 <= start <= end"),
        ({"end": 20.0}, "f[3]: clip window ends at 20.0 s, after the video ends (12.5 s)"),
        ({"frame_length": 12.0}, "f[3]: 'frame_length' must be a positive integer (frames), got 12.0"),
    ],
)
def test_open_qa_problems_are_named(change, message):
    with pytest.raises(DataError) as err:
        check_open_qa_record({**OPEN, **change}, "f[3]")
    assert str(err.value).startswith(message)


def test_a_clip_window_needs_both_ends():
    rec = {k: v for k, v in OPEN.items() if k != "end"}
    with pytest.raises(DataError, match="'start' and 'end' come together"):
        check_open_qa_record(rec, "f[0]")


@pytest.mark.parametrize("captions", [[], ["ok", ""], "a cat", None])
def test_caption_problems_are_named(captions):
    with pytest.raises(DataError, match=r"f\[1\]: 'captions' must be a non-empty list of non-empty strings"):
        check_caption_record({**CAPTION, "captions": captions}, "f[1]")


@pytest.mark.parametrize(
    ("change", "num_options", "message"),
    [
        ({"options": ["a", "b", "c"]}, 4, "'options' must be 4 non-empty strings"),
        ({"options": ["a"]}, None, "'options' must be at least 2 non-empty strings"),
        ({"options": ["a", ""]}, None, "'options' must be at least 2 non-empty strings"),
        ({"answer": 4}, None, "'answer' must be an option index 0..3, got 4"),
        ({"answer": True}, None, "'answer' must be an option index 0..3, got True"),
        ({"answer": "b"}, None, "'answer' must be an option index 0..3, got 'b'"),
        ({"relevant_windows": [[1, 2, 3]]}, None, "'relevant_windows' must be a non-empty list of [start, end]"),
        ({"duration": 5, "end": 2, "relevant_windows": [[1, 6]]}, None, "window [1, 6] is not within [0, duration=5]"),
    ],
)
def test_mc_problems_are_named(change, num_options, message):
    with pytest.raises(DataError) as err:
        check_mc_qa_record({**MC, **change}, "f[2]", num_options)
    assert str(err.value).startswith(f"f[2]: {message}")


def test_load_records_checks_every_record_and_unique_qids(tmp_path):
    path = tmp_path / "val.json"
    path.write_text(json.dumps([OPEN, {**OPEN, "qid": "q2"}]))
    assert [r["qid"] for r in load_records(path, check_open_qa_record)] == ["q1", "q2"]
    path.write_text(json.dumps([OPEN, {**OPEN, "question": ""}]))
    with pytest.raises(DataError, match=r"val.json\[1\]: field 'question' must be non-empty text"):
        load_records(path, check_open_qa_record)
    path.write_text(json.dumps([OPEN, OPEN]))
    with pytest.raises(DataError, match=r"1 qid\(s\) occur more than once \(e.g. 'q1'\)"):
        load_records(path, check_open_qa_record)
    lines = tmp_path / "val.jsonl"
    lines.write_text(json.dumps(CAPTION) + "\n")
    assert load_records(lines, check_caption_record) == [CAPTION]
