"""Dataset builders: a config section → one torch Dataset per split."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig
from torch.utils.data import Dataset

from lavis.common.config import build_processor, one_of, processor_specs
from lavis.common.errors import ConfigError
from lavis.datasets.audio import AudioClipConfig


class BaseDatasetBuilder:
    """Subclasses set ``Config`` (a dataclass), ``DATASET_CONFIG_DICT`` (preset YAMLs) and ``build_split``."""

    Config: type
    DATASET_CONFIG_DICT: dict[str, str] = {}
    train_split_names = ("train",)

    def __init__(self, cfg: DictConfig, name: str, seed: int = 0) -> None:
        self.cfg = cfg
        self.name = name
        self.seed = seed

    def prepare(self) -> None:
        """Work done once, on rank 0, before any rank builds datasets (e.g. generating data)."""

    def processor_for(self, split: str) -> Any:
        which = "train" if split in self.train_split_names else "eval"
        specs = self.cfg.vis_processor
        if which not in specs or specs[which] is None:
            raise ConfigError(f"datasets.{self.name}.vis_processor has no '{which}' processor")
        return build_processor(specs[which], path=f"datasets.{self.name}.vis_processor.{which}")

    def audio_kwargs(self) -> dict[str, Any]:
        """``audio=AudioClipConfig(...)`` when the dataset config asks for audio, else nothing."""
        if not getattr(self.cfg, "audio", None):
            return {}
        allowed = {f.name for f in dataclasses.fields(AudioClipConfig)}
        unknown = sorted(set(self.cfg.audio) - allowed)
        if unknown:
            raise ConfigError(
                f"datasets.{self.name}.audio: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})"
            )
        try:
            return {"audio": AudioClipConfig(**self.cfg.audio)}
        except ConfigError as err:
            raise ConfigError(f"datasets.{self.name}.audio: {err}") from None

    def build(self, splits: list[str]) -> dict[str, Dataset]:
        return {split: self.build_split(split) for split in splits}

    def check_paths(self, splits: list[str]) -> None:
        """Raise ConfigError if a file or folder the splits need is missing (cheap: no annotation is read)."""

    def build_split(self, split: str) -> Dataset:
        raise NotImplementedError


@dataclass
class VideoDatasetConfig:
    """A folder of videos and one annotation file per split (the layout every benchmark here uses)."""

    type: str = "default"
    video_root: str = "???"
    video_ext: str = ".mp4"
    ann_paths: dict[str, str] = field(default_factory=dict)  # split -> annotation file
    vis_processor: dict = processor_specs({"train": {"name": "video_train"}, "eval": {"name": "video_eval"}})
    on_bad_video: str = one_of("error", "error", "skip")  # skip: drop such samples (counted in the logs)
    # Per-frame audio clips (SMS): {} = none; else AudioClipConfig fields {clip_seconds, sample_rate, on_missing_audio}
    audio: dict = field(default_factory=dict)


class VideoDatasetBuilder(BaseDatasetBuilder):
    """Builds ``dataset_cls(ann_path, video_root, processor, ...)`` per split, with clear errors for bad paths."""

    Config = VideoDatasetConfig
    dataset_cls: type

    def dataset_kwargs(self, split: str) -> dict[str, Any]:
        """Extra constructor arguments of ``dataset_cls`` (e.g. a prompt template)."""
        return {}

    def annotation_path(self, split: str) -> Path:
        ann_paths = self.cfg.ann_paths
        if split not in ann_paths:
            raise ConfigError(
                f"datasets.{self.name}.ann_paths has no '{split}' split "
                f"(available: {', '.join(ann_paths) or 'none'}); add it or remove '{split}' from run.*_splits"
            )
        ann_path = Path(ann_paths[split])
        if not ann_path.is_file():
            raise ConfigError(
                f"datasets.{self.name}.ann_paths.{split}: annotation file not found: {ann_path}. "
                "Prepare it with `python -m lavis.datasets.prepare` or point the config at it."
            )
        return ann_path

    def check_paths(self, splits: list[str]) -> None:
        for split in splits:
            self.annotation_path(split)
        self.video_root()

    def video_root(self) -> Path:
        video_root = Path(self.cfg.video_root)
        if not video_root.is_dir():
            raise ConfigError(
                f"datasets.{self.name}.video_root is not a directory: {video_root}. Prepare the data (see "
                "mr_BLIP_data/README.md) or set paths.data_root / the dataset's video_root."
            )
        return video_root

    def build_split(self, split: str) -> Dataset:
        ann_path = self.annotation_path(split)
        video_root = self.video_root()
        return self.dataset_cls(
            ann_path,
            video_root,
            self.processor_for(split),
            video_ext=self.cfg.video_ext,
            on_bad_video=self.cfg.on_bad_video,
            seed=self.seed,
            **self.audio_kwargs(),
            **self.dataset_kwargs(split),
        )
