"""Errors before the workers start: ``lavis.check`` in the run scripts, one line per error, own line after a bar."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from run_helpers import REPO, python_env, run_module
from tqdm import tqdm

from lavis.common.errors import ConfigError, DataError
from lavis.runners.launch import cli_main


def test_run_script_without_prepared_data_prints_one_error_line(tmp_path):
    env = {**python_env(), "NPROC": "2", "LAVIS_DATA_ROOT": str(tmp_path / "nothing")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    proc = subprocess.run(
        ["bash", "run_scripts/mr_BLIP/train/charades.sh"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: datasets.charades_sta.ann_paths.train: annotation file not found")
    assert "torchrun" not in proc.stderr and "Traceback" not in proc.stderr


def test_check_accepts_a_valid_config_and_ignores_the_scripts_own_arguments():
    proc = run_module(
        "lavis.check",
        "--cfg-path",
        "configs/mr_BLIP/train/qvh.yaml",
        "--resume",
        "--options",
        "paths.data_root=/nonexistent",
        "run.max_epoch=1",
    )
    assert proc.returncode == 2 and "qvh" in proc.stderr  # the paths, not the unknown --resume
    typo = run_module(
        "lavis.check", "--cfg-path", "configs/mr_BLIP/train/qvh.yaml", "--options", "run.init_lrr=1"
    )
    assert typo.returncode == 2 and "Did you mean 'init_lr'" in typo.stderr


def test_config_errors_print_on_rank_zero_only_and_data_errors_name_their_rank(monkeypatch, capsys):
    @cli_main
    def config_problem(argv=None):
        raise ConfigError("run.init_lrr: unknown key")

    @cli_main
    def data_problem(argv=None):
        raise DataError("Cannot open video x.mp4")

    monkeypatch.setenv("RANK", "1")
    assert config_problem([]) == 2 and capsys.readouterr().err == ""
    assert (
        data_problem([]) == 2 and capsys.readouterr().err.strip() == "error (rank 1): Cannot open video x.mp4"
    )
    monkeypatch.setenv("RANK", "0")
    assert config_problem([]) == 2 and capsys.readouterr().err == "error: run.init_lrr: unknown key\n"


def test_an_error_inside_a_progress_bar_starts_on_its_own_line(capsys):
    @cli_main
    def fails_mid_bar(argv=None):
        for i in tqdm(range(10), file=sys.stderr, mininterval=0):
            if i == 3:
                raise DataError("Cannot decode frame 3 of a.mp4")

    assert fails_mid_bar([]) == 2
    err = capsys.readouterr().err
    assert "\nerror: Cannot decode frame 3 of a.mp4" in err
