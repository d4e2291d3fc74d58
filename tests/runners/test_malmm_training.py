"""A tiny MA-LMM trains through the shared runner on synthetic video QA and evaluates (memory path, T = 4)."""

from __future__ import annotations

from run_helpers import read_jsonl, read_log
from test_instructblip_training import qa_experiment

from lavis.common.config import config_from_dict
from lavis.runners.launch import run_training


def test_tiny_malmm_trains_and_evaluates_through_the_runner(tmp_path):
    exp = qa_experiment(tmp_path, "blip2_vicuna_instruct_malmm")
    exp["datasets"]["synthetic_qa"]["spec"]["num_videos"] = {"train": 16, "val": 4, "test": 4}
    exp["run"].update(max_epoch=1)
    results = run_training(config_from_dict(exp))
    losses = [row["loss"] for row in read_log(tmp_path / "out" / "log.jsonl") if row["kind"] == "train"]
    assert len(losses) == 2 and all(loss == loss for loss in losses)
    assert results["test_best"]["num_questions"] == 4
    preds = read_jsonl(tmp_path / "out" / "result" / "test_best_predictions.jsonl")
    assert len(preds) == 4 and all(len(p["prediction"]) == 2 for p in preds)
