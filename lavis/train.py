"""Train a model: ``python -m lavis.train --cfg-path CONFIG.yaml [--options key=value ...] [--resume]``.

Launch on several GPUs with ``torchrun --nproc_per_node=N -m lavis.train ...``.
"""

from __future__ import annotations

import argparse

from lavis.common.config import load_config
from lavis.runners.launch import cli_main, run_training


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg-path", required=True, help="experiment YAML")
    parser.add_argument("--options", nargs="+", default=[], help="overrides, e.g. run.max_epoch=2 model.lora.r=16")
    parser.add_argument("--resume", action="store_true", help="continue from <output_dir>/checkpoint_last.pth")
    return parser.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    options = list(args.options) + (["run.resume=true"] if args.resume else [])
    run_training(load_config(args.cfg_path, options))


if __name__ == "__main__":
    raise SystemExit(main())
