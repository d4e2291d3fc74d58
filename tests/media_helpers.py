"""Tiny real mp4 files and annotation records for tests (import: ``from media_helpers import ...``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lavis.datasets.synthetic import write_video


def make_clip(path: Path, seconds: float = 3.0, fps: int = 10, size: int = 32, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    n = int(seconds * fps)
    frames = np.repeat(rng.integers(0, 255, size=(1, size, size, 3)), n, axis=0).astype(np.uint8)
    frames[:, :, :, 0] = (np.arange(n) * 255 // max(1, n - 1))[:, None, None]  # red channel encodes time
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps)
    return path


def make_clip_dir(tmp_path: Path) -> Path:
    videos = tmp_path / "videos"
    make_clip(videos / "a.mp4", seconds=3.0, seed=1)
    make_clip(videos / "b.mp4", seconds=2.0, seed=2)
    return videos


def write_ann(path: Path, records) -> Path:
    path.write_text(json.dumps(records))
    return path


GOOD = [
    {"video": "a", "qid": "q0", "query": "something red", "duration": 3.0, "relevant_windows": [[0.5, 2.0]]},
    {"video": "b", "qid": "q1", "query": "something else", "duration": 2.0, "relevant_windows": [[0, 1], [1.5, 2]]},
]
