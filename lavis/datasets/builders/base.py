"""Dataset builders: a config section → one torch Dataset per split."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig
from torch.utils.data import Dataset

from lavis.common.config import build_processor
from lavis.common.errors import ConfigError


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

    def build(self, splits: list[str]) -> dict[str, Dataset]:
        return {split: self.build_split(split) for split in splits}

    def build_split(self, split: str) -> Dataset:
        raise NotImplementedError
