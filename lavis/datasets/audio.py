"""Reading a video's audio track (PyAV) and cutting one clip per sampled frame, as SMS does.

The track is decoded, mixed down to mono (mean over channels), resampled to 48 kHz and placed on the
video's timeline (time 0 = start of the video stream, the origin of the frame timestamps ``index / fps``).
Frame ``i`` was drawn from the frame-index segment ``[lo_i, hi_i)`` (see ``VideoFrames.segments``); its
audio clip is cut as in SMS (``load_video_frames_with_audio`` / ``sample_audio_fixed_center``):

1. the segment in samples, ``[floor(lo_i / fps * sr), floor(hi_i / fps * sr))``, is clamped to the span of
   real audio; if nothing is left the clip is all zeros and the frame has no real audio (mask False);
2. ``centre = start + (end - start) // 2`` of the clamped segment;
3. the clip covers ``[centre - N // 2, centre - N // 2 + N)`` with ``N = round(clip_seconds * sr)``.

The clip is centred on the *segment*, not on the sampled frame, so training (a random frame per segment)
and evaluation (the middle frame) get the same audio, and features can be cached per video.

Edge rule (differs from SMS on purpose): samples of the window that lie outside the real audio are zeros,
on either side, so the clip's centre always sits at position ``N // 2``. SMS slices
``audio[centre - N // 2 : centre + ceil(N / 2)]`` and right-pads with zeros: at the end of the track that
is the same as here, but near the start ``centre - N // 2 < 0`` turns into a negative Python index and the
slice is empty or taken from the end of the track. Here such a clip is left-padded with zeros instead.
A second, smaller difference: SMS gives a zero clip to an empty segment (a video with fewer frames than
``n_frms``); here every segment holds at least one frame (``segment_bounds``), so it gets real audio.

Missing audio: a video without an audio track, with a track that decodes to nothing or fails to decode,
or with a track that ends before some frame's segment starts. ``on_missing_audio="zeros"`` (default)
returns zero clips with mask False for the frames concerned (and ``AudioClips.problem`` says why);
``"error"`` raises :class:`DataError` naming the file. A near-silent track is real audio, not missing.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lavis.common.errors import ConfigError, DataError
from lavis.datasets.video import InMemoryVideo, VideoFrames

ON_MISSING_AUDIO = ("zeros", "error")


@dataclass
class AudioClipConfig:
    clip_seconds: float = 2.5  # SMS: 1.5 for Charades-STA (20 frames), 2.5 for QVHighlights (60 frames)
    sample_rate: int = 48000  # CLAP's rate
    on_missing_audio: str = "zeros"  # zeros: zero clips, mask False | error: DataError naming the file
    # True: a sample carries an ``AudioSource`` instead of clips, and the model reads, embeds and caches the
    # audio itself (SMS's ``model.audio_cache``), so CLAP runs once per video instead of once per epoch
    defer: bool = False

    def __post_init__(self) -> None:
        if self.on_missing_audio not in ON_MISSING_AUDIO:
            raise ConfigError(
                f"on_missing_audio must be one of {ON_MISSING_AUDIO}, got {self.on_missing_audio!r}"
            )
        if not self.clip_seconds > 0 or self.sample_rate <= 0:
            raise ConfigError(
                f"clip_seconds and sample_rate must be positive (got {self.clip_seconds}, {self.sample_rate})"
            )

    @property
    def clip_samples(self) -> int:
        return int(round(self.clip_seconds * self.sample_rate))


@dataclass(frozen=True)
class AudioSource:
    """Where a sample's per-frame audio is: the video and each frame's interval in seconds."""

    video: str | InMemoryVideo
    intervals: tuple[tuple[float, float], ...]
    cfg: AudioClipConfig


@dataclass
class AudioTrack:
    """Mono audio at ``sample_rate``; ``samples[0]`` plays at ``start`` seconds on the video's timeline."""

    samples: np.ndarray  # (S,) float32; empty when there is no usable audio
    sample_rate: int
    start: float = 0.0
    problem: str | None = None  # why (part of) the audio is unusable; None: decoded cleanly

    @property
    def end(self) -> float:
        return self.start + len(self.samples) / self.sample_rate


@dataclass
class AudioClips:
    clips: torch.Tensor  # (T, N) float32, one clip per frame
    mask: torch.Tensor  # (T,) bool: the clip holds real audio
    sample_rate: int
    problem: str | None = None  # set when some frame has no real audio (the reason, naming the file)


