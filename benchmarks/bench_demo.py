"""Wall time and quality of the synthetic CPU demo, against the trivial "whole video" baseline.

Runs ``run_scripts/demo/mr_blip_synthetic.sh`` from scratch (data generation included, into a fresh cache and
output folder) and prints: total wall time, the time spent generating data, the held-out test metrics, and the
same metrics for predicting the whole video. Extra arguments are passed to the demo (e.g. --options ...).

    python benchmarks/bench_demo.py [--keep] [--options run.max_epoch=2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="keep the temporary output and cache folders")
    args, extra = parser.parse_known_args()
    work = Path(tempfile.mkdtemp(prefix="bench_demo_"))
    out = work / "output"
    options = [f"run.output_dir={out}", f"paths.cache_root={work / 'cache'}"]
    if extra and extra[0] == "--options":
        options += extra[1:]
    elif extra:
        parser.error(f"unexpected arguments {extra}")
    start = time.time()
    proc = subprocess.run(
        ["bash", str(REPO / "run_scripts/demo/mr_blip_synthetic.sh"), "--options", *options],
        cwd=REPO, capture_output=True, text=True,
        # The demo script calls `python`: make it the interpreter running this benchmark (e.g. a venv's).
        env={**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"},
    )
    wall = time.time() - start
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return proc.returncode
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    first_train = next(r for r in log if r["kind"] == "train")
    steps = max(r["step"] for r in log if r["kind"] == "train")
    metrics = json.loads((out / "result" / "test_best_metrics.json").read_text())
    model, base = metrics["summary"], metrics["whole_video_baseline"]
    print(f"demo wall time: {wall:.0f} s ({wall / 60:.1f} min), {steps} optimizer steps")
    print(f"  first training step logged {first_train['time'] - start:.0f} s after start (data generation, model build)")
    print(f"  held-out test queries: {metrics['num_queries']}")
    print(f"{'metric':<10}{'tiny Mr. BLIP':>15}{'whole video':>13}")
    for key in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU", "mAP"):
        print(f"{key:<10}{model[key]:>15}{base[key]:>13}")
    ratio = model["R1@0.5"] / base["R1@0.5"] if base["R1@0.5"] else float("inf")
    print(f"R1@0.5 ratio model / baseline: {ratio:.1f}x")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
