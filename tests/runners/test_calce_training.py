"""A tiny CALCE stage 1 trains through the shared runner and writes predictions (placeholder captions)."""

from __future__ import annotations

import math

from run_helpers import read_jsonl, read_log, tiny_experiment

from lavis.common.config import config_from_dict
from lavis.runners.launch import run_training


def test_tiny_calce_stage1_trains_and_evaluates(tmp_path):
    cfg = tiny_experiment(tmp_path, train=8, val=2, test=3, max_epoch=1)
    cfg["model"] = {"arch": "blip2_calce_stage1", "model_type": "tiny"}
    cfg["datasets"]["synthetic_mr"]["vis_processor"] = {
        "train": {"name": "video_head_train", "n_frms": 6, "image_size": 32},
        "eval": {"name": "video_head_eval", "n_frms": 6, "image_size": 32},
    }
    results = run_training(config_from_dict(cfg))
    losses = [row["loss"] for row in read_log(tmp_path / "out" / "log.jsonl") if row["kind"] == "train"]
    assert len(losses) >= 2 and all(math.isfinite(x) for x in losses) and losses[-1] < losses[0], losses
    preds = read_jsonl(tmp_path / "out" / "result" / "test_best_predictions.jsonl")
    assert preds and len({p["qid"] for p in preds}) == len(preds)
    assert all("pred_windows" in p and "rescued" in p for p in preds)
    assert "R1@0.5" in results["test_best"] and "rescued" in results["test_best"]
