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


def write_av_clip(path: Path, seconds: float, audio: np.ndarray | None, audio_rate: int = 44100, fps: int = 10,
                  size: int = 32) -> Path:
    """An mp4 with an H.264 video stream of ``seconds`` and, if given, an AAC track of ``audio`` (C, S) in [-1, 1]."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width = video.height = size
        video.pix_fmt = "yuv420p"
        video.options = {"preset": "ultrafast"}
        streams = [video]
        if audio is not None:
            sound = container.add_stream("aac", rate=audio_rate)
            sound.layout = {1: "mono", 2: "stereo"}[audio.shape[0]]
            streams.append(sound)
            for start in range(0, audio.shape[1], 1024):
                chunk = np.ascontiguousarray(audio[:, start : start + 1024], dtype=np.float32)
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=sound.layout.name)
                frame.sample_rate, frame.pts = audio_rate, start
                for packet in sound.encode(frame):
                    container.mux(packet)
        for i in range(int(round(seconds * fps))):
            image = np.full((size, size, 3), (i * 7) % 255, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for stream in streams:
            for packet in stream.encode():
                container.mux(packet)
    return path


def tones(segments: list[tuple[float, float, float]], rate: int, amplitudes=(0.6, 0.2)) -> np.ndarray:
    """Stereo sine tones: ``(start_s, end_s, hz)`` per segment; channel c has amplitude ``amplitudes[c]``."""
    total = int(round(max(end for _, end, _ in segments) * rate))
    t = np.arange(total) / rate
    mono = np.zeros(total)
    for start, end, hz in segments:
        inside = (t >= start) & (t < end)
        mono[inside] = np.sin(2 * np.pi * hz * t[inside])
    return np.stack([a * mono for a in amplitudes]).astype(np.float32)
