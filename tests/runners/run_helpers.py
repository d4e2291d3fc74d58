"""A tiny end-to-end experiment config (synthetic videos, tiny Mr. BLIP) for runner tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def tiny_experiment(tmp: Path, out: str = "out", train: int = 10, val: int = 3, test: int = 3, **run) -> dict:
    cfg = {
        "model": {"arch": "blip2_mr", "model_type": "tiny"},
        "datasets": {
            "synthetic_mr": {
                "spec": {"num_videos": {"train": train, "val": val, "test": test}, "min_duration": 6.0,
                         "max_duration": 10.0, "seed": 7},
                "vis_processor": {
                    "train": {"name": "video_train", "n_frms": 4, "image_size": 32},
                    "eval": {"name": "video_eval", "n_frms": 4, "image_size": 32},
                },
            }
        },
        "paths": {"cache_root": str(tmp / "cache")},
        "run": {
            "task": "moment_retrieval",
            "init_lr": 1e-3,
            "max_epoch": 2,
            "batch_size_train": 4,
            "batch_size_eval": 3,
            "num_workers": 0,
            "device": "cpu",
            "output_dir": str(tmp / out),
            "log_freq": 1,
            "generation": {"num_beams": 2, "max_new_tokens": 8},
        },
    }
    cfg["run"].update(run)
    return cfg


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg))
    return path


def python_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_module(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], capture_output=True, text=True, env=python_env(), timeout=timeout, cwd=REPO
    )


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
