"""Decode throughput of the project's video reader against the LAVIS / Mr. BLIP reader, in the same run.

    python benchmarks/bench_decode.py                  # 150 s, 30 fps, 640x360 H.264 clip, GOP 60 (cached)
    python benchmarks/bench_decode.py --video FILE --frames 60 --size 224 --repeats 7

Reads ``--frames`` evaluation frames (segment midpoints, as Mr. BLIP evaluates) at ``--size`` px with:

- **baseline**: the LAVIS-style reader, written here: ``decord.VideoReader(path, width=S, height=S)`` (resize
  in the decoder, decord's default threads) and ``get_batch`` of the sampled indices;
- **exact**: ``load_video_frames`` (reader ``pyav``, ``decode: exact``), one decoding thread and with
  ``--workers`` threads;
- **keyframes**: the opt-in fast mode (``decode: keyframes``): each sampled frame moved to the nearest
  keyframe, only keyframes decoded;
- **frame folder**: the other fast mode: the clip pre-extracted once at ``--folder-fps`` (JPEG, short side
  256, what ``python -m lavis.datasets.prepare extract-frames`` writes; not timed), read with
  ``load_frame_folder``.

A second baseline row is the project's previous reader: decord with one thread, resize in the decoder.

The readers run interleaved (baseline, exact, ...; ``--repeats`` rounds) so a machine shared with other jobs
slows them alike; the figures are medians. Frames are compared with the baseline's: the exact reader must
be identical; a fast mode prints how far its frames' timestamps are from the sampled ones (and keyframes are
compared with decord's frames at the same indices).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lavis.datasets.frames import load_frame_folder  # noqa: E402
from lavis.datasets.prepare.extract_frames import extract_video_frames  # noqa: E402
from lavis.datasets.video import load_video_frames, segment_indices  # noqa: E402

CACHE = REPO / ".cache" / "bench_decode"


def make_clip(
    path: Path, seconds: float = 150.0, fps: int = 30, width: int = 640, height: int = 360, gop: int = 60
) -> Path:
    """A textured, panning H.264 clip with a moving square (x264 defaults otherwise: B-frames, B-pyramid)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.mp4")
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (height // 8 + 9, width // 4 + 17, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(texture, 8, axis=0), 8, axis=1)
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}  # fixed GOP
        for i in range(int(round(seconds * fps))):
            dx, dy = (3 * i) % 64, (i // 2) % 64
            image = texture[dy : dy + height, dx : dx + width].copy()
            x, y = (5 * i) % (width - 40), (3 * i) % (height - 40)
            image[y : y + 40, x : x + 40] = (255 * (i % 30) // 29, 200, 50)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    partial.rename(path)
    return path


def baseline_reader(path: Path, num_frames: int, size: int) -> tuple[np.ndarray, list[int]]:
    """What LAVIS / Mr. BLIP do: decord resizes in the decoder, then ``get_batch`` of the sampled indices."""
    import decord

    reader = decord.VideoReader(str(path), width=size, height=size)
    indices = segment_indices(0, len(reader), num_frames, "middle")
    return reader.get_batch(indices).asnumpy(), indices


def previous_reader(path: Path, num_frames: int, size: int):
    video = load_video_frames(path, num_frames, size, "middle", reader="decord")
    return video.frames.permute(0, 2, 3, 1).numpy(), video


def folder_reader(folder: Path, num_frames: int, size: int, fps: float):
    video = load_frame_folder(folder, num_frames, size, "middle", fps=fps)
    return video.frames.permute(0, 2, 3, 1).numpy(), video


def project_reader(path: Path, num_frames: int, size: int, decode: str = "exact", workers: int = 1):
    video = load_video_frames(path, num_frames, size, "middle", decode=decode, workers=workers)
    return video.frames.permute(0, 2, 3, 1).numpy(), video


def compare(output, base_frames: np.ndarray, base_times: np.ndarray, path: Path, size: int) -> str:
    """How a reader's frames relate to the baseline's: identical, or how far their timestamps moved."""
    frames, video = output
    if frames.shape == base_frames.shape and np.array_equal(np.asarray(video.timestamps), base_times):
        diff = int(np.abs(frames.astype(np.int16) - base_frames.astype(np.int16)).max())
        return "identical" if diff == 0 else f"same frames, max abs pixel diff {diff}"
    shift = np.abs(np.asarray(video.timestamps) - base_times)
    text = f"{len(set(video.indices))} distinct frames, moved by {shift.mean():.2f} s on average (max {shift.max():.2f})"
    if len(video.indices) and video.num_video_frames == len(
        _decord(path, size)
    ):  # frames of the video itself
        same = np.array_equal(frames, _decord(path, size).get_batch(video.indices).asnumpy())
        text = f"{'equal to' if same else 'DIFFERENT from'} decord's frames at its indices; " + text
    return text


def _decord(path: Path, size: int):
    import decord

    return decord.VideoReader(str(path), width=size, height=size)


def timed(fn, *args, **kwargs):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--video", type=Path, help="video to read (default: the generated benchmark clip)")
    parser.add_argument("--frames", type=int, default=60, help="frames per read (segment midpoints)")
    parser.add_argument("--size", type=int, default=224, help="square output size")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds (medians are printed)")
    parser.add_argument("--workers", type=int, default=2, help="threads for the parallel variants")
    parser.add_argument("--folder-fps", type=float, default=10.0, help="extraction rate of the frame folder")
    args = parser.parse_args(argv)

    path = args.video
    if path is None:
        path = CACHE / "clip_150s_30fps_640x360_gop60.mp4"
        if not path.is_file():
            print(f"generating {path} (once) ...", flush=True)
            make_clip(path)
    folder = CACHE / "frames" / f"{path.stem}_{args.folder_fps:g}fps"
    if not folder.is_dir():
        print(f"extracting {folder} (once) ...", flush=True)
        extract_video_frames(path, folder, fps=args.folder_fps)

    variants = {
        "baseline (decord, LAVIS-style)": lambda: baseline_reader(path, args.frames, args.size),
        "decord, 1 thread (previous reader)": lambda: previous_reader(path, args.frames, args.size),
        "exact, 1 thread": lambda: project_reader(path, args.frames, args.size),
        f"exact, {args.workers} threads": lambda: project_reader(
            path, args.frames, args.size, workers=args.workers
        ),
        "keyframes (fast mode), 1 thread": lambda: project_reader(path, args.frames, args.size, "keyframes"),
        f"keyframes (fast mode), {args.workers} threads": lambda: project_reader(
            path, args.frames, args.size, "keyframes", args.workers
        ),
        f"frame folder ({args.folder_fps:g} fps JPEG)": lambda: folder_reader(
            folder, args.frames, args.size, args.folder_fps
        ),
    }
    for fn in variants.values():  # warm-up: imports, page cache
        fn()
    walls: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    outputs: dict[str, object] = {}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            outputs[name], wall, cpu = timed(fn)
            walls[name].append(wall)
            cpus[name].append(cpu)

    base_name = next(iter(variants))
    base_frames, base_indices = outputs[base_name]
    base_fps = _decord(path, args.size).get_avg_fps()
    base_times = np.asarray([round(i / base_fps, 2) for i in base_indices])
    base_wall, base_cpu = statistics.median(walls[base_name]), statistics.median(cpus[base_name])
    print(f"video: {path}  frames/read: {args.frames}  size: {args.size}  rounds: {args.repeats}")
    print(
        f"{'reader':<40}{'wall s':>8}{'frames/s':>10}{'ratio':>8}{'cpu s':>8}{'cpu ratio':>10}  frames vs baseline"
    )
    for name in variants:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        check = "-" if name == base_name else compare(outputs[name], base_frames, base_times, path, args.size)
        print(
            f"{name:<40}{wall:>8.3f}{args.frames / wall:>10.1f}{base_wall / wall:>7.2f}x{cpu:>8.3f}"
            f"{base_cpu / cpu:>9.2f}x  {check}"
        )
    print(
        "ratio = baseline wall time / reader wall time (> 1: faster than the LAVIS-style reader); "
        "cpu ratio: the same with process CPU time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
