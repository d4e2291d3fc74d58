"""SeViLA through lavis.inference: one question on one video, and the same answer as lavis.train's evaluation."""

from __future__ import annotations

import json

import pytest

from lavis.common.config import config_from_dict
from lavis.inference import load_model
from lavis.runners.launch import run_training


def tiny_experiment(tmp_path) -> dict:
    return {
        "model": {"arch": "sevila", "model_type": "tiny", "mode": "answerer_finetune", "num_keyframes": 2},
        "datasets": {
            "synthetic_mcqa": {
                "spec": {
                    "num_videos": {"train": 8, "val": 4, "test": 4},
                    "min_duration": 6.0,
                    "max_duration": 8.0,
                    "fps": 2,
                    "min_events": 1,
                    "max_events": 1,
                    "seed": 5,
                },
                "vis_processor": {
                    "train": {"name": "video_train", "n_frms": 4, "image_size": 32},
                    "eval": {"name": "video_eval", "n_frms": 4, "image_size": 32},
                },
            }
        },
        "paths": {"cache_root": str(tmp_path / "cache")},
        "run": {
            "task": "multiple_choice_qa",
            "max_epoch": 1,
            "batch_size_train": 4,
            "batch_size_eval": 4,
            "num_workers": 0,
            "device": "cpu",
            "output_dir": str(tmp_path / "out"),
        },
    }


def test_multiple_choice_on_a_video_file(shared_videos):
    predictor = load_model("sevila", model_type="tiny", device="cpu", num_frames=6)
    assert "multiple_choice_qa" in predictor.capabilities
    result = predictor.multiple_choice(shared_videos[0], "what is shown?", ["a dog", "a man", "a car"])
    assert result.answer in ["a dog", "a man", "a car"] and result.answer_index in (0, 1, 2)
    assert len(result.scores) == 3 and sum(result.scores) == pytest.approx(1.0, abs=1e-3)
    assert len(result.keyframes) == 2 and result.keyframes == sorted(result.keyframes)  # tiny: 2 of 6 frames
    assert result.to_dict()["answer"] == result.answer


def test_a_trained_checkpoint_answers_as_its_evaluation_did(tmp_path):
    run_training(config_from_dict(tiny_experiment(tmp_path)))
    out = tmp_path / "out"
    records = [
        json.loads(line) for line in (out / "result" / "test_best_predictions.jsonl").read_text().splitlines()
    ]
    predictor = load_model(checkpoint=out / "checkpoint_best.pth", device="cpu")
    videos = next((tmp_path / "cache" / "synthetic_mr").glob("spec_*")) / "videos"
    annotations = {r["qid"]: r for r in json.loads(next(videos.parent.glob("test_mcqa_4.json")).read_text())}
    for rec in records:
        ann = annotations[rec["qid"]]
        result = predictor.multiple_choice(videos / f"{rec['vid']}.mp4", ann["question"], ann["options"])
        assert result.answer_index == rec["prediction"]
        assert result.keyframes == [round(t, 2) for t in rec["keyframe_times"]]
