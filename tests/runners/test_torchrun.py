"""Two CPU processes under torchrun: train a few steps, evaluate, one prediction per query."""

import json
import subprocess
import sys

import pytest
from run_helpers import REPO, python_env, read_jsonl, tiny_experiment, write_config


@pytest.mark.slow
def test_torchrun_two_processes_gather_exactly_one_prediction_per_query(tmp_path):
    cfg = tiny_experiment(tmp_path, train=8, val=3, test=3, max_epoch=1, batch_size_train=2, batch_size_eval=2)
    path = write_config(tmp_path / "cfg.yaml", cfg)
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29533",
         "-m", "lavis.train", "--cfg-path", str(path)],
        capture_output=True, text=True, env=python_env(), timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = next((tmp_path / "cache" / "synthetic_mr").glob("spec_*"))
    for split, stem in (("val", "val_epoch0"), ("test", "test_best")):
        gt = json.loads((folder / f"{split}.json").read_text())
        preds = read_jsonl(tmp_path / "out" / "result" / f"{stem}_predictions.jsonl")
        qids = [p["qid"] for p in preds]
        assert len(qids) == len(set(qids)) == len(gt)
        assert set(qids) == {r["qid"] for r in gt}
    log = [json.loads(line) for line in (tmp_path / "out" / "log.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "train" for r in log)
