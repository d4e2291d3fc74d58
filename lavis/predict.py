"""Run a model on your own videos: ``python -m lavis.predict`` (``lavis-predict``).

    lavis-predict --checkpoint output/demo/mr_blip_synthetic/checkpoint_best.pth video.mp4 "the screen turns red"
    lavis-predict --checkpoint CKPT videos/ --queries queries.jsonl -o results.jsonl --plot plots/

A queries file has one JSON object per line: ``{"query": "...", "video": "<file name or stem>", "qid": "..."}``;
a line without ``video`` asks every video of the folder. Results (one line per video and query: ranked
windows in seconds with scores) are written atomically; a table is printed. Videos that cannot be read
are reported by name and skipped; the exit code is 1 if any was, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lavis.common.errors import LavisError


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="lavis-predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("video", type=Path, help="a video file, or a folder of videos")
    p.add_argument("query", nargs="?", help="what to find (for every video when VIDEO is a folder)")
    p.add_argument("--queries", type=Path, help="JSONL file of queries (see above)")
    p.add_argument("-o", "--output", type=Path, default=Path("predictions.jsonl"), help="JSONL results file")
    p.add_argument(
        "--model", help="model name (e.g. mr_blip); optional with a checkpoint written by lavis.train"
    )
    p.add_argument("--model-type", help="model preset (e.g. tiny, pretrain_flant5xl)")
    p.add_argument("--checkpoint", help="fine-tuned checkpoint (e.g. output/.../checkpoint_best.pth)")
    p.add_argument("--cfg-path", help="experiment YAML to build the model and processors from")
    p.add_argument(
        "--options", nargs="+", default=[], help="config overrides, e.g. run.generation.num_beams=1"
    )
    p.add_argument("--device", help="cpu, cuda, cuda:1 (default: cuda if available)")
    p.add_argument("--num-frames", type=int, help="frames sampled per video (default: as the config says)")
    p.add_argument("--batch-size", type=int, default=8, help="queries per forward pass")
    p.add_argument("--top-k", type=int, default=3, help="windows shown per query in the table")
    p.add_argument(
        "--plot", type=Path, help="timeline PNG: a .png file for one video, else a folder (one per video)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except LavisError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 2


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lavis.common.io import write_jsonl
    from lavis.inference import load_model
    from lavis.inference.jobs import make_jobs, results_table, run_jobs

    jobs = make_jobs(args.video, args.query, args.queries)
    predictor = load_model(
        args.model,
        model_type=args.model_type,
        checkpoint=args.checkpoint,
        device=args.device,
        config=args.cfg_path,
        options=args.options,
        num_frames=args.num_frames,
    )
    predictor.batch_size = max(1, args.batch_size)

    def plot_path(job):
        if args.plot is None:
            return None
        if args.plot.suffix.lower() == ".png" and len(jobs) == 1:
            return args.plot
        return args.plot / f"{job.video.stem}.png"

    def report(failure):
        tqdm.write(f"error: skipped {failure.video.name}: {failure.reason}", file=sys.stderr)

    def bar(iterable, total):
        return tqdm(
            iterable, total=total, desc="predict", unit="query", disable=args.no_progress, file=sys.stderr
        )

    results, failures = run_jobs(predictor, jobs, progress=bar, on_failure=report, plot_path=plot_path)
    write_jsonl(args.output, [r.to_dict() for r in results])
    print(results_table(results, args.top_k))
    print(f"\n{len(results)} predictions for {len(jobs) - len(failures)} videos written to {args.output}")
    if args.plot is not None and results:
        print(f"timeline plots: {args.plot}")
    if failures:
        print(f"{len(failures)} of {len(jobs)} videos could not be read and were skipped:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure.video}: {failure.reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
