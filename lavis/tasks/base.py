"""Tasks: what a train step and an eval step mean for a problem type, and how results are scored."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any, ClassVar

import torch
from omegaconf import OmegaConf
from torch.utils.data import Dataset

from lavis.common import registry
from lavis.common.config import Config, GenerationConfig, RunConfig
from lavis.common.errors import ConfigError
from lavis.common.io import write_json, write_jsonl


class BaseTask:
    """What a problem type means to the runner, so the runner itself never names a metric or a batch key.

    Subclasses set ``Config`` (a ``RunConfig`` subclass with their own run-section keys),
    ``headline_metrics`` (the summary line after each evaluation) and ``selection_metric`` (higher is
    better; picks ``checkpoint_best.pth``), and may override :meth:`is_empty` and :meth:`record_key`.
    """

    Config = RunConfig
    headline_metrics: ClassVar[tuple[str, ...]] = ("agg_metrics",)
    selection_metric: ClassVar[str] = "agg_metrics"

    def __init__(self, run_cfg: Any) -> None:
        self.run_cfg = run_cfg
        gen = run_cfg.generation if "generation" in run_cfg else None
        self.generation = GenerationConfig(**OmegaConf.to_container(gen)) if gen is not None else GenerationConfig()

    def is_empty(self, batch: dict[str, Any]) -> bool:
        """A batch with nothing to learn from or score (every sample skipped); the generic collate's rule."""
        return batch.get("batch_size", 0) == 0

    def record_key(self, record: dict[str, Any]) -> Hashable:
        """Identity of an evaluation record: gathered records with one key are kept once."""
        return record["index"]

    def format_metrics(self, metrics: dict[str, Any]) -> str:
        return ", ".join(f"{k}={metrics[k]}" for k in self.headline_metrics if k in metrics)

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
        """Score gathered records (rank 0); returns the metrics, including ``selection_metric``.

        The default writes ``<split>_<tag>_predictions.jsonl`` and ``<split>_<tag>_metrics.json`` around
        :meth:`score`; tasks that write more override it.
        """
        stem = f"{split}_{tag}"
        write_jsonl(Path(result_dir) / f"{stem}_predictions.jsonl", records)
        metrics = self.score(records)
        write_json(Path(result_dir) / f"{stem}_metrics.json", metrics)
        return metrics

    def score(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """The metrics of gathered eval records."""
        raise NotImplementedError
