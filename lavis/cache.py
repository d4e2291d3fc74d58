"""Fill the frozen-feature cache before training:
``python -m lavis.cache build --cfg-path CONFIG.yaml [--splits train val] [--options key=value ...]``.

Builds the model and the datasets exactly as training does (same config, same processors, same ``run.amp``
autocast, same device), walks the splits and stores the frozen features of every sample under
``model.feature_cache.root``. Prints how many samples were computed and how many were already present, and
the cache's size on disk. Training then reads every entry instead of running the frozen ViT (and Q-Former).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import time
from typing import Any

import torch
from torch.utils.data import DataLoader

from lavis.common import dist
from lavis.common.config import Config, load_config
from lavis.common.errors import ConfigError
from lavis.common.logger import progress, setup_logging
from lavis.datasets.samplers import ShardSampler
from lavis.runners.launch import _build, cli_main
from lavis.runners.runner_base import AMP_DTYPES, collate_fn_for, set_seed

logger = logging.getLogger(__name__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="compute and store the frozen features of the configured splits")
    build.add_argument("--cfg-path", required=True, help="experiment YAML (the one you train with)")
    build.add_argument(
        "--splits", nargs="+", default=None, help="default: the run's train, valid and test splits"
    )
    build.add_argument(
        "--options",
        nargs="+",
        default=[],
        help="overrides, e.g. model.feature_cache.dtype=fp16 (as for training)",
    )
    return parser.parse_args(argv)


def build_cache(cfg: Config, splits: list[str] | None = None) -> dict[str, Any]:
    """Fill the cache for ``splits``; returns ``{computed, present, unreadable, entries, bytes, seconds}``."""
    if cfg.model.get("feature_cache") is None:
        raise ConfigError(f"{cfg.source}: model.feature_cache is null; set at least model.feature_cache.root")
    run = cfg.run
    splits = splits or list(dict.fromkeys([*run.train_splits, *run.valid_splits, *run.test_splits]))
    device = dist.init_distributed(run.device, run.dist_backend, run.dist_timeout_minutes)
    if run.amp == "fp16" and device.type != "cuda":
        raise ConfigError(
            "run.amp=fp16 needs a GPU; use bf16 or off on CPU (and train with the same setting)"
        )
    set_seed(run.seed)  # as training does before building: a randomly initialised part hashes the same
    task, datasets, model = _build(cfg, splits)
    model.prepare_for_device(device)
    model.eval()
    amp = AMP_DTYPES.get(run.amp)  # the autocast training runs the frozen part under: part of the cache key
    start = time.time()
    for name, by_split in datasets.items():
        for split in splits:
            ds = by_split.get(split)
            if ds is None:
                continue
            if not getattr(ds, "frame_sources", False):
                logger.warning("%s %s: its samples carry no frame sources; nothing to cache", name, split)
                continue
            if hasattr(ds, "set_epoch"):
                ds.set_epoch(0)  # random frame choice (if any) as in the first training epoch
            # under torchrun the ranks share the work
            sampler = ShardSampler(len(ds), dist.get_world_size(), dist.get_rank())
            loader = DataLoader(
                ds,
                batch_size=run.batch_size_eval,
                sampler=sampler,
                num_workers=run.num_workers,
                collate_fn=collate_fn_for(ds),
            )
            bar = progress(loader, total=len(loader), desc=f"{name} {split}", enabled=dist.is_main_process())
            for batch in bar:
                if task.is_empty(batch):
                    continue
                autocast = torch.autocast(device.type, dtype=amp) if amp else contextlib.nullcontext()
                with autocast:
                    model.fill_feature_cache(batch)
    stats = dist.all_gather_objects(model.feature_cache.stats.as_dict())
    dist.barrier()
    entries, size = model.feature_cache.disk_usage()
    return {
        "computed": sum(s["misses"] for s in stats),
        "present": sum(s["hits"] for s in stats),
        "unreadable": sum(s["unreadable"] for s in stats),
        "entries": entries,
        "bytes": size,
        "seconds": time.time() - start,
    }


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    setup_logging(int(os.environ.get("RANK", "0")))  # before the process group exists
    cfg = load_config(args.cfg_path, args.options)
    result = build_cache(cfg, args.splits)
    root = cfg.model.feature_cache.root
    if not dist.is_main_process():
        dist.destroy()
        return
    print(
        f"feature cache {root} ({cfg.model.feature_cache.level}, {cfg.model.feature_cache.dtype}): "
        f"{result['computed']} samples computed, {result['present']} already present"
        + (f", {result['unreadable']} unreadable entries recomputed" if result["unreadable"] else "")
        + f" in {result['seconds']:.1f} s; {result['entries']} entries, {result['bytes'] / 2**20:.1f} MiB on disk",
        flush=True,
    )
    dist.destroy()


if __name__ == "__main__":
    raise SystemExit(main())
