"""The interface every model offers, so the runner and tasks never branch on the model."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import torch
from torch import nn


class BaseModel(nn.Module):
    """Subclasses define ``Config`` (a dataclass), presets in ``PRETRAINED_MODEL_CONFIG_DICT`` and
    ``from_config``. ``forward(samples)`` returns a dict with ``loss``.
    """

    Config: ClassVar[type]
    PRETRAINED_MODEL_CONFIG_DICT: ClassVar[dict[str, str]] = {}
    # Task families ``lavis.inference.Predictor`` may run on this model (``moment_retrieval``, ``open_qa``, ...)
    inference_tasks: ClassVar[tuple[str, ...]] = ()
    # Parameter names excluded from weight decay by LAVIS's rule (1-D, biases, "ln", "bn").
    _no_decay_pattern = re.compile(r"bias|ln|bn")

    @classmethod
    def from_config(cls, cfg: Any) -> BaseModel:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prepare_for_device(self, device: torch.device) -> None:
        """Move to ``device`` and apply per-module precision rules (e.g. a frozen ViT in fp16 on GPU)."""
        self.to(device)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Trade compute for memory in the trainable parts; models override where it applies."""

    def trainable_parameter_names(self) -> list[str]:
        return [n for n, p in self.named_parameters() if p.requires_grad]

    def trainable_state_names(self) -> set[str]:
        """Names of the tensors that training changes: the trainable parameters and the buffers of the modules
        that own them (e.g. a trained BatchNorm's running statistics)."""
        names = set(self.trainable_parameter_names())
        for module_name, module in self.named_modules():
            if any(p.requires_grad for p in module.parameters(recurse=False)):
                prefix = f"{module_name}." if module_name else ""
                names.update(prefix + b for b, _ in module.named_buffers(recurse=False))
        return names

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the tensors that training changes: what a fine-tuned checkpoint needs to hold."""
        names = self.trainable_state_names()
        return {k: v for k, v in self.state_dict().items() if k in names}

    # Methods that run the model outside ``forward`` (evaluation): FSDP gathers the root's weights around them.
    fsdp_forward_methods: ClassVar[tuple[str, ...]] = ("predict", "generate")

    def fsdp_units(self) -> list[nn.Module]:
        """Submodules that FSDP shards as groups of their own (transformer blocks); the rest is the root group."""
        return []

    def fsdp_ignored_parameters(self) -> set[nn.Parameter]:
        """Parameters FSDP leaves whole on every rank (frozen parts a rank may skip, e.g. on a cache hit)."""
        return set()

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def optimizer_param_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        decay, no_decay = [], []
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            if param.ndim < 2 or self._no_decay_pattern.search(name):
                no_decay.append(param)
            else:
                decay.append(param)
        return [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]

    def dummy_inputs(self, batch_size: int = 2, num_frames: int = 3) -> dict[str, Any]:
        """A small random batch in this model's input format (smoke tests, benchmarks, shape checks)."""
        raise NotImplementedError(f"{type(self).__name__} defines no dummy_inputs()")

    def expected_missing_keys(self) -> list[str]:
        """Regexes of parameter names a fine-tuned checkpoint may omit (frozen parts loaded elsewhere)."""
        return []
