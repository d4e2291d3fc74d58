"""Train the tiny Mr. BLIP on a few synthetic videos through the real runner, then evaluate it again."""

import json

import pytest
from run_helpers import read_jsonl, read_log, run_module, tiny_experiment, write_config

from lavis.common.config import config_from_dict
from lavis.evaluation.qvhighlights import eval_submission
from lavis.runners.launch import run_training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    cfg = config_from_dict(tiny_experiment(tmp, plot_predictions=4))
    results = run_training(cfg)
    return tmp, cfg, results


def test_outputs_are_written(trained):
    tmp, cfg, results = trained
    out = tmp / "out"
    for name in ("config.yaml", "log.jsonl", "log.txt", "checkpoint_last.pth", "checkpoint_best.pth", "results.json"):
        assert (out / name).is_file(), name
    for stem in ("val_epoch0", "val_epoch1", "test_best"):
        for suffix in ("predictions.jsonl", "submission.jsonl", "metrics.json", "windows.png"):
            assert (out / "result" / f"{stem}_{suffix}").is_file(), f"{stem}_{suffix}"
    assert (out / "result" / "test_best_windows.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kinds = [row["kind"] for row in read_log(out / "log.jsonl")]
    assert kinds.count("eval") == 3 and "train" in kinds
    assert set(results) == {"val_epoch0", "val_epoch1", "test_best"}


def test_one_prediction_per_query_and_submission_is_official_format(trained):
    tmp, cfg, _ = trained
    out = tmp / "out" / "result"
    folder = next((tmp / "cache" / "synthetic_mr").glob("spec_*"))
    gt = json.loads((folder / "test.json").read_text())
    preds = read_jsonl(out / "test_best_predictions.jsonl")
    assert sorted(p["qid"] for p in preds) == sorted(r["qid"] for r in gt)
    submission = read_jsonl(out / "test_best_submission.jsonl")
    for line in submission:
        assert set(line) == {"qid", "query", "vid", "pred_relevant_windows"}
        assert all(len(w) == 3 for w in line["pred_relevant_windows"])
    official_gt = [{"qid": r["qid"], "relevant_windows": r["relevant_windows"]} for r in gt]
    metrics = eval_submission(submission, official_gt)  # the official protocol accepts the file
    assert "MR-full-R1@0.5" in metrics["brief"]


def test_evaluate_entry_point_reproduces_the_final_test_metrics(trained, tmp_path):
    tmp, cfg, results = trained
    out = tmp / "out"
    proc = run_module(
        "lavis.evaluate", "--cfg-path", str(out / "config.yaml"), "--checkpoint", str(out / "checkpoint_best.pth"),
        "--options", f"run.output_dir={tmp_path / 'eval'}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    again = json.loads((tmp_path / "eval" / "results_eval.json").read_text())["test"]
    for key in ("R1@0.5", "R1@0.7", "mIoU", "mAP", "invalid"):
        assert again[key] == results["test_best"][key], key
    assert "R1@0.5" in proc.stdout  # the table is printed


def test_config_typo_fails_cleanly_from_the_command_line(tmp_path):
    cfg = tiny_experiment(tmp_path)
    cfg["run"]["max_epochs"] = 3
    proc = run_module("lavis.train", "--cfg-path", str(write_config(tmp_path / "bad.yaml", cfg)))
    assert proc.returncode == 2
    assert "unknown key 'run.max_epochs'" in proc.stderr and "Did you mean 'max_epoch'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_video_fails_cleanly_and_names_the_file(tmp_path):
    cfg = tiny_experiment(tmp_path, num_workers=1)
    run_training(config_from_dict(tiny_experiment(tmp_path, max_epoch=0, test_splits=[], valid_splits=[])))
    folder = next((tmp_path / "cache" / "synthetic_mr").glob("spec_*"))
    (folder / "videos" / "train_00003.mp4").unlink()
    proc = run_module("lavis.train", "--cfg-path", str(write_config(tmp_path / "cfg.yaml", cfg)))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "train_00003.mp4 (missing, qid" in proc.stderr and "missing or empty" in proc.stderr
    assert "Traceback" not in proc.stderr