def read_audio_track(path: str | os.PathLike | InMemoryVideo, sample_rate: int = 48000) -> AudioTrack:
    """Decode the first audio stream of ``path`` to mono float32 at ``sample_rate``.

    A file that cannot be opened at all raises :class:`DataError`; problems of the audio track itself (no
    track, nothing decodable, a decoding error part-way) are reported in ``AudioTrack.problem`` with what
    could be decoded, so the caller decides between zeros and an error.
    """
    import av

    source = io.BytesIO(path.data) if isinstance(path, InMemoryVideo) else str(path)
    if not isinstance(path, InMemoryVideo) and not Path(path).is_file():
        raise DataError(f"Video not found: {path}")
    try:
        container = av.open(source)
    except (av.FFmpegError, OSError) as err:
        raise DataError(f"Cannot open video {path}: {err}") from None
    empty = np.zeros(0, dtype=np.float32)
    with container:
        if not container.streams.audio:
            return AudioTrack(empty, sample_rate, problem=f"Video has no audio track: {path}")
        stream = container.streams.audio[0]
        origin = _stream_start(container.streams.video[0]) if container.streams.video else 0.0
        chunks: list[np.ndarray] = []
        first_time: float | None = None
        problem = None
        resampler = None
        try:
            for frame in container.decode(stream):
                if first_time is None:
                    first_time = frame.time if frame.time is not None else _stream_start(stream)
                    # keep the native layout: the mono mix is a mean over channels (below), as in SMS;
                    # libswresample's own downmix would weight channels by 1/sqrt(2) instead
                    resampler = av.AudioResampler(format="fltp", layout=frame.layout.name, rate=sample_rate)
                chunks += [out.to_ndarray() for out in resampler.resample(frame)]
            if resampler is not None:
                chunks += [out.to_ndarray() for out in resampler.resample(None)]
        except (av.FFmpegError, ValueError) as err:  # corrupt packets, a layout change the resampler rejects
            problem = (
                f"Cannot decode the audio track of {path} past {_seconds(chunks, sample_rate):.2f} s: {err}"
            )
        samples = np.concatenate(chunks, axis=1).mean(axis=0, dtype=np.float32) if chunks else empty
        if stream.duration is not None and stream.time_base is not None and len(samples):
            # drop the encoder's padding after the last real sample (AAC frames hold 1024 samples)
            declared = int(math.ceil(float(stream.duration * stream.time_base) * sample_rate))
            if declared > 0:
                samples = samples[:declared]
    if not len(samples):
        return AudioTrack(
            empty, sample_rate, problem=problem or f"Audio track of {path} decodes to no samples"
        )
    return AudioTrack(samples, sample_rate, start=(first_time or 0.0) - origin, problem=problem)


def cut_clips(
    track: AudioTrack, intervals: Sequence[tuple[float, float]], clip_seconds: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """One clip per ``(start, end)`` interval in seconds: ``(clips (T, N) float32, mask (T,) bool)``."""
    sr = track.sample_rate
    n = int(round(clip_seconds * sr))
    offset = int(round(track.start * sr))  # track sample k is timeline sample offset + k
    real_lo, real_hi = offset, offset + len(track.samples)
    clips = np.zeros((len(intervals), n), dtype=np.float32)
    mask = np.zeros(len(intervals), dtype=bool)
    for i, (t0, t1) in enumerate(intervals):
        lo = min(max(int(math.floor(t0 * sr)), real_lo), real_hi)
        hi = min(max(int(math.floor(t1 * sr)), real_lo), real_hi)
        if hi <= lo:
            continue
        centre = lo + (hi - lo) // 2
        win_lo = centre - n // 2
        src_lo, src_hi = max(win_lo, real_lo), min(win_lo + n, real_hi)
        clips[i, src_lo - win_lo : src_hi - win_lo] = track.samples[src_lo - offset : src_hi - offset]
        mask[i] = True
    return torch.from_numpy(clips), torch.from_numpy(mask)


def load_audio_clips(
    path: str | os.PathLike | InMemoryVideo, intervals: Sequence[tuple[float, float]], cfg: AudioClipConfig
) -> AudioClips:
    """Clips for the given per-frame intervals (seconds); see the module docstring for the rules."""
    track = read_audio_track(path, cfg.sample_rate)
    clips, mask = cut_clips(track, intervals, cfg.clip_seconds)
    problem = track.problem
    if problem is None and not bool(mask.all()):
        first = int((~mask).nonzero()[0, 0])
        t0, t1 = intervals[first]
        problem = (
            f"Audio track of {path} ends at {track.end:.2f} s, before frame {first} of {len(intervals)} "
            f"({t0:.2f}-{t1:.2f} s)"
        )
    if problem is not None and cfg.on_missing_audio == "error":
        raise DataError(problem)
    return AudioClips(clips, mask, cfg.sample_rate, problem)


def frame_intervals(video: VideoFrames) -> list[tuple[float, float]]:
    """The segment each sampled frame was drawn from, in seconds (``index / fps``, like the timestamps)."""
    if len(video.segments) != len(video.indices):
        raise ValueError("VideoFrames has no segments (it was not produced by load_video_frames)")
    return [(lo / video.fps, hi / video.fps) for lo, hi in video.segments]


def load_frame_audio(
    path: str | os.PathLike | InMemoryVideo, video: VideoFrames, cfg: AudioClipConfig
) -> AudioClips:
    """The audio clips matching the frames ``load_video_frames`` returned for the same file."""
    return load_audio_clips(path, frame_intervals(video), cfg)


def _stream_start(stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _seconds(chunks: list[np.ndarray], sample_rate: int) -> float:
    return sum(c.shape[-1] for c in chunks) / sample_rate
