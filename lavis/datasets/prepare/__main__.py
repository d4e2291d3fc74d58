"""``python -m lavis.datasets.prepare`` / ``lavis-prepare``: annotation files, video checks, re-encoding, shards.

    lavis-prepare qvh --input DIR --output DIR
    lavis-prepare charades_sta --input DIR --output DIR [--split custom|original]
    lavis-prepare anet | anet_tal | unav100 | nextqa | nextgqa --input DIR --output DIR
    lavis-prepare lvu --input DIR --output DIR [--task TASK] [--history 100 --stride 20]
    lavis-prepare breakfast | coin | msrvtt_qa | msvd_qa | activitynet_qa --input DIR --output DIR
    lavis-prepare msrvtt_caption | msvd_caption | youcook2 --input DIR --output DIR
    lavis-prepare star | how2qa | tvqa --input DIR --output DIR
    lavis-prepare vlep --input DIR --output DIR [--tvqa-dir tvqa --youtube-dir youtube]
    lavis-prepare check-videos --video-root DIR --annotations FILE [FILE ...] [--report out.json]
    lavis-prepare reencode --input-root DIR --output-root DIR [--fps 15 --short-side 256]
    lavis-prepare extract-frames --videos DIR --output DIR [--fps 10 --short-side 256]
    lavis-prepare shards --video-root DIR --annotations FILE --output DIR [--samples-per-shard N]
    lavis-prepare calce-merge --annotations FILE --predictions PRED.jsonl --output FILE

Exit status: 0 success, 1 check-videos found problems (or some re-encodes / frame extractions failed),
2 bad input (one message on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lavis.common.errors import LavisError
from lavis.datasets.prepare.extract_frames import VIDEO_EXTS
from lavis.datasets.prepare.lvu import TASKS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lavis-prepare",
        description="Turn official benchmark downloads into annotation files; check, re-encode and shard videos.",
        epilog="Per-dataset downloads and outputs: mr_BLIP_data/README.md",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def dataset(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--input", required=True, type=Path, help="folder with the official files")
        p.add_argument("--output", required=True, type=Path, help="folder for the annotation files")
        return p

    dataset("qvh", "QVHighlights: highlight_{train,val,test}_release.jsonl (+ highlight_test_with_gt.jsonl)")
    p = dataset("charades_sta", "Charades-STA: charades_sta_{train,test}.txt + Charades_v1_{train,test}.csv")
    p.add_argument("--split", choices=["custom", "original"], default="custom",
                   help="custom: Mr. BLIP's train/val/test (800 train videos held out); original: train/test")
    p.add_argument("--seed", type=int, default=42, help="seed of the held-out video draw (custom split)")
    p.add_argument("--num-val-videos", type=int, default=800, help="train videos held out as val (custom)")
    dataset("anet", "ActivityNet Captions: train.json, val_1.json (val), val_2.json (test)")
    p = dataset("anet_tal", "ActivityNet 1.3 action localisation: activity_net.v1-3.min.json")
    p.add_argument("--video-prefix", default="v_", help="prefix of video file names (default v_)")
    p = dataset("unav100", "UnAV-100 audio-visual events: unav100_annotations.json (one query per video and label)")
    p.add_argument("--video-ext", default=".mp4", help="extension of the video files (default .mp4)")
    p = dataset("nextqa", "NExT-QA: {train,}val,test.csv + map_vid_vidorID.json")
    p.add_argument("--map", type=Path, help="map_vid_vidorID.json (default: in --input)")
    p = dataset("nextgqa", "NExT-GQA: {val,test}.csv + gsub_{val,test}.json + map_vid_vidorID.json")
    p.add_argument("--map", type=Path, help="map_vid_vidorID.json (default: in --input)")
    p.add_argument("--nextqa-input", type=Path,
                   help="NExT-QA csv folder: take answer indices from it (resolves duplicated option texts)")

    p = dataset("lvu", "LVU (MA-LMM's {train,val,test}.json): one record per window, <task>_<split>.json")
    p.add_argument("--task", choices=TASKS, help="one of the 7 classification tasks (default: all)")
    p.add_argument("--history", type=int, default=100, help="window length in seconds (default 100)")
    p.add_argument("--stride", type=int, default=20, help="seconds between window starts (default 20)")
    dataset("breakfast", "Breakfast (MA-LMM's {train,val}.json)")
    dataset("coin", "COIN (MA-LMM's COIN.json)")
    dataset("msrvtt_qa", "MSRVTT-QA (MA-LMM's qa_{train,val,test}.json)")
    dataset("msvd_qa", "MSVD-QA (MA-LMM's qa_{train,val,test}.json)")
    dataset("activitynet_qa", "ActivityNet-QA (MA-LMM's qa_{train,val,test}.json)")
    dataset("msrvtt_caption", "MSRVTT captioning (MA-LMM's cap_{train,val,test}.json)")
    dataset("msvd_caption", "MSVD captioning (MA-LMM's cap_{train,val,test}.json)")
    dataset("youcook2", "YouCook2 captioning (MA-LMM's cap_{train,val}.json; cap_test.json has no captions)")
    dataset("star", "STAR: STAR_{train,val}.json")
    dataset("how2qa", "How2QA: how2qa_{train,val}_release.jsonl")
    dataset("tvqa", "TVQA: tvqa_{train,val}.jsonl")
    p = dataset("vlep", "VLEP: vlep_{train,dev}_release.jsonl (dev is written as val)")
    p.add_argument("--tvqa-dir", default="tvqa", help="folder of the TVQA clips under the video root (default tvqa)")
    p.add_argument("--youtube-dir", default="youtube",
                   help="folder of the YouTube vlog clips under the video root (default youtube)")

    p = sub.add_parser("check-videos", help="report missing, empty, unreadable or too-short videos")
    p.add_argument("--video-root", required=True, type=Path)
    p.add_argument("--annotations", required=True, type=Path, nargs="+", help="annotation files (JSON/JSONL)")
    p.add_argument("--ext", default=".mp4", help="video file extension (default .mp4)")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (0 = in this process)")
    p.add_argument("--report", type=Path, help="also write the full report as JSON")

    p = sub.add_parser("reencode", help="re-encode videos to a fixed fps and short side (PyAV, H.264)")
    p.add_argument("--input-root", required=True, type=Path)
    p.add_argument("--output-root", required=True, type=Path)
    p.add_argument("--fps", type=float, default=15.0)
    p.add_argument("--short-side", type=int, default=256)
    p.add_argument("--ext", default=".mp4")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--overwrite", action="store_true", help="re-encode even if the output exists")

    p = sub.add_parser("extract-frames", help="extract JPEG frames at a fixed fps (MA-LMM's frame folders; PyAV)")
    p.add_argument("--videos", required=True, type=Path, help="folder with the videos (searched recursively)")
    p.add_argument("--output", required=True, type=Path, help="frame root: <output>/<video>/frame000001.jpg")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second (default 10, as MA-LMM)")
    p.add_argument("--short-side", type=int, default=256, help="short side in pixels (default 256)")
    p.add_argument("--quality", type=int, default=95, help="JPEG quality 1-100 (default 95)")
    p.add_argument("--ext", nargs="+", default=list(VIDEO_EXTS), help="video extensions to look for")
    p.add_argument("--workers", type=int, default=None, help="parallel processes (0 = in this process)")
    p.add_argument("--overwrite", action="store_true", help="extract again even if the frame folder exists")

    p = sub.add_parser("calce-merge", help="CALCE: write stage-1 predictions into annotations as stage1_result")
    p.add_argument("--annotations", required=True, type=Path, help="the split's annotation file (JSON list)")
    p.add_argument("--predictions", required=True, type=Path,
                   help="stage-1 <split>_best_predictions.jsonl (qid, pred_windows) of that split")
    p.add_argument("--output", required=True, type=Path, help="the stage-2 annotation file to write")

    p = sub.add_parser("shards", help="pack videos + annotations into webdataset tar shards")
    p.add_argument("--video-root", required=True, type=Path)
    p.add_argument("--annotations", required=True, type=Path, help="one annotation file (one split)")
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--samples-per-shard", type=int, default=100, help="videos per shard (default 100)")
    p.add_argument("--ext", default=".mp4")
    return parser


def run(args: argparse.Namespace) -> int:
    """Dispatch; LavisErrors propagate to ``main``."""
    if args.command == "check-videos":
        return _check_videos(args)
    if args.command == "reencode":
        return _reencode(args)
    if args.command == "shards":
        return _shards(args)
    if args.command == "extract-frames":
        return _extract_frames(args)
    if args.command == "calce-merge":
        return _calce_merge(args)
    return _prepare(args)


def _prepare(args: argparse.Namespace) -> int:
    from lavis.datasets.prepare import prepare_dataset

    options = {
        "charades_sta": lambda: {"split": args.split, "seed": args.seed, "num_val_videos": args.num_val_videos},
        "anet_tal": lambda: {"video_prefix": args.video_prefix},
        "unav100": lambda: {"video_ext": args.video_ext},
        "nextqa": lambda: {"map_path": args.map},
        "nextgqa": lambda: {"map_path": args.map, "nextqa_input": args.nextqa_input},
        "lvu": lambda: {"task": args.task, "history": args.history, "stride": args.stride},
        "vlep": lambda: {"tvqa_dir": args.tvqa_dir, "youtube_dir": args.youtube_dir},
    }.get(args.command, dict)()
    result = prepare_dataset(args.command, args.input, args.output, **options)
    print(f"{result.dataset}: wrote {len(result.counts)} files to {result.output_dir}")
    has_windows = any(name.endswith("_float.json") for name in result.counts)
    width = max(22, *(len(name) for name in result.counts))
    for name, count in result.counts.items():
        print(f"  {name:<{width}} {count:>7} records  {_describe(name, has_windows)}".rstrip())
    for note in result.notes:
        print(f"  note: {note}")
    return 0


def _describe(name: str, has_windows: bool) -> str:
    if name.endswith("_no_gt.json"):
        return "queries only, NO ground truth"
    if name.endswith("_float.json"):
        return "float windows (evaluation ground truth)"
    return "integer-second windows (training targets)" if has_windows else ""


def _calce_merge(args: argparse.Namespace) -> int:
    from lavis.common.io import read_json, read_jsonl, write_json
    from lavis.datasets.prepare.calce_merge import merge_stage1

    predictions = {str(row["qid"]): row["pred_windows"] for row in read_jsonl(args.predictions)}
    merged = merge_stage1(read_json(args.annotations), predictions, source=str(args.predictions))
    write_json(args.output, merged)
    print(f"wrote {len(merged)} records with stage1_result to {args.output}")
    return 0


def _check_videos(args: argparse.Namespace) -> int:
    from lavis.datasets.prepare.videos import check_videos, write_report

    report = check_videos(args.video_root, args.annotations, ext=args.ext, workers=args.workers)
    for issue in report.issues:
        print(f"{issue.problem.upper():<12} {issue.video}  ({issue.path}): {issue.detail}")
    print(report.summary())
    print(f"({report.tolerance})")
    if args.report:
        write_report(report, args.report)
        print(f"report written to {args.report}")
    return 0 if report.ok else 1


def _reencode(args: argparse.Namespace) -> int:
    from lavis.datasets.prepare.videos import reencode_tree

    report = reencode_tree(
        args.input_root, args.output_root, fps=args.fps, short_side=args.short_side, ext=args.ext,
        workers=args.workers, overwrite=args.overwrite,
    )
    for rel, error in sorted(report.failed.items()):
        print(f"FAILED {rel}: {error}")
    print(
        f"re-encoded {len(report.written)} video(s) to {args.output_root} ({args.fps:g} fps, short side "
        f"{args.short_side}); {len(report.skipped_existing)} already present; {len(report.failed)} failed"
    )
    return 1 if report.failed else 0


def _extract_frames(args: argparse.Namespace) -> int:
    from lavis.datasets.prepare.extract_frames import extract_frames_tree

    report = extract_frames_tree(
        args.videos, args.output, fps=args.fps, short_side=args.short_side, quality=args.quality,
        exts=tuple(args.ext), workers=args.workers, overwrite=args.overwrite,
    )
    for rel, error in sorted(report.failed.items()):
        print(f"FAILED {rel}: {error}")
    print(
        f"extracted {len(report.written)} video(s) ({sum(report.written.values())} frames) to {args.output} "
        f"({args.fps:g} fps, short side {args.short_side}); {len(report.skipped_existing)} already present; "
        f"{len(report.failed)} failed"
    )
    return 1 if report.failed else 0


def _shards(args: argparse.Namespace) -> int:
    from lavis.datasets.shards import write_shards

    manifest = write_shards(
        args.video_root, args.annotations, args.output, samples_per_shard=args.samples_per_shard,
        video_ext=args.ext,
    )
    print(
        f"wrote {len(manifest.shards)} shard(s) to {args.output}: {manifest.num_videos} videos, "
        f"{manifest.num_records} records"
    )
    print(f"  config: datasets.<name>.shards.<split>: {manifest.url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LavisError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no partial outputs were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
