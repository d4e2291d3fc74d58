"""Frame-accurate video decoding with PyAV: only the frames a sample needs, converted only when kept.

:class:`PyAVVideo` gives the same frames as decord's ``VideoReader(path, width=S, height=S).get_batch(indices)``
(the reader LAVIS and Mr. BLIP use), pixel for pixel, in about half the time:

- **Indexing** is decord's: frame ``i`` is the stream's ``i``-th packet in presentation (pts) order, the
  frame count is the number of packets and the frame rate is the stream's average rate.
- **Seeking**: for each wanted frame the decoder starts at the last keyframe at or before it and decodes
  forward only as far as that frame; a wanted frame in the same GOP as the previous one continues from
  where decoding stopped. When the next wanted frame is in a later GOP, the decoder is drained right after
  the wanted frame's packet, instead of decoding the packets that would push it out of its reordering
  queue. Frames on the way are never converted to RGB.
- **Skipping non-reference frames**: for codecs whose non-reference pictures are never used to predict
  another picture (H.264, HEVC, MPEG-1/2/4 part 2), the decoder drops those packets (``skip_frame=NONREF``)
  unless one of them is wanted. The reference chain is decoded exactly as before, so every kept frame is
  bit-identical; with x264's default B-pyramid this skips about 40 % of the frames on the way.
- **Conversion** goes through the same libavfilter chain decord builds (``transpose`` for a rotated video,
  ``scale=W:H`` with libswscale's bilinear filter, the default of decord's FFmpeg, then ``rgb24``),
  straight from YUV at the native size to RGB at the target size, so resizing costs nothing extra and
  matches decord's output. One case does not match: a target size that keeps the frame's height but
  changes its width (e.g. a 398x224 video read at 224x224), where decord's FFmpeg 4.1 libswscale takes a
  path today's does not reproduce; :class:`ScalerMismatch` is raised and the caller reads with decord.
- **Parallel reading** (``workers > 1``): the wanted frames are split into runs of whole GOPs and each
  run is decoded by its own thread with its own demuxer and decoder (PyAV releases the GIL while
  decoding).

``keyframes_only`` (the opt-in fast mode): wanted frames are replaced by keyframes chosen by the caller
(:meth:`PyAVVideo.nearest_keyframes`), and each is decoded on its own (``skip_frame=NONKEY``): one intra
frame per sample instead of a GOP's worth of frames.
"""

from __future__ import annotations

import io
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from lavis.common.errors import DataError

# Codecs whose non-reference pictures are never used as references (so dropping them changes nothing else).
NONREF_SAFE_CODECS = frozenset({"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4"})
DRAIN = True  # drain the decoder after a wanted frame when the next one needs a seek
PASSED_LIMIT = 16  # frames past a wanted one before it counts as missing
SCALE_FLAGS = "bilinear"  # vf_scale's default in FFmpeg 4.x, which decord's wheels bundle


class ScalerMismatch(Exception):
    """The target size keeps the frame's height but changes its width: there decord's libswscale (FFmpeg 4.1)
    takes a path whose output today's libswscale does not reproduce (pixels differ by up to ~60 levels), so
    the caller reads such a video with decord itself to keep its frames identical."""


@dataclass(frozen=True)
class StreamIndex:
    """Presentation timestamps of every frame, sorted, and which of them are keyframes."""

    pts: np.ndarray  # (N,) int64, sorted: pts[i] is frame i
    key_positions: np.ndarray  # (K,) int64, sorted frame indices of keyframes
    time_base: Fraction
    fps: float  # the stream's average frame rate (decord's get_avg_fps)
    codec: str


def _source_of(path: Any) -> tuple[Any, str]:
    """What ``av.open`` takes for ``path`` (a file name or a fresh BytesIO), and its display name."""
    data = getattr(path, "data", None)
    if data is not None:  # InMemoryVideo
        if not data:
            raise DataError(f"Video file is empty (0 bytes): {path}")
        return io.BytesIO(data), str(path)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Video not found: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"Video file is empty (0 bytes): {path}")
    return str(path), str(path)


