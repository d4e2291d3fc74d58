"""Builders for the moment-retrieval benchmarks: ``qvh``, ``charades_sta``, ``anet``.

They differ only in their preset YAML (paths and frame counts); the annotation format and the dataset class
are shared. Paths interpolate ``${paths.data_root}``, so a user sets the data root once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import Dataset

from lavis.common.config import processor_specs
from lavis.common.errors import ConfigError
from lavis.common.registry import register_builder
from lavis.datasets.builders.base import BaseDatasetBuilder
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.datasets.shards import ShardMomentRetrievalDataset


@dataclass
class MomentRetrievalBuilderConfig:
    type: str = "default"
    video_root: str = "???"
    video_ext: str = ".mp4"
    ann_paths: dict[str, str] = field(default_factory=dict)  # split -> annotation file
    vis_processor: dict = processor_specs({"train": {"name": "video_train"}, "eval": {"name": "video_eval"}})
    on_bad_video: str = "error"  # error | skip (skipped samples are counted in the logs)
    shards: dict[str, str] = field(default_factory=dict)  # split -> webdataset URL ("a-{000..009}.tar"): stream it


class MomentRetrievalBuilder(BaseDatasetBuilder):
    Config = MomentRetrievalBuilderConfig

    def build_split(self, split: str) -> Dataset:
        if split in self.cfg.shards:
            return ShardMomentRetrievalDataset(
                self.cfg.shards[split],
                processor=self.processor_for(split),
                seed=self.seed,
                shuffle_shards=split in self.train_split_names,
                on_bad_video=self.cfg.on_bad_video,
            )
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
        video_root = Path(self.cfg.video_root)
        if not video_root.is_dir():
            raise ConfigError(f"datasets.{self.name}.video_root is not a directory: {video_root}")
        return MomentRetrievalDataset(
            ann_path=ann_path,
            video_root=video_root,
            processor=self.processor_for(split),
            video_ext=self.cfg.video_ext,
            on_bad_video=self.cfg.on_bad_video,
            seed=self.seed,
        )


@register_builder("qvh")
class QVHighlightsBuilder(MomentRetrievalBuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/qvh/defaults.yaml"}


@register_builder("charades_sta")
class CharadesSTABuilder(MomentRetrievalBuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/charades_sta/defaults.yaml"}


@register_builder("anet")
class ActivityNetCaptionsBuilder(MomentRetrievalBuilder):
    DATASET_CONFIG_DICT = {"default": "configs/datasets/anet/defaults.yaml"}
