"""CALCE end to end at tiny scale, through the shared runner: stage 1 on clips with generated subtitles,
stage-1 inference on every split, the merge, and stage 2 initialised from the stage-1 checkpoint."""

from __future__ import annotations

import copy
import json

from run_helpers import read_jsonl, tiny_experiment

from lavis.common.config import config_from_dict
from lavis.common.io import read_json
from lavis.datasets.prepare.calce_merge import merge_stage1
from lavis.runners.launch import run_evaluation, run_training


def test_both_stages_run_and_stage2_reads_the_stage1_windows(tmp_path):
    stage1 = tiny_experiment(tmp_path, out="stage1", train=8, val=2, test=3, max_epoch=1)
    data = stage1["datasets"]["synthetic_mr"]
    data["spec"].update({"fps": 2, "min_events": 1, "max_events": 1, "event_style": "tint"})
    data["subtitles"] = True
    data["vis_processor"] = {
        "train": {"name": "video_head_train", "n_frms": 6, "image_size": 32},
        "eval": {"name": "video_head_eval", "n_frms": 6, "image_size": 32},
    }
    stage1["model"] = {"arch": "blip2_calce_stage1", "model_type": "tiny", "parse_mode": "calce"}
    run_training(config_from_dict(stage1))
    checkpoint = tmp_path / "stage1" / "checkpoint_best.pth"
    assert checkpoint.is_file()

    infer = copy.deepcopy(stage1)
    infer["run"].update({"evaluate": True, "test_splits": ["train", "val", "test"]})
    infer["model"]["finetuned"] = str(checkpoint)
    run_evaluation(config_from_dict(infer))

    folder = next((tmp_path / "cache" / "synthetic_mr").glob("spec_*"))
    srt = next((folder / "srts").glob("*.srt")).read_text()
    assert "look, the screen turns" in srt  # the generated subtitles reached the dataset folder
    ann_paths = {}
    for split in ("train", "val", "test"):
        preds = {
            r["qid"]: r["pred_windows"]
            for r in read_jsonl(tmp_path / "stage1" / "result" / f"{split}_eval_predictions.jsonl")
        }
        merged = merge_stage1(read_json(folder / f"{split}.json"), preds, source=split)
        ann_paths[split] = str(tmp_path / f"{split}_stage2.json")
        (tmp_path / f"{split}_stage2.json").write_text(json.dumps(merged))
        assert all(r["stage1_result"] for r in merged)

    stage2 = copy.deepcopy(stage1)
    stage2["model"] = {"arch": "blip2_calce_stage2", "model_type": "tiny", "finetuned": str(checkpoint)}
    stage2["datasets"]["synthetic_mr"]["ann_paths"] = ann_paths
    stage2["datasets"]["synthetic_mr"]["vis_processor"] = {
        "train": {"name": "video_head_train", "n_frms": 10, "image_size": 32},
        "eval": {"name": "video_head_eval", "n_frms": 10, "image_size": 32},
    }
    stage2["run"]["output_dir"] = str(tmp_path / "stage2")
    results = run_training(config_from_dict(stage2))
    preds = read_jsonl(tmp_path / "stage2" / "result" / "test_best_predictions.jsonl")
    assert len(preds) == 3 and all(p["pred_windows"] for p in preds)
    assert "R1@0.5" in results["test_best"]
