"""Many videos and queries through one :class:`~lavis.inference.Predictor`: what ``lavis-predict`` does.

A job is one video with its queries. A video that cannot be read (missing, empty, not a video) fails on
its own: it is reported by name and the other jobs go on; the caller counts the failures.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.inference.api import Predictor, probe_video, video_thumbnails
from lavis.inference.results import MomentRetrievalResult

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".flv", ".wmv", ".ts")


@dataclass
class Query:
    text: str
    qid: str | None = None


@dataclass
class Job:
    video: Path
    queries: list[Query] = field(default_factory=list)


@dataclass
class Failure:
    video: Path
    reason: str


def list_videos(folder: Path) -> list[Path]:
    """Video files in ``folder`` (by extension, not recursive), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def read_queries(path: Path) -> list[dict[str, Any]]:
    """A JSONL of ``{"query": ..., "video": <file name or stem>?, "qid": ...?}``; no ``video``: every video."""
    if not path.is_file():
        raise DataError(f"Query file not found: {path}")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{lineno}: invalid JSON: {err.msg}") from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or not row["query"].strip():
            raise DataError(f'{path}:{lineno}: expected {{"query": "<text>", "video": "<file>" (optional)}}')
        rows.append(row)
    if not rows:
        raise DataError(f"{path}: no queries")
    return rows


def make_jobs(target: Path, query: str | None = None, queries_file: Path | None = None) -> list[Job]:
    """Jobs for one video or a folder, with one query for all or the queries of a JSONL file."""
    if not target.exists():
        raise DataError(f"No such video or folder: {target}")
    if query is None and queries_file is None:
        raise DataError("give a query, or --queries with a JSONL file of queries")
    videos = list_videos(target) if target.is_dir() else [target]
    if target.is_dir() and not videos:
        raise DataError(f"No video files ({', '.join(VIDEO_EXTENSIONS)}) in {target}")
    jobs = {v: Job(v) for v in videos}
    if query is not None:
        for job in jobs.values():
            job.queries.append(Query(query))
    if queries_file is not None:
        by_name = {v.name: v for v in videos} | {v.stem: v for v in videos}
        for row in read_queries(queries_file):
            qid = str(row["qid"]) if row.get("qid") is not None else None
            if row.get("video") is None:
                for job in jobs.values():
                    job.queries.append(Query(row["query"], qid))
                continue
            name = Path(str(row["video"])).name
            video = by_name.get(name) or by_name.get(Path(name).stem)
            if video is None:
                raise DataError(
                    f"{queries_file}: query {qid or row['query']!r} names video {row['video']!r}, not in {target}"
                )
            jobs[video].queries.append(Query(row["query"], qid))
    return [job for job in jobs.values() if job.queries]


def run_jobs(
    predictor: Predictor,
    jobs: list[Job],
    progress: Callable[[Iterable[Any], int], Iterable[Any]] | None = None,
    on_failure: Callable[[Failure], None] | None = None,
    plot_path: Callable[[Job], Path | None] | None = None,
) -> tuple[list[MomentRetrievalResult], list[Failure]]:
    """Predict every job's queries; unreadable videos become failures (reported through ``on_failure``)."""
    results: list[MomentRetrievalResult] = []
    failures: list[Failure] = []
    total = sum(len(job.queries) for job in jobs)
    bar = progress(range(total), total) if progress is not None else None
    ticks = iter(bar) if bar is not None else None
    for job in jobs:
        try:
            info = probe_video(job.video)
            out = predictor.moments_batch(
                job.video, [q.text for q in job.queries], [q.qid for q in job.queries], info=info
            )
        except DataError as err:
            failure = Failure(job.video, str(err))
            failures.append(failure)
            if on_failure is not None:
                on_failure(failure)
            out = []
        results.extend(out)
        if out and plot_path is not None and (path := plot_path(job)) is not None:
            plot_results(job.video, out, path)
        if ticks is not None:
            for _ in job.queries:
                next(ticks, None)
    if ticks is not None:
        for _ in ticks:  # close the bar
            pass
    return results, failures


def plot_results(
    video: str | os.PathLike, results: list[MomentRetrievalResult], path: Path | None, count: int = 8
):
    """The timeline PNG of one video's results (frame thumbnails over the time axis); returns the picture."""
    from lavis.evaluation.plots import plot_timeline

    rows = [{"query": r.query, "windows": [w.to_list() for w in r.windows]} for r in results]
    duration = results[0].duration if results else 1.0
    return plot_timeline(video_thumbnails(video, count), duration, rows, path, title=Path(str(video)).name)


def results_table(results: list[MomentRetrievalResult], top_k: int = 3, width: int = 110) -> str:
    """A plain-text table: video, query, the top windows (seconds)."""
    if not results:
        return "(no results)"
    header = ("video", "query", "windows (s), best first", "dur (s)")
    rows = []
    for r in results:
        shown = ", ".join(f"{w.start:.1f}-{w.end:.1f}" for w in r.windows[:top_k]) or "(no readable window)"
        if len(r.windows) > top_k:
            shown += f" (+{len(r.windows) - top_k})"
        rows.append((Path(r.video).name, r.query, shown, f"{r.duration:.1f}"))
    limits = (28, 40, 34, 8)
    cols = [
        min(lim, max(len(h), *(len(row[i]) for row in rows)))
        for i, (h, lim) in enumerate(zip(header, limits))
    ]

    def fmt(row: tuple[str, ...]) -> str:
        cells = [(c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(row, cols)]
        return "  ".join(cells).rstrip()[:width]

    return "\n".join([fmt(header), "  ".join("-" * w for w in cols), *(fmt(row) for row in rows)])
