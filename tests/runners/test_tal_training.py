"""Temporal action localization end to end at tiny scale, and the task's scoring on hand-built records."""

from __future__ import annotations

import json

from omegaconf import OmegaConf
from run_helpers import run_module, tiny_experiment

from lavis.common.config import config_from_dict
from lavis.runners.launch import run_training
from lavis.tasks.temporal_action_localization import TALRunConfig, TemporalActionLocalizationTask


def record(vid, pred, gt, valid=True):
    return {
        "index": 0,
        "qid": vid,
        "vid": vid,
        "query": "",
        "duration": 20.0,
        "raw_prediction": "",
        "prediction": "",
        "pred_windows": pred,
        "valid": valid,
        "rescued": False,
        "gt_windows": gt,
    }


def test_scoring_counts_unknown_labels_and_first_window_recall(tmp_path):
    task = TemporalActionLocalizationTask(OmegaConf.structured(TALRunConfig()))
    records = [
        record("a", [[0, 10, "red"], [12, 20, "blue"]], [[0, 10, "red"], [12, 20, "blue"]]),
        record("b", [[0, 5, "purple"], [5, 9, "red"]], [[5, 10, "red"]]),  # purple is no class of the split
        record("c", [[-1, -1]], [[2, 4, "blue"]], valid=False),
    ]
    summary = task.after_evaluation(records, "val", "t", tmp_path)
    assert summary["unknown_label"] == 25.0  # 1 of the 4 generated windows
    assert summary["R1@0.5"] == 25.0  # a's red (first window); b's first window is purple; c invalid
    assert summary["invalid"] == 33.33
    detections = json.loads((tmp_path / "val_t_detections.json").read_text())
    assert detections["results"]["b"] == [{"label": "red", "score": 0.999, "segment": [5, 9]}]
    assert summary["agg_metrics"] == summary["average_mAP"]
    # red: a (tIoU 1) and b ([5, 9] vs [5, 10]: 0.8) -> AP 1 up to tIoU 0.80, then 0.5; blue: a found, c missed: 0.5
    assert summary["mAP@0.50"] == 75.0 and summary["mAP@0.85"] == 50.0


def test_tiny_model_trains_and_writes_official_detections_that_the_cli_scores(tmp_path):
    cfg = tiny_experiment(tmp_path, train=8, val=2, test=3, max_epoch=1)
    cfg["datasets"] = {"synthetic_tal": cfg["datasets"].pop("synthetic_mr")}
    cfg["datasets"]["synthetic_tal"]["spec"].update({"min_events": 2, "max_events": 2, "event_style": "tint"})
    cfg["model"].update(
        {
            "window_labels": True,
            "query_prompt": "",
            "task_prompt": "List every action with its window and label.\nActions: ",
        }
    )
    cfg["run"]["task"] = "temporal_action_localization"
    results = run_training(config_from_dict(cfg))
    assert "average_mAP" in results["test_best"]
    detections = tmp_path / "out" / "result" / "test_best_detections.json"
    assert "results" in json.loads(detections.read_text())
    folder = next((tmp_path / "cache" / "synthetic_mr").glob("spec_*"))
    database = {
        r["video"]: {
            "subset": "validation",
            "duration": r["duration"],
            "annotations": [{"segment": w[:2], "label": w[2]} for w in r["relevant_windows"]],
        }
        for r in json.loads((folder / "test_tal.json").read_text())
    }
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": database}))
    proc = run_module(
        "lavis.evaluation.tal",
        "--predictions",
        str(detections),
        "--gt",
        str(gt),
        "--out",
        str(tmp_path / "m.json"),
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "m.json").read_text())["average_mAP"] == results["test_best"]["average_mAP"]
