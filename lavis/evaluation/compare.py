"""Side-by-side test metrics of several runs, with the whole-video baseline, for demos and ablations.

    python -m lavis.evaluation.compare "SMS=out/a/result/test_best_metrics.json" "Mr. BLIP=out/b/..." [--out C.json]

Each file is a moment-retrieval ``*_metrics.json`` written by the runner (``summary`` and, when the task
scored it, ``whole_video_baseline``); the baseline column comes from the first file that has one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.common.io import read_json
from lavis.evaluation.reporting import run_metrics_cli

DEFAULT_METRICS = ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "mAP")


def load_runs(specs: list[str]) -> dict[str, dict[str, Any]]:
    """``NAME=PATH`` (or just ``PATH``, named after its run folder) → that file's metrics."""
    runs: dict[str, dict[str, Any]] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path, name = spec, Path(spec).resolve().parent.parent.name
        if not Path(path).is_file():
            raise DataError(f"{name}: metrics file not found: {path} (did that run finish?)")
        metrics = read_json(path)
        if not isinstance(metrics, dict) or not isinstance(metrics.get("summary"), dict):
            raise DataError(f"{name}: {path} has no 'summary' (not a metrics file written by the runner)")
        runs[name] = metrics
    return runs


def compare(runs: dict[str, dict[str, Any]], metrics: tuple[str, ...] = DEFAULT_METRICS) -> dict[str, Any]:
    table = {name: {m: run["summary"].get(m) for m in metrics} for name, run in runs.items()}
    baseline = next(
        (run["whole_video_baseline"] for run in runs.values() if "whole_video_baseline" in run), None
    )
    if baseline is not None:
        table["whole video"] = {m: baseline.get(m) for m in metrics}
    return {"metrics": list(metrics), "runs": table}


def render(result: dict[str, Any]) -> str:
    names = list(result["runs"])
    width = max(len("metric"), *(len(m) for m in result["metrics"]))
    cols = [max(8, len(n)) for n in names]
    lines = [f"{'metric':<{width}}" + "".join(f"  {n:>{c}}" for n, c in zip(names, cols))]
    for m in result["metrics"]:
        cells = []
        for n, c in zip(names, cols):
            value = result["runs"][n][m]
            cells.append(f"  {'n/a' if value is None else f'{value:.2f}':>{c}}")
        lines.append(f"{m:<{width}}" + "".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("runs", nargs="+", help="NAME=metrics.json (or a metrics.json path)")
    parser.add_argument("--metrics", nargs="+", default=list(DEFAULT_METRICS))
    parser.add_argument("--out", help="write the comparison as JSON")
    args = parser.parse_args(argv)
    return run_metrics_cli(lambda: compare(load_runs(args.runs), tuple(args.metrics)), render, args.out)


if __name__ == "__main__":
    sys.exit(main())
