"""``synthetic_memory``: the long-video memory demo's generated QA set (:mod:`lavis.datasets.synthetic_memory`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import OmegaConf
from torch.utils.data import Dataset

from lavis.common.registry import register_builder
from lavis.datasets.builders.base import BaseDatasetBuilder
from lavis.datasets.synthetic_memory import SyntheticMemoryDataset, SyntheticMemorySpec


@dataclass
class SyntheticMemoryBuilderConfig:
    type: str = "default"
    spec: SyntheticMemorySpec = field(default_factory=SyntheticMemorySpec)
    prompt: str = "Question: {question} Short answer:"


@register_builder("synthetic_memory")
class SyntheticMemoryBuilder(BaseDatasetBuilder):
    Config = SyntheticMemoryBuilderConfig
    DATASET_CONFIG_DICT = {"default": "configs/datasets/synthetic_memory/defaults.yaml"}

    def build_split(self, split: str) -> Dataset:
        spec = self.cfg.spec
        spec = spec if isinstance(spec, SyntheticMemorySpec) else OmegaConf.to_object(spec)
        return SyntheticMemoryDataset(spec, split, prompt=self.cfg.prompt)
