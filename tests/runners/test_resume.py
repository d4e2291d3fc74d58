"""Kill a training run with SIGKILL, resume it, and check it continues on the uninterrupted run's path."""

import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from run_helpers import python_env, read_log, run_module, tiny_experiment, write_config

from lavis.runners.runner_base import TrainState


def train_rows(path):
    return {row["step"]: row for row in read_log(path) if row["kind"] == "train"}


@pytest.mark.slow
def test_killed_run_resumes_at_the_next_step_on_the_same_schedule(tmp_path):
    common = dict(max_epoch=3, save_freq_iters=1, valid_splits=[], test_splits=[], warmup_steps=3)
    ref_cfg = write_config(tmp_path / "ref.yaml", tiny_experiment(tmp_path, out="ref", **common))
    cut_cfg = write_config(tmp_path / "cut.yaml", tiny_experiment(tmp_path, out="cut", **common))
    ref = run_module("lavis.train", "--cfg-path", str(ref_cfg))
    assert ref.returncode == 0, ref.stderr[-2000:]
    reference = train_rows(tmp_path / "ref" / "log.jsonl")
    total = max(reference)

    proc = subprocess.Popen(
        [sys.executable, "-m", "lavis.train", "--cfg-path", str(cut_cfg)],
        env=python_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    log = tmp_path / "cut" / "log.jsonl"
    deadline = time.time() + 240
    while time.time() < deadline:
        if log.is_file() and any(step >= total // 2 for step in train_rows(log)):
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    ckpt = torch.load(tmp_path / "cut" / "checkpoint_last.pth", weights_only=True)
    saved = TrainState(**ckpt["train_state"])
    assert 0 < saved.global_step < total, "the kill should land mid-run"

    before = set(train_rows(log))
    resumed = run_module("lavis.train", "--cfg-path", str(cut_cfg), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    rows = read_log(log)
    after = [r for r in rows if r["kind"] == "train"][len([r for r in rows if r["kind"] == "train"]) - (total - saved.global_step):]
    steps = [r["step"] for r in after]
    assert steps == list(range(saved.global_step + 1, total + 1))  # continues at the next step, no gap
    for row in after:
        ref_row = reference[row["step"]]
        assert row["epoch"] == ref_row["epoch"]
        assert row["lr"] == pytest.approx(ref_row["lr"], rel=1e-9)  # same schedule
        assert row["loss"] == pytest.approx(ref_row["loss"], rel=1e-4, abs=1e-5)  # same data and weights
    assert before  # the killed run had logged progress
