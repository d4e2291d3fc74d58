"""Tasks: what a train step and an eval step mean for a problem type, and how results are scored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from lavis.common import registry
from lavis.common.config import Config, RunConfig
from lavis.common.errors import ConfigError


class BaseTask:
    """Subclasses set ``Config`` (a ``RunConfig`` subclass with their own run-section keys)."""

    Config = RunConfig

    def __init__(self, run_cfg: Any) -> None:
        self.run_cfg = run_cfg

    @classmethod
    def setup_task(cls, cfg: Config) -> BaseTask:
        return cls(cfg.run)

    def build_model(self, cfg: Config) -> torch.nn.Module:
        model_cls = registry.models.get(cfg.model.arch)
        return model_cls.from_config(cfg.model)

    def builders(self, cfg: Config) -> dict[str, Any]:
        if not cfg.datasets:
            raise ConfigError(f"{cfg.source}: the 'datasets' section is empty")
        return {
            name: registry.builders.get(name)(ds_cfg, name=name, seed=cfg.run.seed)
            for name, ds_cfg in cfg.datasets.items()
        }

    def prepare_datasets(self, cfg: Config) -> None:
        """One-off data work (e.g. generating the synthetic set); call on rank 0 before building."""
        for builder in self.builders(cfg).values():
            builder.prepare()

    def build_datasets(self, cfg: Config, splits: list[str]) -> dict[str, dict[str, Dataset]]:
        """``{dataset_name: {split: Dataset}}`` for the requested splits of every configured dataset."""
        return {name: builder.build(splits) for name, builder in self.builders(cfg).items()}

    def train_step(self, model: torch.nn.Module, samples: dict[str, Any]) -> torch.Tensor:
        return model(samples)["loss"]

    def valid_step(self, model: torch.nn.Module, samples: dict[str, Any]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def after_evaluation(
        self, records: list[dict[str, Any]], split: str, tag: str, result_dir: Path
    ) -> dict[str, Any]:
        """Score gathered records (rank 0); must return a dict with ``agg_metrics`` (higher is better)."""
        raise NotImplementedError
