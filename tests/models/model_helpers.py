"""Tiny model configs and fake batches shared by model and runner tests."""

from __future__ import annotations

import torch

from lavis.common.config import default_config_path, load_yaml, merge_with_schema
from lavis.models.mr_blip import Blip2MR, Blip2MRConfig


def tiny_config(**overrides) -> Blip2MRConfig:
    from omegaconf import OmegaConf

    preset = load_yaml(default_config_path("configs/models/blip2_mr/tiny.yaml"))
    merged = merge_with_schema(Blip2MRConfig, preset, OmegaConf.create(overrides), path="model", source="test")
    return OmegaConf.to_object(merged)


def tiny_model(**overrides) -> Blip2MR:
    torch.manual_seed(0)
    return Blip2MR(tiny_config(**overrides))


def fake_batch(batch: int = 2, frames: int = 5, size: int = 32, seed: int = 0, durations=None) -> dict:
    g = torch.Generator().manual_seed(seed)
    durations = durations or [10.0 + 3 * i for i in range(batch)]
    return {
        "video": torch.randn(batch, frames, 3, size, size, generator=g),
        "timestamps": torch.stack([torch.linspace(0.5, d - 0.5, frames) for d in durations]),
        "frame_mask": torch.ones(batch, frames, dtype=torch.bool),
        "duration": torch.tensor(durations),
        "query": [f"a red circle appears {i}" for i in range(batch)],
        "relevant_windows": [[[1.0, 4.0]] for _ in range(batch)],
        "qid": [f"q{i}" for i in range(batch)],
        "vid": [f"v{i}" for i in range(batch)],
        "index": list(range(batch)),
    }


def take(batch: dict, rows: list[int]) -> dict:
    out = {}
    for key, value in batch.items():
        out[key] = value[rows] if isinstance(value, torch.Tensor) else [value[r] for r in rows]
    return out


def real_size_meta_model(arch: str = "blip2_mr", model_type: str = "pretrain_flant5xl"):
    """The published architecture on the meta device (no weights, no download), as the converter builds it."""
    from pathlib import Path

    from lavis.models.convert import build_meta_model, model_config

    model_cls, merged, _ = model_config(arch, model_type)
    merged.llm.path = None  # a local Flan-T5 folder, if present, must not change the check
    return build_meta_model(model_cls, merged, kind="", source=Path("."))
