"""Is every referenced video present and readable? And re-encoding to a fixed fps / short side.

A bad video otherwise surfaces hours into training as one failed batch (or, with ``on_bad_video: skip``,
as silently missing samples), so the check opens every video the annotation files reference the way
the dataset will (decord), decodes its first and last frame, and compares its length with the annotated
duration. Each video is probed in a worker *process*: a decoder crash on a corrupt file then takes
down one worker, which is reported, not the whole check.

"Shorter than annotated" allows a tolerance of ``max(1 s, 2 % of the annotated duration)``: container
durations and annotation durations are rounded differently (Charades lengths have two decimals, QVH
clips are nominally 150 s), and a frame or two of difference is not an error.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.common.io import write_json
from lavis.datasets.annotations import read_records

TOLERANCE_SECONDS = 1.0
TOLERANCE_FRACTION = 0.02
PROBLEMS = ("missing", "empty", "unreadable", "zero_length", "too_short")


def short_tolerance(annotated: float) -> float:
    return max(TOLERANCE_SECONDS, TOLERANCE_FRACTION * annotated)


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


@dataclass
class VideoIssue:
    video: str
    path: str
    problem: str  # one of PROBLEMS
    detail: str
    annotated_duration: float | None = None
    video_duration: float | None = None
    referenced_by: list[str] = field(default_factory=list)


@dataclass
class CheckReport:
    video_root: str
    annotation_files: list[str]
    num_videos: int
    tolerance: str
    issues: list[VideoIssue]

    @property
    def ok(self) -> bool:
        return not self.issues

    def summary(self) -> str:
        if self.ok:
            return f"all {self.num_videos} referenced videos are present and readable"
        counts = {p: sum(i.problem == p for i in self.issues) for p in PROBLEMS}
        parts = ", ".join(f"{n} {p}" for p, n in counts.items() if n)
        return f"{len(self.issues)} of {self.num_videos} referenced videos have problems: {parts}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok, "summary": self.summary()}


@dataclass
class _Reference:
    duration: float | None = None
    files: list[str] = field(default_factory=list)


def referenced_videos(annotation_files: list[str | Path]) -> dict[str, _Reference]:
    """Video name → longest annotated duration and the files that reference it (MR and QA formats)."""
    refs: dict[str, _Reference] = {}
    for path in annotation_files:
        for where, rec in read_records(path):
            if not isinstance(rec, dict) or not isinstance(rec.get("video"), str) or not rec["video"]:
                raise DataError(f"{where}: expected a record with a 'video' field")
            ref = refs.setdefault(rec["video"], _Reference())
            duration = rec.get("duration")
            if isinstance(duration, (int, float)) and not isinstance(duration, bool):
                ref.duration = max(ref.duration or 0.0, float(duration))
            if str(path) not in ref.files:
                ref.files.append(str(path))
    if not refs:
        raise DataError(f"no records in {', '.join(map(str, annotation_files))}")
    return refs


def probe_video(path: str, annotated: float | None) -> tuple[str | None, str, float | None]:
    """``(problem or None, detail, decoded duration)`` for one file; runs in a worker process."""
    if not os.path.exists(path):
        return "missing", "file not found", None
    if os.path.getsize(path) == 0:
        return "empty", "file is 0 bytes", None
    import decord

    decord.logging.set_level(decord.logging.QUIET)
    try:
        reader = decord.VideoReader(path, num_threads=1)
    except Exception as err:  # decord raises DECORDError/RuntimeError/AssertionError for bad input
        return "unreadable", f"cannot open: {_first_line(err)}", None
    num_frames, fps = len(reader), float(reader.get_avg_fps())
    if num_frames == 0:
        return "zero_length", "no video frames", 0.0
    if not fps > 0:
        return "unreadable", f"invalid frame rate {fps}", None
    duration = num_frames / fps
    for index in (0, num_frames - 1):
        try:
            reader[index].asnumpy()
        except Exception as err:
            return "unreadable", f"cannot decode frame {index} of {num_frames}: {_first_line(err)}", duration
    if annotated is not None and duration < annotated - short_tolerance(annotated):
        return "too_short", f"{duration:.2f} s of video but {annotated:g} s annotated", duration
    return None, "ok", duration


def check_videos(
    video_root: str | Path,
    annotation_files: list[str | Path],
    ext: str = ".mp4",
    workers: int | None = None,
    progress: bool = True,
) -> CheckReport:
    """Probe every video referenced by ``annotation_files`` (``<video_root>/<video><ext>``)."""
    from tqdm import tqdm

    video_root = Path(video_root)
    if not video_root.is_dir():
        raise DataError(f"--video-root {video_root} is not a directory")
    refs = referenced_videos(annotation_files)
    jobs = {name: (str(video_root / f"{name}{ext}"), ref.duration) for name, ref in refs.items()}
    results: dict[str, tuple[str | None, str, float | None]] = {}
    workers = default_workers() if workers is None else workers
    with tqdm(total=len(jobs), desc="checking videos", unit="video", disable=not progress) as bar:
        if workers <= 0:
            for name, (path, duration) in jobs.items():
                results[name] = probe_video(path, duration)
                bar.update()
        else:
            _probe_in_processes(jobs, workers, results, bar)
    issues = []
    for name, (problem, detail, seconds) in results.items():
        if problem is not None:
            path, annotated = jobs[name]
            issues.append(VideoIssue(name, path, problem, detail, annotated, seconds, refs[name].files))
    issues.sort(key=lambda i: (PROBLEMS.index(i.problem), i.video))
    tolerance = f"too_short = decoded duration < annotated - max({TOLERANCE_SECONDS} s, {TOLERANCE_FRACTION:.0%})"
    return CheckReport(str(video_root), [str(p) for p in annotation_files], len(jobs), tolerance, issues)


def _probe_in_processes(jobs: dict, workers: int, results: dict, bar) -> None:
    """Probe in a process pool; if a decoder crash breaks the pool, re-probe what is left one by one in
    single-use processes so the crashing file is identified instead of failing everything."""
    context = _mp_context()
    pending = dict(jobs)
    try:
        with cf.ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {pool.submit(probe_video, path, dur): name for name, (path, dur) in pending.items()}
            for future in cf.as_completed(futures):
                name = futures[future]
                results[name] = future.result()
                pending.pop(name)
                bar.update()
    except cf.process.BrokenProcessPool:
        if not _pool_works(context):
            raise DataError("worker processes could not be started; rerun with --workers 0") from None
        for name, (path, duration) in pending.items():
            with cf.ProcessPoolExecutor(max_workers=1, mp_context=context) as single:
                try:
                    results[name] = single.submit(probe_video, path, duration).result()
                except cf.process.BrokenProcessPool:
                    results[name] = ("unreadable", "the decoder crashed on this file", None)
            bar.update()


def _mp_context():
    """fork where available: workers need no re-import of ``__main__`` (a notebook, a stdin script)."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def _pool_works(context) -> bool:
    """Tells a decoder crash (one file) from workers that cannot run at all (every file)."""
    try:
        with cf.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            return pool.submit(os.path.exists, "/").result(timeout=60)
    except Exception:
        return False


