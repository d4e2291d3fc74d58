"""NExT-GQA grounding metrics on a hand-built set whose values are worked out below."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.grounding import evaluate_grounding, main, span_overlap

# gsub layout: {video: {"duration", "location": {qid: [[start, end], ...]}}}
GSUB = {
    "v1": {"duration": 200, "location": {"0": [[10, 20]], "1": [[8, 11], [12, 200]]}, "fps": 30},
    "v2": {"duration": 30, "location": {"0": [[5, 15]], "1": [[11.5, 20]]}, "fps": 30},
    "v3": {"duration": 12, "location": {"0": [[5, 10]], "1": [[6, 10]]}, "fps": 30},
}
SPANS = {
    # q1: inter = min(22, 20) - max(12, 10) = 8; hull = 22 - 10 = 12 -> IoU 8/12 = .6667; IoP 8/10 = .8
    "v1_0": [12, 22],
    # q2, two GT windows, each maximised on its own:
    #   [8, 11]:   inter 11 - 10 = 1, hull 20 - 8 = 12   -> IoU 1/12 = .0833, IoP 1/10 = .1
    #   [12, 200]: inter 20 - 12 = 8, hull 200 - 10 = 190 -> IoU 8/190 = .0421, IoP 8/10 = .8
    #   -> IoU 1/12 (first window), IoP .8 (second window)
    "v1_1": [10, 20],
    # q3: one keyframe at 7.5 s, inside [5, 15] -> IoU 0, IoP 1
    "v2_0": {"location": [7.5]},
    # q4: keyframes (unsorted) -> span [9, 14]; inter = 14 - 11.5 = 2.5; hull = 20 - 9 = 11
    #   -> IoU 2.5/11 = .2273, IoP 2.5/5 = .5 exactly (on the threshold: counts)
    "v2_1": {"location": [14, 9, 11]},
    # q5: inter = 8 - 5 = 3, hull = 10 - 0 = 10 -> IoU .3 exactly (counts), IoP 3/8 = .375
    "v3_0": [0, 8],
    # q6: disjoint -> IoU 0, IoP 0
    "v3_1": [0, 5],
}
# every answer is 1; q2 is answered wrongly
QA = {key: {"prediction": 0 if key == "v1_1" else 1, "answer": 1} for key in SPANS}

# mIoU = (2/3 + 1/12 + 0 + 5/22 + 3/10 + 0) / 6 = (281/220) / 6 = 0.212878... -> 21.29
# mIoP = (4/5 + 4/5 + 1 + 1/2 + 3/8 + 0) / 6 = (139/40) / 6 = 0.579166... -> 57.92
# IoU >= .3: q1, q5 -> 2/6 = 33.33;  IoU >= .5: q1 -> 1/6 = 16.67
# IoP >= .3: q1..q5 -> 5/6 = 83.33;  IoP >= .5: q1..q4 -> 4/6 = 66.67
# Acc@QA: all but q2 -> 5/6 = 83.33
# Acc@GQA (right answer and IoP >= .5): q1, q3, q4 (q2 wrong answer, q5 IoP .375, q6 IoP 0) -> 3/6 = 50
EXPECTED = {
    "Acc@QA": 83.33, "Acc@GQA": 50.0, "mIoP": 57.92, "IoP@0.3": 83.33, "IoP@0.5": 66.67,
    "mIoU": 21.29, "IoU@0.3": 33.33, "IoU@0.5": 16.67, "num_questions": 6, "ignored_predictions": 0,
}  # fmt: skip


def test_hand_built_set() -> None:
    assert evaluate_grounding(SPANS, GSUB, QA) == EXPECTED


def test_span_overlap_cases() -> None:
    assert span_overlap((12, 22), (10, 20)) == (8 / 12, 8 / 10)
    assert span_overlap((5, 5), (5, 15)) == (0.0, 1.0)  # a point on the GT start is inside
    assert span_overlap((16, 16), (5, 15)) == (0.0, 0.0)
    assert span_overlap((0, 5), (5, 10)) == (0.0, 0.0)  # touching is no overlap


def test_qa_embedded_in_keyframe_records_and_prepared_ground_truth() -> None:
    """SeViLA-style records carry location + prediction + answer; prepared records carry the answer and
    qids '<type>_<video>_<qid>'. Same six questions -> the same numbers."""
    predictions = {
        key: {"location": span if isinstance(span, list) else span["location"], **QA[key]}
        for key, span in SPANS.items()
    }
    records = [
        {"qid": f"TN_{video}_{qid}", "relevant_windows": windows, "duration": entry["duration"], "answer": 1}
        for video, entry in GSUB.items()
        for qid, windows in entry["location"].items()
    ]
    assert evaluate_grounding(predictions, records) == EXPECTED


def test_without_qa_predictions_only_grounding_is_scored() -> None:
    metrics = evaluate_grounding(SPANS, GSUB)
    assert metrics["Acc@QA"] is None and metrics["Acc@GQA"] is None and metrics["mIoP"] == 57.92


def test_relative_spans_are_scaled_by_duration_and_rounded_to_a_tenth() -> None:
    """[0.0501, 0.1] x 200 s = [10.02, 20] -> [10.0, 20.0]: IoU 1 with [10, 20], IoP 1."""
    gsub = {"v1": {"duration": 200, "location": {"0": [[10, 20]]}}}
    metrics = evaluate_grounding({"v1_0": [0.0501, 0.1]}, gsub, relative=True)
    assert metrics["mIoU"] == 100.0 and metrics["mIoP"] == 100.0


def test_extra_predictions_error_unless_ignored_and_then_counted() -> None:
    spans = {**SPANS, "v9_0": [0, 1], "v9_1": [0, 1]}
    qa = {**QA, "v9_0": {"prediction": 0, "answer": 0}, "v9_1": {"prediction": 0, "answer": 0}}
    with pytest.raises(DataError, match=r"2 span prediction\(s\) are for questions not in the grounding.*--ignore-extra"):
        evaluate_grounding(spans, GSUB, qa)
    assert evaluate_grounding(spans, GSUB, qa, ignore_extra=True) == {**EXPECTED, "ignored_predictions": 2}


@pytest.mark.parametrize(
    ("spans", "qa", "message"),
    [
        ({k: v for k, v in SPANS.items() if k != "v2_0"}, QA, r"1 of 6 grounded question\(s\) have no span prediction \(e.g. 'v2_0'\)"),
        (SPANS, {k: v for k, v in QA.items() if k != "v3_1"}, r"1 of 6 grounded question\(s\) have no QA prediction"),
        ({**SPANS, "v1_0": [22, 12]}, QA, r"key 'v1_0': window \[22, 12\] ends before it starts"),
        ({**SPANS, "v1_0": [1, 2, 3]}, QA, r"key 'v1_0': expected a window \[start, end\]"),
        ({**SPANS, "v2_0": {"location": []}}, QA, r"'location' must be a non-empty list of keyframe times"),
        ({**SPANS, "TN_v1_0": [0, 1]}, QA, r"question 'v1_0' is predicted twice"),
        (SPANS, {k: {"prediction": 1} for k in QA}, r"6 question\(s\) have no answer to check against"),
        ([], QA, r"expected an object keyed by '<video>_<qid>'"),
    ],
)  # fmt: skip
def test_bad_input_is_an_error(spans: Any, qa: Any, message: str) -> None:
    with pytest.raises(DataError, match=message):
        evaluate_grounding(spans, GSUB, qa)


def test_ground_truth_errors_name_the_record() -> None:
    with pytest.raises(DataError, match=r"video 'v1' question '0': expected a non-empty list of windows"):
        evaluate_grounding(SPANS, {"v1": {"duration": 9, "location": {"0": []}}})
    records = [{"qid": "TN_v1_0", "relevant_windows": [[0, 1]], "answer": 0}]
    with pytest.raises(DataError, match=r"carry an 'answer' that differs"):
        evaluate_grounding({"v1_0": [0, 1]}, records, {"v1_0": {"prediction": 0, "answer": 1}})
    with pytest.raises(DataError, match=r"no duration to scale a relative span"):
        evaluate_grounding({"v1_0": [0, 1]}, records, relative=True)


def test_cli_writes_metrics_and_reports_errors(tmp_path: Path, capsys) -> None:
    paths = {name: tmp_path / f"{name}.json" for name in ("gsub", "spans", "qa")}
    for name, obj in (("gsub", GSUB), ("spans", SPANS), ("qa", QA)):
        paths[name].write_text(json.dumps(obj), encoding="utf-8")
    out = tmp_path / "m.json"
    args = ["--ground-truth", str(paths["gsub"]), "--predictions", str(paths["spans"])]
    assert main([*args, "--qa", str(paths["qa"]), "--out", str(out)]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert ["Acc@GQA", "50.00"] in rows and ["mIoU", "21.29"] in rows
    assert read_json(out) == EXPECTED

    paths["qa"].write_text(json.dumps({"v1_0": QA["v1_0"]}), encoding="utf-8")
    assert main([*args, "--qa", str(paths["qa"])]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and str(paths["qa"]) in err


def test_perfect_spans_on_real_gsub(shared_data: Path) -> None:
    """The first GT window of every NExT-GQA val question scores 100 on every grounding metric."""
    path = shared_data / "nextgqa" / "gsub_val.json"
    if not path.is_file():
        pytest.skip(f"not found: {path}")
    gsub = read_json(path)
    spans = {f"{v}_{q}": windows[0] for v, entry in gsub.items() for q, windows in entry["location"].items()}
    metrics = evaluate_grounding(spans, gsub)
    assert metrics["num_questions"] == 3358
    assert all(metrics[k] == 100.0 for k in ("mIoP", "IoP@0.5", "mIoU", "IoU@0.5"))
