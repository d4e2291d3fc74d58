"""Does the model read the query? R1@0.5 with the true queries vs. queries shuffled across clips.

Trains a tiny Mr. BLIP on the query-grounded synthetic benchmark (``configs/demo/mr_blip_query_grounding.yaml``:
two colours per clip, one after the other; only the query says which is meant), then evaluates the best
checkpoint on the test clips twice: with their own queries, and with every query moved to another clip where
it does not describe the ground truth (the control: a model that ignores the query, or finds "an event", scores
the same on both). Prints both with the
whole-video baseline and the wall time; everything runs in a temporary folder (``--keep`` to keep it).

    python benchmarks/bench_query_grounding.py [--keep] [--options run.max_epoch=2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/demo/mr_blip_query_grounding.yaml"


def lavis(module: str, *args: str) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(proc.returncode)


def shuffled_queries(records: list[dict], seed: int = 0, max_rounds: int = 10_000) -> list[dict]:
    """Each record keeps its clip and ground truth but takes the query of a record from another clip.

    A moved query never has the record's own text: "the screen turns red" moved onto another clip whose
    ground truth is also red still describes that moment, and a hit on it would measure coincidence, not a
    model that ignores the query.
    """
    rng = random.Random(seed)

    def fits(i: int, j: int) -> bool:
        return records[i]["video"] != records[j]["video"] and records[i]["query"] != records[j]["query"]

    order = list(range(len(records)))
    rng.shuffle(order)
    for _ in range(max_rounds):
        bad = [i for i in range(len(order)) if not fits(i, order[i])]
        if not bad:
            return [dict(rec, query=records[j]["query"]) for rec, j in zip(records, order)]
        for i in bad:  # swap with a random position when both ends fit afterwards
            k = rng.randrange(len(order))
            if fits(i, order[k]) and fits(k, order[i]):
                order[i], order[k] = order[k], order[i]
    raise ValueError("cannot move every query to another clip with a different query text")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--options", nargs="+", default=[], help="overrides for training, e.g. run.max_epoch=2"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_query_"))
    common = [f"paths.cache_root={work / 'cache'}"]
    start = time.time()
    lavis(
        "lavis.train",
        "--cfg-path",
        CONFIG,
        "--options",
        *common,
        f"run.output_dir={work / 'train'}",
        *args.options,
    )
    trained = time.time() - start
    folder = next((work / "cache" / "synthetic_mr").glob("spec_*"))
    control = work / "test_shuffled.json"
    control.write_text(json.dumps(shuffled_queries(json.loads((folder / "test.json").read_text()))))
    lavis(
        "lavis.evaluate",
        "--cfg-path",
        CONFIG,
        "--checkpoint",
        str(work / "train" / "checkpoint_best.pth"),
        "--options",
        *common,
        f"run.output_dir={work / 'control'}",
        *args.options,  # the same data and model as the training run
        f"datasets.synthetic_mr.ann_paths.test={control}",
    )
    wall = time.time() - start
    true = json.loads((work / "train" / "result" / "test_best_metrics.json").read_text())
    shuffled = json.loads((work / "control" / "result" / "test_eval_metrics.json").read_text())
    print(
        f"wall time {wall:.0f} s ({wall / 60:.1f} min; training {trained:.0f} s), {true['num_queries']} test queries"
    )
    print(f"{'metric':<8}{'true queries':>14}{'shuffled':>10}{'whole video':>13}")
    for key in ("R1@0.3", "R1@0.5", "R1@0.7", "mIoU"):
        row = (true["summary"][key], shuffled["summary"][key], true["whole_video_baseline"][key])
        print(f"{key:<8}{row[0]:>14}{row[1]:>10}{row[2]:>13}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