def write_report(report: CheckReport, path: str | Path) -> None:
    write_json(path, report.to_json())


# -------------------------------------------------------------------------------------------- re-encode


@dataclass
class ReencodeReport:
    written: list[str] = field(default_factory=list)
    skipped_existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """Short side to ``short_side``, aspect kept, both even (yuv420p needs even dimensions)."""
    if width <= height:
        new_w, new_h = short_side, height * short_side / width
        return new_w - new_w % 2, max(2, int(round(new_h / 2)) * 2)
    new_h, new_w = short_side, width * short_side / height
    return max(2, int(round(new_w / 2)) * 2), new_h - new_h % 2


def reencode_video(src: str | Path, dst: str | Path, fps: float, short_side: int, crf: int = 23) -> None:
    """Re-encode to constant ``fps`` (frames dropped/duplicated by timestamp, ffmpeg's ``fps`` filter)
    and ``short_side`` (H.264, yuv420p, no audio). Written to a temporary name, then renamed."""
    import av
    import av.filter

    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=".tmp.mp4", dir=dst.parent)
    os.close(fd)
    try:
        with av.open(str(src)) as source, av.open(tmp, "w", format="mp4") as target:
            if not source.streams.video:
                raise DataError(f"{src}: no video stream")
            in_stream = source.streams.video[0]
            width, height = scaled_size(in_stream.codec_context.width, in_stream.codec_context.height, short_side)
            out_stream = target.add_stream("libx264", rate=_rate(fps))
            out_stream.width, out_stream.height, out_stream.pix_fmt = width, height, "yuv420p"
            out_stream.options = {"crf": str(crf), "preset": "veryfast"}
            graph = av.filter.Graph()
            chain = [
                graph.add_buffer(template=in_stream),
                graph.add("fps", f"fps={fps}"),
                graph.add("scale", f"{width}:{height}"),
                graph.add("format", "yuv420p"),
                graph.add("buffersink"),
            ]
            for a, b in zip(chain, chain[1:]):
                a.link_to(b)
            graph.configure()
            for frame in source.decode(in_stream):
                graph.push(frame)
                _drain(graph, out_stream, target)
            graph.push(None)
            _drain(graph, out_stream, target)
            for packet in out_stream.encode():
                target.mux(packet)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _rate(fps: float):
    from fractions import Fraction

    return Fraction(fps).limit_denominator(1001)


