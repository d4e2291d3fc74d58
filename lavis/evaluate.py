"""Evaluate a model: ``python -m lavis.evaluate --cfg-path CONFIG.yaml [--checkpoint CKPT] [--options ...]``.

Evaluates ``run.test_splits`` and writes predictions, the official submission file and metrics under
``run.output_dir/result``. Launch on several GPUs with ``torchrun --nproc_per_node=N -m lavis.evaluate ...``.
"""

from __future__ import annotations

import argparse

from lavis.common.config import load_config
from lavis.runners.launch import cli_main, run_evaluation


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg-path", required=True, help="experiment YAML")
    parser.add_argument("--checkpoint", help="fine-tuned checkpoint to evaluate (sets model.finetuned)")
    parser.add_argument("--splits", nargs="+", help="splits to evaluate (default: run.test_splits)")
    parser.add_argument("--options", nargs="+", default=[], help="overrides, e.g. run.batch_size_eval=8")
    return parser.parse_args(argv)


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    options = ["run.evaluate=true", *args.options]
    if args.checkpoint:
        options.append(f"model.finetuned={args.checkpoint}")
    if args.splits:
        options.append("run.test_splits=[" + ",".join(args.splits) + "]")
    run_evaluation(load_config(args.cfg_path, options))


if __name__ == "__main__":
    raise SystemExit(main())