def _index_end(stream) -> int:
    """Where the last packet of the container's index ends (bytes), 0 without an index."""
    try:
        return max((entry.pos + entry.size for entry in stream.index_entries), default=0)
    except (AttributeError, TypeError):  # an older PyAV without index_entries
        return 0


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


class PyAVVideo:
    """One video file (or :class:`~lavis.datasets.video.InMemoryVideo`), indexed like decord indexes it."""

    def __init__(self, path: str | os.PathLike | Any, workers: int = 1) -> None:
        import av

        self.path = path
        self.workers = max(1, int(workers))
        source, self.name = _source_of(path)
        self._source = source
        try:
            with av.open(source) as container:
                if not container.streams.video:
                    raise DataError(f"Video has no video stream: {self.name}")
                stream = container.streams.video[0]
                stamps: list[int] = []
                keys: list[int] = []
                for packet in container.demux(stream):
                    stamp = packet.pts if packet.pts is not None else packet.dts
                    if stamp is None:
                        continue  # the flush packet at the end
                    stamps.append(stamp)
                    if packet.is_keyframe:
                        keys.append(stamp)
                rate = stream.average_rate
                time_base = stream.time_base
                codec = stream.codec_context.name
                declared = stream.frames  # the container's frame count (mp4: its sample table)
                if declared and len(stamps) < declared and _index_end(stream) > self._size():
                    # the index points past the end of the file: a cut-off download or copy (mp4 with the
                    # index at the front). The demuxer just stops; decord fails: either way, say so
                    raise DataError(
                        f"Video is truncated: {len(stamps)} of its {declared} frames are in the file: {self.name}"
                    )
        except DataError:
            raise
        except Exception as err:  # av.error.InvalidDataError and friends carry FFmpeg's message
            raise DataError(f"Cannot open video {self.name}: {_first_line(err)}") from None
        if not stamps:
            raise DataError(f"Video has no decodable frames: {self.name}")
        pts = np.sort(np.asarray(stamps, dtype=np.int64))
        key_positions = np.unique(np.searchsorted(pts, np.asarray(keys, dtype=np.int64)))
        if key_positions.size == 0 or key_positions[0] != 0:
            key_positions = np.concatenate([[0], key_positions]).astype(np.int64)  # decode from the start
        fps = float(rate) if rate else 0.0
        if not fps > 0:
            raise DataError(f"Video reports an invalid frame rate ({fps}): {self.name}")
        self.index = StreamIndex(pts, key_positions, Fraction(time_base or Fraction(1, 1)), fps, codec)

    def __len__(self) -> int:
        return int(self.index.pts.size)

    def _size(self) -> int:
        data = getattr(self.path, "data", None)
        return len(data) if data is not None else os.path.getsize(self._source)

    @property
    def fps(self) -> float:
        return self.index.fps

    def frame_times(self, indices: list[int]) -> list[float]:
        """Presentation time of each frame in seconds from the first frame (the frame's true time)."""
        pts, tb = self.index.pts, self.index.time_base
        return [float((int(pts[i]) - int(pts[0])) * tb) for i in indices]

    def nearest_keyframes(self, indices: list[int], start: int = 0, end: int | None = None) -> list[int]:
        """Each index moved to the nearest keyframe inside ``[start, end)`` (ties: the earlier one), or to
        the nearest keyframe of the video when that window holds none."""
        keys = self.index.key_positions
        end = len(self) if end is None else end
        inside = keys[(keys >= start) & (keys < end)]
        candidates = inside if inside.size else keys
        out = []
        for i in indices:
            j = int(np.searchsorted(candidates, i))
            options = [int(candidates[k]) for k in (j - 1, j) if 0 <= k < candidates.size]
            out.append(min(options, key=lambda c: (abs(c - i), c)))
        return out

    def get_batch(
        self, indices: list[int], size: tuple[int, int] | None, keyframes_only: bool = False
    ) -> np.ndarray:
        """Frames ``indices`` as a (T, H, W, 3) uint8 array, resized to ``size`` = (width, height) if given.

        With ``keyframes_only`` every index must be a keyframe position (see :meth:`nearest_keyframes`).
        """
        n = len(self)
        for i in indices:
            if not 0 <= i < n:
                raise DataError(f"Frame {i} is out of range: {self.name} has {n} frames")
        wanted = sorted({int(self.index.pts[i]) for i in indices})
        if keyframes_only:
            keys = set(int(self.index.pts[k]) for k in self.index.key_positions)
            if not set(wanted) <= keys:
                raise ValueError("keyframes_only needs keyframe positions (use nearest_keyframes)")
        runs = self._split(wanted)
        if len(runs) == 1:
            decoded = self._decode_run(runs[0], size, keyframes_only, self._fresh_source())
        else:
            decoded = {}
            with ThreadPoolExecutor(len(runs)) as pool:
                jobs = [
                    pool.submit(self._decode_run, run, size, keyframes_only, self._fresh_source())
                    for run in runs
                ]
                for job in jobs:
                    decoded.update(job.result())
        return np.stack([decoded[int(self.index.pts[i])] for i in indices])

    # ------------------------------------------------------------------------------------------ internals

    def _fresh_source(self) -> Any:
        data = getattr(self.path, "data", None)
        return io.BytesIO(data) if data is not None else self._source

    def _key_before(self, stamp: int) -> int:
        """pts of the last keyframe at or before ``stamp``."""
        key_pts = self.index.pts[self.index.key_positions]
        return int(key_pts[max(int(np.searchsorted(key_pts, stamp, side="right")) - 1, 0)])

    def _split(self, wanted: list[int]) -> list[list[int]]:
        """``wanted`` (sorted pts) cut into at most ``workers`` runs that never share a GOP."""
        if self.workers <= 1 or len(wanted) < 2:
            return [wanted]
        groups: list[list[int]] = []
        last_key = None
        for stamp in wanted:
            key = self._key_before(stamp)
            if key != last_key:
                groups.append([])
                last_key = key
            groups[-1].append(stamp)
        parts = min(self.workers, len(groups))
        bounds = [round(k * len(groups) / parts) for k in range(parts + 1)]
        return [[s for g in groups[a:b] for s in g] for a, b in zip(bounds[:-1], bounds[1:])]

    def _decode_run(self, wanted: list[int], size, keyframes_only: bool, source) -> dict[int, np.ndarray]:
        import av

        try:
            with av.open(source) as container:
                stream = container.streams.video[0]
                context = stream.codec_context
                context.thread_type = "NONE"  # one thread per decoder: parallelism is across runs and videos
                context.thread_count = 1
                scaler = _Scaler(size, stream.time_base)
                if keyframes_only:
                    return self._decode_keyframes(container, stream, wanted, scaler)
                return self._decode_forward(container, stream, wanted, scaler)
        except (DataError, ScalerMismatch):
            raise
        except Exception as err:
            first, last = self._positions(wanted[0]), self._positions(wanted[-1])
            raise DataError(
                f"Cannot decode frames {first}..{last} of {self.name}: {_first_line(err)}"
            ) from None

    def _positions(self, stamp: int) -> int:
        return int(np.searchsorted(self.index.pts, stamp))

    def _decode_forward(self, container, stream, wanted: list[int], scaler: _Scaler) -> dict[int, np.ndarray]:
        context = stream.codec_context
        skip_nonref = self.index.codec in NONREF_SAFE_CODECS
        wanted_set = set(wanted)
        out: dict[int, np.ndarray] = {}
        packets = None
        skipping = "DEFAULT"
        last = None  # pts of the last frame the decoder returned since the last seek
        for n, target in enumerate(wanted):
            if target in out:
                continue
            key = self._key_before(target)
            # When the next wanted frame is in a later GOP, the decoder is drained right after this frame's
            # packet: it returns the frame without decoding the packets that would push it out of its
            # reordering queue (the next frame needs a seek anyway).
            drain = DRAIN and (n + 1 == len(wanted) or self._key_before(wanted[n + 1]) > target)
            for attempt in range(2):
                if packets is None or last is None or key > last or last > target or attempt:
                    # attempt 1: the seek landed after the frame (an index that lies): decode from the start
                    container.seek(
                        key if attempt == 0 else int(self.index.pts[0]), stream=stream, backward=True
                    )
                    packets = container.demux(stream)
                    last = None
                first_out = None
                passed = 0
                drained = False
                for packet in packets:
                    if skip_nonref:
                        mode = "DEFAULT" if packet.pts in wanted_set else "NONREF"
                        if mode != skipping:
                            context.skip_frame = skipping = mode
                    frames = context.decode(packet)
                    if drain and packet.pts == target:
                        frames = [*frames, *context.decode(None)]
                        drained = True
                    for frame in frames:
                        if frame.pts is None:
                            continue
                        last = frame.pts
                        first_out = last if first_out is None else first_out
                        if last in wanted_set and last not in out:
                            out[last] = scaler(frame)
                    if drained:
                        packets = None  # the decoder is at its end of stream until the next seek
                        break
                    if target in out:
                        break
                    if last is not None and last > target:
                        passed += 1  # frames come out in pts order; allow for a decoder that reorders late
                        if passed > PASSED_LIMIT:
                            break
                else:
                    packets = None  # end of the stream: the next frame needs a seek
                if target in out or first_out is None or first_out <= target:
                    break
            if target not in out:
                raise DataError(
                    f"Cannot decode frame {self._positions(target)} of {self.name}: the decoder never returned it "
                    "(truncated or corrupt file?)"
                )
        return out

    def _decode_keyframes(
        self, container, stream, wanted: list[int], scaler: _Scaler
    ) -> dict[int, np.ndarray]:
        context = stream.codec_context
        out: dict[int, np.ndarray] = {}
        for target in wanted:
            container.seek(target, stream=stream, backward=True)
            context.skip_frame = "NONKEY"
            for packet in container.demux(stream):
                frames = list(context.decode(packet))
                if packet.pts is not None and packet.pts >= target and packet.is_keyframe:
                    frames += context.decode(
                        None
                    )  # drain: the decoder may hold the frame back for reordering
                    context.flush_buffers()
                hit = [f for f in frames if f.pts == target]
                if hit:
                    out[target] = scaler(hit[0])
                    break
                if any(f.pts is not None and f.pts > target for f in frames):
                    break
            if target not in out:
                raise DataError(
                    f"Cannot decode keyframe {self._positions(target)} of {self.name}: the decoder never returned it "
                    "(truncated or corrupt file?)"
                )
        return out


