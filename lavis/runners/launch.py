"""What ``lavis.train`` and ``lavis.evaluate`` do once their arguments are parsed."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lavis.common import dist, registry
from lavis.common.config import Config
from lavis.common.errors import ConfigError, LavisError
from lavis.common.io import atomic_open
from lavis.common.logger import progress_bar_open, setup_logging
from lavis.datasets.frame_sources import enable_frame_sources
from lavis.runners.runner_base import set_seed

logger = logging.getLogger(__name__)


def _setup(cfg: Config):
    run = cfg.run
    device = dist.init_distributed(run.device, run.dist_backend, run.dist_timeout_minutes)
    output_dir = Path(run.output_dir)
    if dist.is_main_process():
        output_dir.mkdir(parents=True, exist_ok=True)
        with atomic_open(output_dir / "config.yaml", "w", encoding="utf-8") as f:
            f.write(cfg.to_yaml())
    dist.barrier()
    setup_logging(dist.get_rank(), output_dir / "log.txt")
    set_seed(run.seed)  # identical model initialisation on every rank
    return device


def _build(cfg: Config, splits: list[str]):
    task = registry.tasks.get(cfg.run.task).setup_task(cfg)
    if dist.is_main_process():
        task.prepare_datasets(cfg)
    dist.barrier()
    datasets = task.build_datasets(cfg, splits)
    if cfg.model.get("feature_cache") is not None:
        enable_frame_sources(datasets)  # refuses pixel augmentation before the model is built
    model = task.build_model(cfg)
    return task, datasets, model


def run_training(cfg: Config) -> dict[str, Any]:
    device = _setup(cfg)
    run = cfg.run
    splits = list(dict.fromkeys([*run.train_splits, *run.valid_splits, *run.test_splits]))
    task, datasets, model = _build(cfg, splits)
    set_seed(run.seed + dist.get_rank())
    runner = registry.runners.get(run.runner)(cfg, task, model, datasets, device)
    results = runner.train()
    if dist.is_main_process():
        print(results_table(results, task.headline_metrics), flush=True)
    dist.destroy()
    return results


def run_evaluation(cfg: Config) -> dict[str, Any]:
    device = _setup(cfg)
    run = cfg.run
    task, datasets, model = _build(cfg, list(run.test_splits))
    runner = registry.runners.get(run.runner)(cfg, task, model, datasets, device)
    results = runner.evaluate(list(run.test_splits), tag="eval")
    if dist.is_main_process():
        print(results_table(results, task.headline_metrics), flush=True)
    dist.destroy()
    return results


def results_table(results: dict[str, Any], columns: Sequence[str]) -> str:
    """A plain-text table of the task's headline metrics for every evaluated split."""
    rows = [(name, m) for name, m in results.items() if isinstance(m, dict) and any(c in m for c in columns)]
    if not rows:
        return "(no evaluation results)"
    present = [c for c in columns if any(c in m for _, m in rows)]
    width = max(len(n) for n, _ in rows) + 2
    lines = ["split".ljust(width) + "".join(c.rjust(17) for c in present)]
    for name, m in rows:
        lines.append(name.ljust(width) + "".join(f"{m.get(c, float('nan')):>17}" for c in present))
    return "\n".join(lines)


def user_message(err: BaseException) -> str:
    """The message of a user error; one raised in a DataLoader worker arrives wrapped in the worker's
    traceback text, of which only the last line (the error itself) is kept."""
    text = str(err)
    if "Original Traceback" in text:
        last = [line for line in text.strip().splitlines() if line.strip()][-1]
        text = last.split("Error: ", 1)[1] if "Error: " in last else last
    return text


def cli_main(fn: Callable[[list[str] | None], Any]) -> Callable[[list[str] | None], int]:
    """Turn user errors (LavisError) into one readable line and exit code 2; bugs keep their traceback.

    Under ``torchrun`` every rank hits the same config error: only rank 0 prints it. Other errors (e.g. a bad
    video in one rank's share of the data) are printed by the rank that met them, with its number.
    """

    @functools.wraps(fn)
    def wrapper(argv: list[str] | None = None) -> int:
        try:
            fn(argv)
        except LavisError as err:
            rank = int(os.environ.get("RANK", "0"))
            newline = "\n" if progress_bar_open() else ""  # not at the end of a half-drawn bar
            if rank == 0:
                print(f"{newline}error: {user_message(err)}", file=sys.stderr, flush=True)
            elif not isinstance(err, ConfigError):
                print(f"{newline}error (rank {rank}): {user_message(err)}", file=sys.stderr, flush=True)
            return 2
        return 0

    return wrapper
