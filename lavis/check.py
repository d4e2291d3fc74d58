"""Check an experiment before any GPU worker starts: ``python -m lavis.check --cfg-path CONFIG.yaml [--options ...]``.

Validates every config key and checks that the annotation files and video folders of the splits the run will
use exist, then prints one ``ok`` line (exit 0) or one ``error:`` line (exit 2). The run scripts call it before
``torchrun``, so a typo or unprepared data is reported once, not once per rank under the launcher's traceback.
Arguments it does not know (``--resume``, ``--checkpoint``) are ignored, so a script can pass its own through.
"""

from __future__ import annotations

import argparse

from omegaconf import OmegaConf

from lavis.common import registry
from lavis.common.config import load_config
from lavis.datasets.frame_sources import check_processor_specs
from lavis.runners.launch import cli_main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cfg-path", required=True, help="experiment YAML")
    parser.add_argument("--splits", nargs="+", help="splits the run uses (default: the run section's)")
    parser.add_argument("--options", nargs="+", default=[], help="overrides, as for lavis.train")
    args, _ = parser.parse_known_args(argv)
    return args


@cli_main
def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cfg = load_config(args.cfg_path, args.options)
    run = cfg.run
    splits = args.splits or list(
        dict.fromkeys(
            [*run.test_splits] if run.evaluate else [*run.train_splits, *run.valid_splits, *run.test_splits]
        )
    )
    if cfg.model.get("feature_cache") is not None:  # what the loader and the model would refuse, now
        registry.models.get(cfg.model.arch).check_feature_cache(OmegaConf.to_object(cfg.model))
        check_processor_specs(cfg.datasets)
    task = registry.tasks.get(run.task).setup_task(cfg)
    for builder in task.builders(cfg).values():
        builder.check_paths(splits)
    print(f"ok: {args.cfg_path}: config valid, data paths of {', '.join(splits)} present", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
