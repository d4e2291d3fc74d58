"""Read N samples from webdataset shards and from a video folder, in the same run, and compare.

    python benchmarks/bench_shards.py                      # synthetic videos in a temp dir
    python benchmarks/bench_shards.py --video-root DIR --annotations FILE --samples 200 --num-workers 4

Both readers go through the same processor and DataLoader settings, so the difference is the storage:
many small files (one open + seek per sample) versus a few sequentially read tar files. On a local SSD
with a warm page cache the two are close (decoding dominates); shards pay off on network or spinning
storage, which this benchmark can only show when pointed at such a --video-root / --work-dir.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lavis.datasets.moment_retrieval import MomentRetrievalDataset, collate_moment_retrieval  # noqa: E402
from lavis.datasets.shards import ShardMomentRetrievalDataset, write_shards  # noqa: E402
from lavis.processors.video_processors import VideoEvalProcessor, VideoProcessorConfig  # noqa: E402


def synthetic_corpus(root: Path, num_videos: int, seconds: float, size: int) -> Path:
    """``num_videos`` random-noise H.264 clips (noise is the worst case for the decoder) + annotations."""
    import av

    records = []
    rng = np.random.default_rng(0)
    for v in range(num_videos):
        name = f"video_{v:05d}"
        with av.open(str(root / "videos" / f"{name}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=10)
            stream.width = stream.height = size
            stream.pix_fmt = "yuv420p"
            for _ in range(int(seconds * 10)):
                frame = av.VideoFrame.from_ndarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
        records.append({"video": name, "qid": f"bench_{v}", "query": "q", "duration": seconds,
                        "relevant_windows": [[0.0, seconds / 2]]})
    ann = root / "annotations.json"
    ann.write_text(json.dumps(records))
    return ann


def time_reading(dataset, samples: int, num_workers: int) -> float:
    loader = DataLoader(dataset, batch_size=1, num_workers=num_workers, collate_fn=collate_moment_retrieval)
    start = time.perf_counter()
    read = sum(1 for _ in islice(loader, samples))
    elapsed = time.perf_counter() - start
    if read < samples:
        print(f"  (only {read} samples available)")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video-root", type=Path, help="real videos (default: synthetic)")
    parser.add_argument("--annotations", type=Path, help="annotation file for --video-root")
    parser.add_argument("--samples", type=int, default=64, help="N samples to read from each source")
    parser.add_argument("--num-videos", type=int, default=64, help="synthetic videos to create")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of synthetic videos")
    parser.add_argument("--size", type=int, default=96, help="side of synthetic videos")
    parser.add_argument("--n-frms", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--samples-per-shard", type=int, default=16)
    parser.add_argument("--work-dir", type=Path, help="where synthetic data and shards go (default: temp)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(dir=args.work_dir) as tmp:
        tmp = Path(tmp)
        if args.video_root:
            if not args.annotations:
                parser.error("--video-root needs --annotations")
            video_root, ann = args.video_root, args.annotations
        else:
            (tmp / "videos").mkdir()
            video_root, ann = tmp / "videos", synthetic_corpus(tmp, args.num_videos, args.seconds, args.size)
        manifest = write_shards(video_root, ann, tmp / "shards", args.samples_per_shard, progress=False)
        processor = VideoEvalProcessor(VideoProcessorConfig(n_frms=args.n_frms, image_size=args.image_size))
        folder = MomentRetrievalDataset(ann, video_root, processor)
        stream = ShardMomentRetrievalDataset(manifest.url, processor)
        samples = min(args.samples, len(folder))
        for warm_up in (folder, stream):  # imports, decoder initialisation, page cache
            time_reading(warm_up, min(4, samples), 0)
        t_folder = time_reading(folder, samples, args.num_workers)
        t_shards = time_reading(stream, samples, args.num_workers)
    print(f"samples: {samples}  frames/sample: {args.n_frms}  image size: {args.image_size}  "
          f"workers: {args.num_workers}  shards: {len(manifest.shards)}")
    print(f"folder : {t_folder:8.3f} s  ({samples / t_folder:7.1f} samples/s)")
    print(f"shards : {t_shards:8.3f} s  ({samples / t_shards:7.1f} samples/s)")
    print(f"ratio folder/shards: {t_folder / t_shards:.2f} (> 1 means shards are faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
