"""Reading frames from a folder of extracted JPEGs (MA-LMM's layout) instead of a video file.

Layout: ``<frames root>/<video>/frame000001.jpg, frame000002.jpg, ...``: frame index ``k`` (0-based) is
the file ``frame{k+1:06d}.jpg``, extracted at a constant rate (MA-LMM: 10 fps, short side 256; see
``python -m lavis.datasets.prepare extract-frames``). :func:`load_frame_folder` returns the same
:class:`~lavis.datasets.video.VideoFrames` as :func:`~lavis.datasets.video.load_video_frames`, with the
same sampling modes, the same clip-window mapping (``int(seconds * fps)``, clamped) and the same square
resize; a frame's timestamp is ``index / fps``.

The number of frames is the highest frame number in the folder, or the annotation's ``frame_length``
when it is passed as ``num_video_frames`` (which skips listing the folder). Frame counts in published
annotations can disagree with a local extraction (ffmpeg versions differ; MA-LMM issue #37), so a
missing frame file is an error that names the file, never a silently shifted frame.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import torch

from lavis.common.errors import DataError
from lavis.datasets.video import VideoFrames, clip_bounds, resize_frames, segment_indices

DEFAULT_FPS = 10.0
FRAME_NAME = "frame{:06d}.jpg"  # 1-based: frame index k is FRAME_NAME.format(k + 1)
_FRAME_RE = re.compile(r"^frame(\d{6,})\.jpg$")


def frame_file(folder: str | os.PathLike, index: int) -> Path:
    """The file of 0-based frame ``index``."""
    return Path(folder) / FRAME_NAME.format(index + 1)


def count_frames(folder: str | os.PathLike) -> int:
    """The highest frame number in ``folder`` (= the number of frames when none is missing)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"Frame folder not found: {folder}")
    highest = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            match = _FRAME_RE.match(entry.name)
            if match:
                highest = max(highest, int(match.group(1)))
    if highest == 0:
        raise DataError(f"Frame folder has no frame files ({FRAME_NAME.format(1)}, ...): {folder}")
    return highest


def read_frame(folder: str | os.PathLike, index: int, num_frames: int) -> torch.Tensor:
    """Frame ``index`` as (C, H, W) uint8 RGB; a missing or undecodable file is a DataError naming it."""
    from PIL import Image

    path = frame_file(folder, index)
    if not path.is_file():
        raise DataError(
            f"Missing frame file {path} (frame {index + 1} of {num_frames}); the frame count does not match the "
            "folder: re-extract the video or fix the record's frame_length"
        )
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except Exception as err:  # PIL raises UnidentifiedImageError / OSError for corrupt or truncated files
        raise DataError(f"Cannot decode frame file {path}: {_first_line(err)}") from None
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1)


def load_frame_folder(
    folder: str | os.PathLike,
    num_frames: int,
    image_size: int | None,
    sampling: str,
    rng: np.random.Generator | None = None,
    clip: tuple[float, float] | None = None,
    fps: float = DEFAULT_FPS,
    num_video_frames: int | None = None,
) -> VideoFrames:
    """Read ``num_frames`` frames of the frame folder ``folder`` resized to ``image_size`` x ``image_size``.

    ``fps`` is the extraction rate (timestamps and clip windows depend on it); ``num_video_frames``, if
    given, is trusted as the folder's frame count (e.g. the record's ``frame_length``).
    """
    if not fps > 0:
        raise DataError(f"Frame rate must be positive, got {fps} (frame folder {folder})")
    folder = Path(folder)
    if num_video_frames is None:
        vlen = count_frames(folder)
    else:
        if not folder.is_dir():
            raise DataError(f"Frame folder not found: {folder}")
        if num_video_frames <= 0:
            raise DataError(f"Frame count must be positive, got {num_video_frames} (frame folder {folder})")
        vlen = int(num_video_frames)
    start, end = clip_bounds(clip, fps, vlen)
    indices = segment_indices(start, end, num_frames, sampling, rng)
    decoded: dict[int, torch.Tensor] = {}
    for i in indices:
        if i not in decoded:
            frame = read_frame(folder, i, vlen).unsqueeze(0)
            if image_size is not None and frame.shape[-2:] != (image_size, image_size):
                frame = resize_frames(frame, image_size)
            decoded[i] = frame[0]
    sizes = {tuple(f.shape) for f in decoded.values()}
    if len(sizes) > 1:
        raise DataError(f"Frames of {folder} differ in size ({sorted(sizes)}); pass image_size to resize them")
    frames = torch.stack([decoded[i] for i in indices])
    timestamps = [round(i / fps, 2) for i in indices]
    return VideoFrames(frames, indices, timestamps, float(fps), vlen)


def _first_line(err: BaseException) -> str:
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    return lines[0] if lines else type(err).__name__
