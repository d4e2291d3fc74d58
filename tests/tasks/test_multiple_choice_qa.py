"""The multiple_choice_qa task scores hand-built records: NExT-QA per type, grounding by hand, result files."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf

from lavis.common.errors import DataError
from lavis.evaluation import mc_qa
from lavis.tasks.multiple_choice_qa import MultipleChoiceQATask


def task(**run):
    return MultipleChoiceQATask(OmegaConf.create({"task": "multiple_choice_qa", "grounding": True, **run}))


def rec(i, qid, qtype, answer, prediction, **extra):
    return {
        "index": i,
        "qid": qid,
        "vid": qid.split("_")[1],
        "benchmark": "nextqa",
        "type": qtype,
        "question": "q?",
        "answer": answer,
        "prediction": prediction,
        **extra,
    }


def test_nextqa_accuracy_per_type_and_the_official_results_file(tmp_path):
    records = [
        rec(0, "CW_v1_0", "CW", 1, 1),
        rec(1, "CH_v1_1", "CH", 2, 0),  # C: 1/2
        rec(2, "TN_v2_0", "TN", 0, 0),
        rec(3, "TC_v2_1", "TC", 3, 3),
        rec(4, "TP_v2_2", "TP", 4, 1),  # T: 2/3
        rec(5, "DL_v3_0", "DL", 2, 2),  # D: 1/1
    ]
    metrics = task().after_evaluation(records, "val", "best", tmp_path)
    assert (metrics["Acc@C"], metrics["Acc@T"], metrics["Acc@D"], metrics["Acc"]) == (
        50.0,
        66.67,
        100.0,
        66.67,
    )
    assert "mIoP" not in metrics  # no evidence windows: no grounding
    results = json.loads((tmp_path / "val_best_results.json").read_text())
    assert results["v1_0"] == {"prediction": 1, "answer": 1} and len(results) == 6
    # the file is what the NExT-QA evaluation reads back
    annotations = [{"qid": r["qid"], "answer": r["answer"], "type": r["type"]} for r in records]
    assert mc_qa.evaluate_mc_qa(results, annotations, "nextqa")["Acc"] == 66.67
    assert len((tmp_path / "val_best_predictions.jsonl").read_text().splitlines()) == 6


def test_grounding_metrics_from_keyframe_times_equal_hand_computed_values(tmp_path):
    records = [
        # span [2, 6] inside GT [1, 8]: IoP 1, IoU 4/7; correct
        rec(
            0,
            "CW_v1_0",
            "CW",
            1,
            1,
            keyframe_times=[2.0, 3.0, 6.0],
            relevant_windows=[[1.0, 8.0]],
            duration=10.0,
        ),
        # span [0, 4] vs GT [3, 5]: inter 1, IoP 1/4, IoU 1/5; correct but not grounded
        rec(
            1, "TN_v2_0", "TN", 0, 0, keyframe_times=[0.0, 4.0], relevant_windows=[[3.0, 5.0]], duration=10.0
        ),
        # one keyframe at 7 inside GT [6, 9] (zero-length: IoP 1, IoU 0); wrong answer
        rec(
            2,
            "TC_v3_0",
            "TC",
            2,
            3,
            keyframe_times=[7.0],
            relevant_windows=[[0.0, 1.0], [6.0, 9.0]],
            duration=10.0,
        ),
    ]
    m = task().after_evaluation(records, "val", "best", tmp_path)
    assert m["Acc@QA"] == 66.67 and m["Acc@GQA"] == 33.33
    assert m["mIoP"] == pytest.approx(round((1 + 0.25 + 1) / 3 * 100, 2))
    assert m["IoP@0.3"] == 66.67 and m["IoP@0.5"] == 66.67
    assert m["mIoU"] == pytest.approx(round((4 / 7 + 1 / 5 + 0) / 3 * 100, 2))
    assert m["IoU@0.3"] == 33.33 and m["IoU@0.5"] == 33.33
    assert m["grounded_questions"] == 3
    no_grounding = task(grounding=False).after_evaluation(records, "val", "x", tmp_path)
    assert "mIoP" not in no_grounding


def test_grounding_needs_keyframe_times_and_one_benchmark(tmp_path):
    records = [rec(0, "CW_v1_0", "CW", 1, 1, relevant_windows=[[1.0, 8.0]], duration=10.0)]
    with pytest.raises(DataError, match="keyframe times"):
        task().after_evaluation(records, "val", "best", tmp_path)
    mixed = [rec(0, "CW_v1_0", "CW", 1, 1), dict(rec(1, "x_1", None, 0, 0), benchmark="tvqa")]
    with pytest.raises(DataError, match="mixes benchmarks"):
        task().after_evaluation(mixed, "val", "best", tmp_path)


def test_star_headline_is_overall_accuracy(tmp_path):
    records = [
        dict(rec(i, f"{t}_T1_{i}", None, 0, p), benchmark="star")
        for i, (t, p) in enumerate(
            [("Interaction", 0), ("Interaction", 0), ("Interaction", 0), ("Sequence", 1)]
        )
    ]
    m = task().after_evaluation(records, "val", "best", tmp_path)
    assert m["Acc"] == 75.0 and m["Acc-type-mean"] == 50.0
    assert json.loads((tmp_path / "val_best_results.json").read_text())["Sequence_T1_3"]["prediction"] == 1


def test_voting_records_get_the_any_frame_oracle(tmp_path):
    records = [
        dict(rec(0, "CW_v1_0", "CW", 1, 0), frame_predictions=[0, 1, 0]),  # wrong, but one frame was right
        dict(rec(1, "CH_v1_1", "CH", 2, 2), frame_predictions=[2, 2, 3]),
        dict(rec(2, "DL_v3_0", "DL", 4, 0), frame_predictions=[0, 0, 0]),
    ]
    m = task().after_evaluation(records, "val", "best", tmp_path)
    assert m["Acc"] == 33.33 and m["Acc-oracle"] == 66.67
