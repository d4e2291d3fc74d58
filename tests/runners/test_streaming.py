"""Training and evaluation read webdataset shards through the same runner as folders."""

import json

from run_helpers import read_jsonl, read_log, tiny_experiment

from lavis.common.config import config_from_dict
from lavis.datasets.shards import write_shards
from lavis.runners.launch import run_training


def test_training_streams_shards_and_evaluation_gets_one_prediction_per_query(tmp_path):
    # generate the tiny synthetic set once, then serve it as the `qvh` builder would see real data
    run_training(config_from_dict(tiny_experiment(tmp_path, max_epoch=0, valid_splits=[], test_splits=[])))
    folder = next((tmp_path / "cache" / "synthetic_mr").glob("spec_*"))
    train_manifest = write_shards(folder / "videos", folder / "train.json", tmp_path / "shards_train", 4, progress=False)
    val_manifest = write_shards(folder / "videos", folder / "val.json", tmp_path / "shards_val", 2, progress=False)
    cfg = tiny_experiment(tmp_path, out="stream", max_epoch=1, test_splits=[])
    cfg["datasets"] = {
        "qvh": {
            "video_root": str(folder / "videos"),
            "ann_paths": {"train": str(folder / "train.json"), "val": str(folder / "val.json")},
            "shards": {"train": train_manifest.url, "val": val_manifest.url},
            "vis_processor": cfg["datasets"]["synthetic_mr"]["vis_processor"],
        }
    }
    run_training(config_from_dict(cfg))
    out = tmp_path / "stream"
    steps = [r for r in read_log(out / "log.jsonl") if r["kind"] == "train"]
    expected_steps = train_manifest.num_records // 4
    assert len(steps) == expected_steps and all(r["loss"] > 0 for r in steps)
    preds = read_jsonl(out / "result" / "val_epoch0_predictions.jsonl")
    gt = json.loads((folder / "val.json").read_text())
    assert sorted(p["qid"] for p in preds) == sorted(r["qid"] for r in gt)
