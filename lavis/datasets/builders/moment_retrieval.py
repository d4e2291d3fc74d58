"""Builders for the moment-retrieval benchmarks: ``qvh``, ``charades_sta``, ``anet``.

They differ only in their preset YAML (paths and frame counts); the annotation format and the dataset class
are shared. Paths interpolate ``${paths.data_root}``, so a user sets the data root once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from lavis.common.config import one_of
from lavis.common.errors import ConfigError
from lavis.common.registry import register_builder
from lavis.datasets.builders.base import VideoDatasetBuilder, VideoDatasetConfig
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.datasets.shards import ShardMomentRetrievalDataset


@dataclass
class MomentRetrievalBuilderConfig(VideoDatasetConfig):
    shards: dict[str, str] = field(default_factory=dict)  # split -> webdataset URL ("a-{000..009}.tar"): stream it
    subtitle_root: str | None = None  # CALCE: a folder of <video>.srt (audio transcripts); None: no subtitles
    missing_subtitles: str = one_of("error", "error", "empty")  # empty: a video without an SRT has no speech


class MomentRetrievalBuilder(VideoDatasetBuilder):
    Config = MomentRetrievalBuilderConfig
    dataset_cls = MomentRetrievalDataset

    def build_split(self, split: str) -> Dataset:
        if split in self.cfg.shards:
            return ShardMomentRetrievalDataset(
                self.cfg.shards[split],
                processor=self.processor_for(split),
                seed=self.seed,
                shuffle_shards=split in self.train_split_names,
                on_bad_video=self.cfg.on_bad_video,
            )
        return super().build_split(split)

    def dataset_kwargs(self, split: str) -> dict:
        if not self.cfg.subtitle_root:
            return {}
        if not Path(self.cfg.subtitle_root).is_dir():
            raise ConfigError(f"datasets.{self.name}.subtitle_root is not a directory: {self.cfg.subtitle_root}")
        return {"subtitle_root": self.cfg.subtitle_root, "missing_subtitles": self.cfg.missing_subtitles}


@register_builder("qvh")
class QVHighlightsBuilder(MomentRetrievalBuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/qvh/defaults.yaml"}


@register_builder("charades_sta")
class CharadesSTABuilder(MomentRetrievalBuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/charades_sta/defaults.yaml"}


@register_builder("anet")
class ActivityNetCaptionsBuilder(MomentRetrievalBuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/anet/defaults.yaml"}


@register_builder("anet_tal")
class ActivityNetTALBuilder(MomentRetrievalBuilder):
    """ActivityNet 1.3 action localization: one record per video, windows labelled with their class."""

    DATASET_CONFIG_DICT = {"default": "configs/datasets/anet_tal/defaults.yaml"}
