"""Videos → folders of JPEG frames at a constant rate: the layout MA-LMM's annotations describe.

``<output>/<video>/frame000001.jpg, ...`` (1-based), where ``<video>`` is the video's path under
``--videos`` without its extension, so nested layouts (NExT-QA's ``<dir>/<id>.mp4``) are kept. Frames
come out of ffmpeg's ``fps`` filter (frames dropped or duplicated by timestamp, as ``ffmpeg -r 10``
does) and are scaled so the short side is ``short_side`` (aspect ratio kept, sides even), then
written as JPEG (``quality`` 95 by default; MA-LMM used ``ffmpeg -q:v 1``).

A video's frames are written to a hidden ``.<name>.partial`` folder that is renamed when the video
is complete, so a folder that exists is whole: an interrupted run is resumed by running it again
(finished videos are skipped; a half-written folder is redone). A video that cannot be decoded is
reported with its error and the others carry on.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from lavis.common.errors import DataError
from lavis.datasets.prepare.videos import _first_line, _mp_context, _rate, default_workers, scaled_size

VIDEO_EXTS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v")


@dataclass
class ExtractReport:
    written: dict[str, int] = field(default_factory=dict)  # video (relative, no extension) -> frames
    skipped_existing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # video file (relative) -> error


def extract_video_frames(
    src: str | Path, dst_dir: str | Path, fps: float = 10.0, short_side: int = 256, quality: int = 95
) -> int:
    """Write the frames of ``src`` to ``dst_dir`` (which must not exist yet); returns the frame count."""
    import av
    import av.filter

    from lavis.datasets.frames import FRAME_NAME  # imports torch: kept out of the CLI's start-up

    dst_dir = Path(dst_dir)
    partial = dst_dir.parent / f".{dst_dir.name}.partial"
    if partial.exists():
        shutil.rmtree(partial)  # left by an interrupted run
    partial.mkdir(parents=True)
    try:
        count = 0
        with av.open(str(src)) as container:
            if not container.streams.video:
                raise DataError(f"{src}: no video stream")
            stream = container.streams.video[0]
            width, height = scaled_size(stream.codec_context.width, stream.codec_context.height, short_side)
            graph = av.filter.Graph()
            chain = [
                graph.add_buffer(template=stream),
                graph.add("fps", f"fps={_rate(fps)}"),
                graph.add("scale", f"{width}:{height}"),
                graph.add("format", "rgb24"),
                graph.add("buffersink"),
            ]
            for a, b in zip(chain, chain[1:]):
                a.link_to(b)
            graph.configure()

            def drain() -> None:
                nonlocal count
                while True:
                    try:
                        frame = graph.pull()
                    except (av.error.BlockingIOError, av.error.EOFError):
                        return
                    count += 1
                    frame.to_image().save(partial / FRAME_NAME.format(count), quality=quality)  # PIL, rgb24

            for frame in container.decode(stream):
                graph.push(frame)
                drain()
            graph.push(None)
            drain()
        if count == 0:
            raise DataError(f"{src}: no frames could be decoded")
        if dst_dir.exists():
            shutil.rmtree(dst_dir)
        partial.rename(dst_dir)
        return count
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(partial)
        raise


def _extract_job(src: str, dst: str, fps: float, short_side: int, quality: int) -> tuple[int | None, str | None]:
    try:
        return extract_video_frames(src, dst, fps, short_side, quality), None
    except Exception as err:  # reported per file; one bad video must not stop a 10k-video job
        return None, f"{type(err).__name__}: {_first_line(err)}"


def find_videos(videos_root: Path, exts: tuple[str, ...]) -> tuple[dict[str, Path], dict[str, str]]:
    """``relative name without extension -> file`` for every video under ``videos_root``, and the files
    whose name is already taken by a video with another extension (they would share a frame folder)."""
    exts = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in exts)
    found: dict[str, Path] = {}
    clashes: dict[str, str] = {}
    for path in sorted(p for p in videos_root.rglob("*") if p.is_file() and p.suffix.lower() in exts):
        rel = path.relative_to(videos_root)
        name = rel.with_suffix("").as_posix()
        if name.startswith(".") or any(part.startswith(".") for part in rel.parts):
            continue  # hidden files and folders (e.g. partial outputs when --output is inside --videos)
        if name in found:
            clashes[rel.as_posix()] = f"same frame folder name as {found[name].relative_to(videos_root).as_posix()}"
            continue
        found[name] = path
    return found, clashes


def extract_frames_tree(
    videos_root: str | Path,
    output_root: str | Path,
    fps: float = 10.0,
    short_side: int = 256,
    quality: int = 95,
    exts: tuple[str, ...] = VIDEO_EXTS,
    workers: int | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> ExtractReport:
    """Extract the frames of every video under ``videos_root`` into ``output_root/<name>/``."""
    from tqdm import tqdm

    videos_root, output_root = Path(videos_root), Path(output_root)
    if not videos_root.is_dir():
        raise DataError(f"--videos {videos_root} is not a directory")
    if videos_root.resolve() == output_root.resolve():
        raise DataError("--output must differ from --videos")
    if not fps > 0 or short_side < 2 or not 1 <= quality <= 100:
        raise DataError(f"--fps must be positive, --short-side >= 2 and --quality in 1..100 "
                        f"(got {fps}, {short_side}, {quality})")
    found, clashes = find_videos(videos_root, tuple(exts))
    if not found:
        raise DataError(f"no videos ({', '.join(exts)}) under {videos_root}")
    report = ExtractReport(failed=dict(clashes))
    todo = []
    for name, src in found.items():
        dst = output_root / name
        if dst.is_dir() and not overwrite:
            report.skipped_existing.append(name)
        else:
            todo.append((name, str(src), str(dst)))
    workers = default_workers() if workers is None else workers
    with tqdm(total=len(todo), desc="extracting frames", unit="video", disable=not progress) as bar:
        if workers <= 0:
            for name, src, dst in todo:
                _record(report, name, src, videos_root, _extract_job(src, dst, fps, short_side, quality))
                bar.update()
        else:
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context()) as pool:
                futures = {pool.submit(_extract_job, src, dst, fps, short_side, quality): (name, src)
                           for name, src, dst in todo}
                for future in cf.as_completed(futures):
                    name, src = futures[future]
                    try:
                        outcome = future.result()
                    except cf.process.BrokenProcessPool:
                        outcome = (None, "the decoder process crashed")
                    _record(report, name, src, videos_root, outcome)
                    bar.update()
    return report


def _record(
    report: ExtractReport, name: str, src: str, root: Path, outcome: tuple[int | None, str | None]
) -> None:
    count, error = outcome
    if error is None and count is not None:
        report.written[name] = count
    else:
        report.failed[Path(src).relative_to(root).as_posix()] = error or "unknown error"