class _Scaler:
    """decord's conversion: the frame turned upright as its display matrix says (``transpose`` filters, 90 degree
    steps), then a libavfilter ``scale=W:H`` (bilinear) + ``format=rgb24`` chain; rebuilt when the decoded
    frames change size, pixel format or rotation."""

    def __init__(self, size: tuple[int, int] | None, time_base) -> None:
        self.size = size
        self.time_base = time_base
        self.key = None
        self.graph = None

    def __call__(self, frame) -> np.ndarray:
        import av.filter

        turn = (-int(round(getattr(frame, "rotation", 0) or 0))) % 360  # clockwise, as decord computes it
        key = (frame.width, frame.height, frame.format.name, turn)
        if key != self.key:
            upright = (frame.height, frame.width) if turn in (90, 270) else (frame.width, frame.height)
            width, height = self.size or upright
            if height == upright[1] and width != upright[0]:
                raise ScalerMismatch(f"{upright[0]}x{upright[1]} -> {width}x{height}")
            graph = av.filter.Graph()
            transposes = {90: ["1"], 180: ["1", "1"], 270: ["2"]}.get(turn, [])  # 1: clockwise, 2: counter
            chain = [
                graph.add_buffer(
                    width=frame.width,
                    height=frame.height,
                    format=frame.format.name,
                    time_base=self.time_base or Fraction(1, 1000),
                ),
                *(graph.add("transpose", t) for t in transposes),
                graph.add("scale", f"{width}:{height}:flags={SCALE_FLAGS}"),
                graph.add("format", "rgb24"),
                graph.add("buffersink"),
            ]
            for a, b in zip(chain, chain[1:]):
                a.link_to(b)
            graph.configure()
            self.graph, self.key = graph, key
        self.graph.push(frame)
        return self.graph.pull().to_ndarray()
