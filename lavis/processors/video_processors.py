"""Video processors: file → normalised frame tensor (+ timestamps), for training and evaluation.

Training uses one RandomResizedCrop shared by all frames of a clip (so motion stays coherent) and random
frame sampling within segments; evaluation uses segment midpoints and no augmentation. Both normalise
with the CLIP mean/std that BLIP-2's vision encoder was trained with. A path that is a directory is read as
a folder of extracted frames (:mod:`lavis.datasets.frames`, MA-LMM's layout) with the same sampling.

Decoding speed (``benchmarks/bench_decode.py``): the default ``reader: pyav`` gives decord's frames in about
half the CPU time. Two opt-in fast modes trade where frames come from for speed:

- ``decode: keyframes``: each sampled frame is moved to the nearest keyframe of the clip window, so a frame
  can move by half a GOP (1 s for a 2 s GOP) and neighbouring samples can repeat a frame; the timestamps
  are the keyframes' true presentation times;
- frame folders: a ``video_root`` of frames pre-extracted at ``frame_fps`` (``video_ext: ""``): frames
  are sampled on that grid and frame ``k`` is stamped ``k / frame_fps`` (MA-LMM's convention). ffmpeg's
  ``fps`` filter fills slot ``k`` with the last source frame whose time rounds to it, so the frame's true
  time is within half an extraction period (0.05 s at 10 fps) of its stamp. Per-frame audio needs the
  video files.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from lavis.common.config import one_of
from lavis.common.registry import register_processor
from lavis.datasets.frames import load_frame_folder
from lavis.datasets.video import DECODE_MODES, READERS, VideoFrames, load_video_frames

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class VideoProcessorConfig:
    n_frms: int = 8
    image_size: int = 224
    mean: list[float] = field(default_factory=lambda: list(CLIP_MEAN))
    std: list[float] = field(default_factory=lambda: list(CLIP_STD))
    min_scale: float = 0.5  # RandomResizedCrop scale range (training only)
    max_scale: float = 1.0
    flip_prob: float = 0.0  # horizontal flip of the whole clip (training only; MA-LMM: 0.5)
    frame_fps: float = 10.0  # extraction rate of frame folders (<video>/frame%06d.jpg; MA-LMM: 10 fps)
    reader: str = one_of("pyav", *READERS)  # same frames; pyav is about twice as fast (lavis.datasets.decode)
    # keyframes: the fast mode, each sampled frame moved to the nearest keyframe (timestamps are the
    # keyframes' true times; see lavis.datasets.video)
    decode: str = one_of("exact", *DECODE_MODES)
    decode_workers: int = 1  # threads decoding parts of one video in parallel (on top of DataLoader workers)


class VideoProcessor:
    Config = VideoProcessorConfig
    sampling = "middle"

    def __init__(self, cfg: VideoProcessorConfig) -> None:
        self.cfg = cfg
        self.mean = torch.tensor(cfg.mean).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.std).view(1, 3, 1, 1)

    @classmethod
    def from_config(cls, cfg) -> VideoProcessor:
        return cls(cfg)

    def load(self, path, rng: np.random.Generator, clip=None) -> VideoFrames:
        cfg = self.cfg
        if isinstance(path, (str, os.PathLike)) and os.path.isdir(path):  # a folder of extracted frames
            return load_frame_folder(path, cfg.n_frms, cfg.image_size, self.sampling, rng, clip, fps=cfg.frame_fps)
        return load_video_frames(path, cfg.n_frms, cfg.image_size, self.sampling, rng, clip, reader=cfg.reader,
                                 decode=cfg.decode, workers=cfg.decode_workers)

    def transform(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        return self.normalize(frames)

    def normalize(self, frames: torch.Tensor) -> torch.Tensor:
        return (frames.float() / 255.0 - self.mean) / self.std

    def __call__(self, path, rng: np.random.Generator, clip=None) -> tuple[torch.Tensor, VideoFrames]:
        video = self.load(path, rng, clip)
        return self.transform(video.frames, rng), video

    def pixel_signature(self) -> str:
        """What a frame's pixels depend on besides the video and the frame index (a frozen-feature cache key).

        The frame-folder rate is part of it because it maps a frame index to an image file; the reader and the
        decode mode because their resizing may differ (a changed setting only costs a recomputation).
        """
        parts = {
            "processor": type(self).__name__,
            "image_size": int(self.cfg.image_size),
            "mean": [float(x) for x in self.cfg.mean],
            "std": [float(x) for x in self.cfg.std],
            "frame_fps": float(self.cfg.frame_fps),
            "reader": str(self.cfg.reader),
            "decode": str(self.cfg.decode),
        }
        return json.dumps(parts, sort_keys=True)

    def pixel_augmentation(self) -> str | None:
        """The setting that makes a frame's pixels random (None: pixels depend only on video and index).

        Cached frozen features would freeze one draw of such an augmentation, so the cache refuses it.
        """
        return None


@register_processor("video_eval")
class VideoEvalProcessor(VideoProcessor):
    sampling = "middle"


@register_processor("video_train")
class VideoTrainProcessor(VideoProcessor):
    sampling = "random"

    def transform(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        _, _, h, w = frames.shape
        top, left, ch, cw = random_resized_crop_params(h, w, (self.cfg.min_scale, self.cfg.max_scale), rng)
        size = [self.cfg.image_size, self.cfg.image_size]
        frames = TF.resized_crop(frames, top, left, ch, cw, size, InterpolationMode.BICUBIC, antialias=True)
        if self.cfg.flip_prob > 0 and rng.uniform() < self.cfg.flip_prob:
            frames = TF.hflip(frames)
        return self.normalize(frames)

    def pixel_augmentation(self) -> str | None:
        # Frames are decoded square at image_size, so a crop of scale 1 is the whole frame: pixels unchanged.
        if self.cfg.min_scale < 1.0 or self.cfg.max_scale < 1.0:
            return f"min_scale={self.cfg.min_scale}, max_scale={self.cfg.max_scale} (RandomResizedCrop; 1.0 keeps the whole frame)"
        if self.cfg.flip_prob > 0:
            return f"flip_prob={self.cfg.flip_prob} (random horizontal flip)"
        return None


def random_resized_crop_params(
    height: int, width: int, scale: tuple[float, float], rng: np.random.Generator, ratio=(3 / 4, 4 / 3)
) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop sampling, driven by ``rng`` so it is reproducible per sample."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target_area = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect)))
        h = int(round(math.sqrt(target_area / aspect)))
        if 0 < w <= width and 0 < h <= height:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    # fallback: central crop
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@register_processor("video_head_eval")
class VideoHeadEvalProcessor(VideoEvalProcessor):
    """CALCE's sampling: the first frame of each of ``n_frms`` equal segments, no augmentation."""

    sampling = "head"


@register_processor("video_head_train")
class VideoHeadTrainProcessor(VideoTrainProcessor):
    """CALCE's training processor: "head" sampling (as in evaluation) + the shared RandomResizedCrop."""

    sampling = "head"


@register_processor("video_linspace_eval")
class VideoLinspaceEvalProcessor(VideoEvalProcessor):
    """MA-LMM's evaluation sampling: ``rint(linspace(first, last, n_frms))``, no augmentation."""

    sampling = "linspace"


@register_processor("video_linspace_train")
class VideoLinspaceTrainProcessor(VideoTrainProcessor):
    """MA-LMM's LVU training: deterministic linspace sampling with the training augmentation."""

    sampling = "linspace"
