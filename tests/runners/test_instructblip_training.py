"""A tiny InstructBLIP of each LLM kind trains through the runner on synthetic video QA and evaluates."""

from __future__ import annotations

import pytest
from run_helpers import read_jsonl, read_log

from lavis.common.config import config_from_dict
from lavis.runners.launch import run_training


def qa_experiment(tmp_path, arch: str) -> dict:
    return {
        "model": {"arch": arch, "model_type": "tiny"},
        "datasets": {
            "synthetic_qa": {
                "spec": {"num_videos": {"train": 48, "val": 8, "test": 8}, "min_duration": 4.0, "max_duration": 6.0,
                         "fps": 1, "min_events": 1, "max_events": 1, "event_style": "tint", "seed": 3},
                "vis_processor": {"train": {"name": "video_train", "n_frms": 4, "image_size": 32, "min_scale": 1.0},
                                  "eval": {"name": "video_eval", "n_frms": 4, "image_size": 32}},
            }
        },
        "paths": {"cache_root": str(tmp_path / "cache")},
        "run": {
            "task": "video_qa", "init_lr": 3e-3, "warmup_steps": 2, "max_epoch": 6, "batch_size_train": 8,
            "batch_size_eval": 8, "num_workers": 0, "device": "cpu", "output_dir": str(tmp_path / "out"),
            "log_freq": 1, "grad_clip_norm": 1.0,
            "generation": {"num_beams": 2, "max_new_tokens": 3, "num_return_sequences": 2},
        },
    }


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["blip2_t5_instruct", "blip2_vicuna_instruct"])
def test_tiny_instructblip_learns_and_evaluates(tmp_path, arch):
    results = run_training(config_from_dict(qa_experiment(tmp_path, arch)))
    losses = [row["loss"] for row in read_log(tmp_path / "out" / "log.jsonl") if row["kind"] == "train"]
    assert len(losses) == 36
    assert sum(losses[-6:]) / 6 < 0.6 * sum(losses[:6]) / 6, losses
    test = results["test_best"]
    assert set(test) >= {"top1", "top5", "agg_metrics", "num_questions"} and test["num_questions"] == 8
    preds = read_jsonl(tmp_path / "out" / "result" / "test_best_predictions.jsonl")
    assert len(preds) == 8 and all(len(p["prediction"]) == 2 for p in preds)
    assert {p["answer"] for p in preds} <= {"red", "green", "blue", "yellow", "white", "purple"}
