"""``synthetic_mr``: the generated moment-retrieval benchmark (see :mod:`lavis.datasets.synthetic`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from torch.utils.data import Dataset

from lavis.common.config import processor_specs
from lavis.common.errors import ConfigError
from lavis.common.registry import register_builder
from lavis.datasets.builders.base import BaseDatasetBuilder
from lavis.datasets.moment_retrieval import MomentRetrievalDataset
from lavis.datasets.synthetic import SyntheticSpec, generate


@dataclass
class SyntheticMRBuilderConfig:
    type: str = "default"
    root: str = "${paths.cache_root}/synthetic_mr"
    spec: SyntheticSpec = field(default_factory=SyntheticSpec)
    vis_processor: dict = processor_specs({"train": {"name": "video_train"}, "eval": {"name": "video_eval"}})
    on_bad_video: str = "error"


@register_builder("synthetic_mr")
class SyntheticMRBuilder(BaseDatasetBuilder):
    Config = SyntheticMRBuilderConfig
    DATASET_CONFIG_DICT = {"default": "configs/datasets/synthetic_mr/defaults.yaml"}

    def _spec(self) -> SyntheticSpec:
        return OmegaConf.to_object(self.cfg.spec) if not isinstance(self.cfg.spec, SyntheticSpec) else self.cfg.spec

    def prepare(self) -> None:
        generate(Path(self.cfg.root), self._spec())

    def build_split(self, split: str) -> Dataset:
        spec = self._spec()
        folder = Path(self.cfg.root) / f"spec_{spec.digest()}"
        if not (folder / "manifest.json").is_file():
            raise ConfigError(f"synthetic data not generated at {folder} (prepare() was not run)")
        if split not in spec.num_videos:
            raise ConfigError(f"datasets.{self.name}.spec.num_videos has no '{split}' split")
        return MomentRetrievalDataset(
            ann_path=folder / f"{split}.json",
            video_root=folder / "videos",
            processor=self.processor_for(split),
            on_bad_video=self.cfg.on_bad_video,
            seed=self.seed,
        )
