"""Reading frames from video files (decord) and choosing which frames to read.

Frame choice follows Mr. BLIP: the (optionally clipped) video is cut into N equal segments; training
takes a random frame inside each segment, evaluation takes each segment's midpoint. MA-LMM evaluates
(and trains LVU) with ``linspace`` instead: N evenly spaced indices from the first to the last frame,
rounded. A frame's timestamp is ``index / average_fps`` in seconds. Frames are decoded directly at the
model's square input size.

Two readers give the same frames: ``pyav`` (the default, :mod:`lavis.datasets.decode`: seeks to the keyframe
before each wanted frame, decodes forward only as far as needed and converts only the kept frames, about
twice as fast) and ``decord`` (the reader LAVIS and Mr. BLIP use).

``decode: keyframes`` is the opt-in fast mode (``pyav`` only): after sampling, each index is moved to the
nearest keyframe inside the clip window and only keyframes are decoded. The returned ``indices`` are the
keyframes' and ``timestamps`` are their true presentation times, so the model is told when the frames it
sees were shown; but the frames are no longer at the segment midpoints (or random positions): with a GOP
of ``g`` frames a frame can move by up to ``g / 2`` frames, neighbouring samples can land on the same
keyframe (repeated frames), and training no longer sees every frame of a segment. ``segments`` stay the
sampling segments.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lavis.common.errors import DataError


@dataclass
class VideoFrames:
    frames: torch.Tensor  # (T, C, H, W) uint8
    indices: list[int]
    timestamps: list[float]  # seconds, rounded to 2 decimals
    fps: float
    num_video_frames: int
    # [lo, hi) frame-index segment each frame was drawn from (audio clips are centred on these, not on the frame)
    segments: list[tuple[int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class InMemoryVideo:
    """Encoded video bytes (e.g. from a webdataset shard); ``name`` identifies it in error messages."""

    data: bytes
    name: str

    def __str__(self) -> str:
        return self.name


def segment_indices(
    start: int, end: int, num_frames: int, sampling: str, rng: np.random.Generator | None = None
) -> list[int]:
    """``num_frames`` frame indices in ``[start, end)``.

    ``random``: a random index in each of ``num_frames`` equal segments; ``middle`` (alias ``uniform``):
    each segment's midpoint; ``head``: each segment's first frame (CALCE, train and eval); ``linspace``: ``rint(linspace(start, end - 1, num_frames))``, first and
    last frame included (MA-LMM's evaluation sampling).
    A video with fewer frames than ``num_frames`` yields repeated indices rather than a shorter list,
    so every sample of a batch has the same number of frames.
    """
    end = max(end, start + 1)
    if sampling == "linspace":
        if num_frames <= 0:
            raise ValueError("num_frames must be positive")
        return [int(i) for i in np.rint(np.linspace(start, end - 1, num_frames))]
    indices = []
    for lo, hi in segment_bounds(start, end, num_frames):
        if sampling == "random":
            if rng is None:
                raise ValueError("random sampling needs an rng")
            indices.append(int(rng.integers(lo, hi)))
        elif sampling in ("middle", "uniform"):
            indices.append(min(int((lo + hi) // 2), hi - 1))
        elif sampling == "head":
            indices.append(int(lo))
        else:
            raise ValueError(f"unknown sampling {sampling!r} (expected 'random', 'middle', 'head' or 'linspace')")
    return [min(max(i, 0), end - 1) for i in indices]


def segment_bounds(start: int, end: int, num_frames: int) -> list[tuple[int, int]]:
    """``[start, end)`` cut into ``num_frames`` equal segments ``[lo, hi)`` of frame indices, never empty.

    Edges are ``linspace(start, end, num_frames + 1)`` truncated to integers, as in Mr. BLIP; a segment
    that would be empty (fewer frames than segments) is widened to one frame.
    """
    if num_frames <= 0:
        raise ValueError("num_frames must be positive")
    end = max(end, start + 1)
    edges = np.linspace(start, end, num_frames + 1).astype(int)
    return [(int(lo), int(max(hi, lo + 1))) for lo, hi in zip(edges[:-1], edges[1:])]


def clip_bounds(clip: tuple[float, float] | None, fps: float, vlen: int) -> tuple[int, int]:
    """Frame range ``[start, end)`` of a clip window in seconds (the whole video without one), clamped
    to the video and at least one frame long."""
    if clip is None:
        return 0, vlen
    start = min(max(int(clip[0] * fps), 0), vlen - 1)
    end = min(max(int(clip[1] * fps), start + 1), vlen)
    return start, end


def open_video(path: str | os.PathLike | InMemoryVideo, image_size: int | None = None):
    """A decord VideoReader, with file problems turned into DataError naming the file."""
    import decord

    if isinstance(path, InMemoryVideo):
        if not path.data:
            raise DataError(f"Video file is empty (0 bytes): {path}")
        source = io.BytesIO(path.data)  # decord decodes file-like objects exactly like files
    else:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"Video not found: {path}")
        if path.stat().st_size == 0:
            raise DataError(f"Video file is empty (0 bytes): {path}")
        source = str(path)
    kwargs = {"num_threads": 1}
    if image_size is not None:
        kwargs.update(width=int(image_size), height=int(image_size))
    try:
        reader = decord.VideoReader(source, **kwargs)
    except Exception as err:  # decord raises DECORDError / RuntimeError with C++ context
        raise DataError(f"Cannot open video {path}: {_first_line(err)}") from None
    if len(reader) == 0:
        raise DataError(f"Video has no decodable frames: {path}")
    return reader


READERS = ("pyav", "decord")
DECODE_MODES = ("exact", "keyframes")


def load_video_frames(
    path: str | os.PathLike | InMemoryVideo,
    num_frames: int,
    image_size: int | None,
    sampling: str,
    rng: np.random.Generator | None = None,
    clip: tuple[float, float] | None = None,
    reader: str = "pyav",
    decode: str = "exact",
    workers: int = 1,
) -> VideoFrames:
    """Decode ``num_frames`` frames of ``path`` resized to ``image_size`` x ``image_size``.

    ``reader``: ``pyav`` or ``decord`` (same frames); ``decode``: ``exact`` or ``keyframes`` (the fast mode,
    see the module docstring); ``workers``: threads decoding parts of the video in parallel (``pyav``).
    """
    if reader not in READERS:
        raise ValueError(f"unknown video reader {reader!r} (expected one of {', '.join(READERS)})")
    if decode not in DECODE_MODES:
        raise ValueError(f"unknown decode mode {decode!r} (expected one of {', '.join(DECODE_MODES)})")
    if reader == "pyav":
        return _load_with_pyav(path, num_frames, image_size, sampling, rng, clip, decode, workers)
    if decode != "exact":
        raise ValueError("decode: keyframes needs reader: pyav")
    return _load_with_decord(path, num_frames, image_size, sampling, rng, clip)


def _load_with_pyav(path, num_frames, image_size, sampling, rng, clip, decode, workers) -> VideoFrames:
    from lavis.datasets.decode import PyAVVideo, ScalerMismatch

    video = PyAVVideo(path, workers=workers)
    vlen, fps = len(video), video.fps
    start, end = clip_bounds(clip, fps, vlen)
    indices = segment_indices(start, end, num_frames, sampling, rng)
    segments = segment_bounds(start, end, num_frames)
    size = None if image_size is None else (int(image_size), int(image_size))
    if decode == "keyframes":
        indices = video.nearest_keyframes(indices, start, end)
        timestamps = [round(t, 2) for t in video.frame_times(indices)]
    else:
        timestamps = [round(i / fps, 2) for i in indices]
    try:
        frames = video.get_batch(indices, size, keyframes_only=decode == "keyframes")
    except ScalerMismatch:  # a size where only decord's own libswscale gives decord's pixels
        return VideoFrames(_decord_batch(path, indices, image_size), indices, timestamps, fps, vlen, segments)
    frames_t = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))  # numpy's uint8 copy is faster
    return VideoFrames(frames_t, indices, timestamps, fps, vlen, segments)


def _load_with_decord(path, num_frames, image_size, sampling, rng, clip) -> VideoFrames:
    reader = open_video(path, image_size)
    vlen = len(reader)
    fps = float(reader.get_avg_fps())
    if not fps > 0:
        raise DataError(f"Video reports an invalid frame rate ({fps}): {path}")
    start, end = clip_bounds(clip, fps, vlen)
    indices = segment_indices(start, end, num_frames, sampling, rng)
    segments = segment_bounds(start, end, num_frames)
    timestamps = [round(i / fps, 2) for i in indices]
    return VideoFrames(_decord_batch(path, indices, image_size, reader), indices, timestamps, fps, vlen, segments)


def _decord_batch(path, indices: list[int], image_size: int | None, reader=None) -> torch.Tensor:
    """Frames ``indices`` of ``path`` read by decord, as (T, C, H, W) uint8."""
    reader = open_video(path, image_size) if reader is None else reader
    try:
        frames = reader.get_batch(indices).asnumpy()
    except Exception as err:
        if image_size is None or "size must exactly match" not in str(err):
            raise DataError(f"Cannot decode frames {indices[0]}..{indices[-1]} of {path}: {_first_line(err)}") from None
        # decord's built-in resize fails for some output sizes (e.g. 16, 48): decode at native size instead.
        frames = open_video(path).get_batch(indices).asnumpy()
    frames_t = torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()
    if image_size is not None and frames_t.shape[-2:] != (image_size, image_size):
        frames_t = resize_frames(frames_t, image_size)
    return frames_t


def resize_frames(frames: torch.Tensor, size: int) -> torch.Tensor:
    """(T, C, H, W) uint8 → (T, C, size, size) uint8, bilinear with antialiasing (aspect ratio not kept)."""
    out = torch.nn.functional.interpolate(frames.float(), size=(size, size), mode="bilinear", antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
