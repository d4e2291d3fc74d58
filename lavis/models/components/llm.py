"""The language model: transformers' T5 (or another seq2seq LM), optionally with LoRA adapters via peft.

Real weights are read from a local folder; with no folder the architecture is built from ``arch`` (a T5
config dict) with random weights, which is how the tiny configs and the meta-device checks work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lavis.common.errors import CheckpointError, ConfigError

T5_LINEAR_MODULES = ["q", "k", "v", "o", "wi_0", "wi_1", "wo", "lm_head"]


@dataclass
class LLMConfig:
    path: str | None = None  # local HF folder with config + weights (e.g. flan-t5-xl); None: random from `arch`
    tokenizer: str | None = None  # local tokenizer folder, or "tiny"; default: `path`
    arch: dict[str, Any] = field(default_factory=dict)  # T5Config fields, used when `path` is None
    dense_act_fn: str = "gelu"  # LAVIS/BLIP-2 run Flan-T5's gated FFN with exact GELU (HF default: gelu_new)
    bf16_autocast: bool = True  # on GPU, run the LLM under bf16 autocast (as the original Mr. BLIP)


@dataclass
class LoraSettings:
    enabled: bool = True
    r: int = 8
    alpha: int = 8
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(T5_LINEAR_MODULES))


def build_t5(cfg: LLMConfig, vocab_size: int | None = None) -> nn.Module:
    from transformers import T5Config, T5ForConditionalGeneration

    if cfg.path:
        folder = Path(cfg.path)
        if not (folder / "config.json").is_file():
            raise ConfigError(
                f"model.llm.path: no config.json in {folder}. Put the local Hugging Face folder of the "
                "language model there (e.g. google/flan-t5-xl); nothing is downloaded at run time."
            )
        config = T5Config.from_pretrained(str(folder), local_files_only=True)
        config.dense_act_fn = cfg.dense_act_fn
        # fp32 base weights as in the original (LoRA branch); autocast decides the compute dtype.
        model, info = T5ForConditionalGeneration.from_pretrained(
            str(folder), config=config, local_files_only=True, dtype=torch.float32, output_loading_info=True
        )
        gaps = {k: v for k, v in info.items() if k != "error_msgs" and v}
        if gaps or info.get("error_msgs"):
            details = "; ".join(f"{k}: {sorted(v)[:5]}" for k, v in gaps.items())
            raise CheckpointError(f"{folder} does not match its config.json ({details} {info.get('error_msgs') or ''})")
        return model
    arch = dict(cfg.arch)
    if vocab_size is not None:
        arch.setdefault("vocab_size", vocab_size)
    arch.setdefault("decoder_start_token_id", 0)
    arch.setdefault("pad_token_id", 0)
    arch.setdefault("eos_token_id", 1)
    config = T5Config(**arch)
    config.dense_act_fn = cfg.dense_act_fn
    return T5ForConditionalGeneration(config)


def apply_lora(model: nn.Module, lora: LoraSettings) -> nn.Module:
    """Wrap ``model`` with LoRA adapters; base weights become frozen, adapters trainable.

    The wrapper's parameter names (``base_model.model.<...>.lora_A.default.weight``) are the ones the
    published Mr. BLIP checkpoints use.
    """
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias="none",
        target_modules=list(lora.target_modules),
    )
    return get_peft_model(model, config)
