"""SeViLA's training modes run through the shared runner on synthetic multiple-choice video QA."""

from __future__ import annotations

import pytest
from run_helpers import REPO, read_jsonl, read_log

from lavis.common.config import config_from_dict
from lavis.runners.launch import run_training


def experiment(tmp_path, mode: str, **model) -> dict:
    return {
        "model": {"arch": "sevila", "model_type": "tiny", "mode": mode, "num_keyframes": 2, **model},
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
        "paths": {"cache_root": str(tmp_path.parent / "sevila_cache")},
        "run": {
            "task": "multiple_choice_qa",
            "init_lr": 1e-3,
            "max_epoch": 1,
            "batch_size_train": 4,
            "batch_size_eval": 4,
            "num_workers": 0,
            "device": "cpu",
            "output_dir": str(tmp_path / "out"),
            "log_freq": 1,
        },
    }


@pytest.mark.parametrize("mode", ["localizer_pretrain", "answerer_finetune", "localizer_refine"])
def test_each_training_mode_trains_and_evaluates(tmp_path, mode):
    results = run_training(config_from_dict(experiment(tmp_path, mode)))
    losses = [row["loss"] for row in read_log(tmp_path / "out" / "log.jsonl") if row["kind"] == "train"]
    assert len(losses) == 2 and all(loss > 0 for loss in losses)
    test = results["test_best"]
    assert test["num_questions"] == 4 and test["grounded_questions"] == 4
    assert {"Acc", "mIoP", "mIoU", "Acc@GQA"} <= set(test)
    preds = read_jsonl(tmp_path / "out" / "result" / "test_best_predictions.jsonl")
    assert all(len(p["keyframe_times"]) == 2 and 0 <= p["prediction"] < 4 for p in preds)


def test_localizer_pretraining_on_moment_retrieval_data_is_scored_as_moment_retrieval(tmp_path):
    """QVHighlights-style pre-training: query + windows → frame labels; evaluation aggregates "yes" frames."""
    cfg = experiment(tmp_path, "localizer_pretrain")
    cfg["datasets"] = {"synthetic_mr": dict(cfg["datasets"]["synthetic_mcqa"])}
    cfg["run"]["task"] = "moment_retrieval"
    results = run_training(config_from_dict(cfg))
    assert {"R1@0.5", "R1@0.7", "mAP"} <= set(results["test_best"])
    preds = read_jsonl(tmp_path / "out" / "result" / "test_best_predictions.jsonl")
    assert preds and all(
        p["pred_windows"] and set(p["raw_prediction"].split("_")) <= {"yes", "no"} for p in preds
    )


def test_the_demo_chain_answerer_then_localizer_then_both_keyframe_choices(tmp_path):
    """The demo's three stages at a toy size: the weights flow through `pretrained` and `localizer_init`."""
    from lavis.common.config import load_config
    from lavis.runners.launch import run_evaluation

    demo = REPO / "configs" / "demo"
    cache = f"paths.cache_root={tmp_path / 'cache'}"
    small = [
        "datasets.synthetic_mcqa.spec.num_videos={train: 16, val: 4, test: 8}",
        "run.max_epoch=1",
        "run.val_freq=1",
        cache,
    ]
    answerer = tmp_path / "answerer"
    run_training(load_config(demo / "sevila_synthetic_answerer.yaml", [f"run.output_dir={answerer}", *small]))
    ckpt = answerer / "checkpoint_best.pth"
    localizer = tmp_path / "localizer"
    run_training(
        load_config(
            demo / "sevila_synthetic_localizer.yaml",
            [
                f"run.output_dir={localizer}",
                f"model.pretrained={ckpt}",
                f"model.localizer_init={ckpt}",
                *small,
            ],
        )
    )
    accuracies = {}
    for frames in ("localizer", "uniform"):
        cfg = load_config(
            demo / "sevila_synthetic_eval.yaml",
            [
                "run.evaluate=true",
                f"run.output_dir={tmp_path / frames}",
                f"model.keyframes={frames}",
                f"model.pretrained={ckpt}",
                f"model.localizer_init={localizer / 'checkpoint_best.pth'}",
                *small,
            ],
        )
        accuracies[frames] = run_evaluation(cfg)["test"]
        assert accuracies[frames]["num_questions"] == 8
    preds = read_jsonl(tmp_path / "uniform" / "result" / "test_eval_predictions.jsonl")
    assert all(p["frame_idx"] == [4, 12] for p in preds)  # 2 evenly spaced of 16 frames