def _drain(graph, stream, container) -> None:
    import av

    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        for packet in stream.encode(frame):
            container.mux(packet)


def _reencode_job(src: str, dst: str, fps: float, short_side: int) -> str | None:
    try:
        reencode_video(src, dst, fps, short_side)
    except Exception as err:  # reported per file; one bad source must not stop a 20k-video job
        return f"{type(err).__name__}: {_first_line(err)}"
    return None


def reencode_tree(
    input_root: str | Path,
    output_root: str | Path,
    fps: float = 15,
    short_side: int = 256,
    ext: str = ".mp4",
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ReencodeReport:
    """Re-encode every ``*<ext>`` under ``input_root`` to the same relative path under ``output_root``.

    Existing outputs are skipped (so an interrupted run resumes), unless ``overwrite``.
    """
    from tqdm import tqdm

    input_root, output_root = Path(input_root), Path(output_root)
    if not input_root.is_dir():
        raise DataError(f"--input-root {input_root} is not a directory")
    if input_root.resolve() == output_root.resolve():
        raise DataError("--output-root must differ from --input-root")
    if not fps > 0 or short_side < 2:
        raise DataError(f"--fps must be positive and --short-side >= 2 (got {fps}, {short_side})")
    report = ReencodeReport()
    todo = []
    for src in sorted(input_root.rglob(f"*{ext}")):
        rel = src.relative_to(input_root)
        dst = output_root / rel
        if dst.exists() and not overwrite:
            report.skipped_existing.append(str(rel))
        else:
            todo.append((str(src), str(dst), str(rel)))
    workers = default_workers() if workers is None else workers
    with tqdm(total=len(todo), desc="re-encoding", unit="video", disable=not progress) as bar:
        if workers <= 0:
            outcomes = ((rel, _reencode_job(s, d, fps, short_side)) for s, d, rel in todo)
            for rel, error in outcomes:
                _record(report, rel, error)
                bar.update()
        else:
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
                futures = {pool.submit(_reencode_job, s, d, fps, short_side): rel for s, d, rel in todo}
                for future in cf.as_completed(futures):
                    try:
                        error = future.result()
                    except cf.process.BrokenProcessPool:
                        error = "the encoder process crashed"
                    _record(report, futures[future], error)
                    bar.update()
    return report


def _record(report: ReencodeReport, rel: str, error: str | None) -> None:
    if error is None:
        report.written.append(rel)
    else:
        report.failed[rel] = error


def _first_line(err: BaseException) -> str:
    """The first line of an error, without decord's ``[hh:mm:ss] /src/file.cc:123:`` prefix."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    if not lines:
        return type(err).__name__
    return re.sub(r"^\[\d+:\d+:\d+\] \S+:\d+: ", "", lines[0])
