"""Learning-rate schedules, stepped once per optimizer step.

Unlike LAVIS (whose cosine changes once per epoch and whose warmup must fit in epoch 0), every schedule
here is a pure function of the global optimizer step, so a resumed run continues on exactly the same
curve and warmup may span several epochs.
"""

from __future__ import annotations

import math

import torch

from lavis.common.registry import register_lr_scheduler


class StepLRScheduler:
    """Base: sets ``lr`` on every param group from ``lr_at(step)``; state is just the step."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_steps: int,
        init_lr: float,
        min_lr: float = 0.0,
        warmup_lr: float = 1e-8,
        warmup_steps: int = 0,
        steps_per_epoch: int = 1,
        decay_rate: float = 0.9,
    ) -> None:
        self.optimizer = optimizer
        self.total_steps = max(1, int(total_steps))
        self.init_lr = init_lr
        self.min_lr = min_lr
        self.warmup_lr = warmup_lr if warmup_lr >= 0 else init_lr
        self.warmup_steps = max(0, int(warmup_steps))
        self.steps_per_epoch = max(1, int(steps_per_epoch))
        self.decay_rate = decay_rate
        self.step_count = 0
        self._apply()

    def warmup(self, step: int) -> float:
        frac = step / max(1, self.warmup_steps)
        return min(self.init_lr, self.warmup_lr + (self.init_lr - self.warmup_lr) * frac)

    def lr_at(self, step: int) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        lr = self.lr_at(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def get_last_lr(self) -> float:
        return self.lr_at(self.step_count)

    def state_dict(self) -> dict:
        return {"step_count": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step_count"])
        self._apply()


@register_lr_scheduler("linear_warmup_cosine_lr")
class LinearWarmupCosineLRScheduler(StepLRScheduler):
    """Linear warmup from ``warmup_lr`` to ``init_lr``, then a per-step cosine down to ``min_lr``."""

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup(step)
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr + (self.init_lr - self.min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


@register_lr_scheduler("linear_warmup_step_lr")
class LinearWarmupStepLRScheduler(StepLRScheduler):
    """Linear warmup, then ``init_lr * decay_rate ** epoch`` (never below ``min_lr``)."""

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.warmup(step)
        epoch = step // self.steps_per_epoch
        return max(self.min_lr, self.init_lr * self.decay_rate**epoch)


@register_lr_scheduler("constant_lr")
class ConstantLRScheduler(StepLRScheduler):
    """Linear warmup, then ``init_lr``."""

    def lr_at(self, step: int) -> float:
        return self.warmup(step) if step < self.warmup_steps else self.init_lr
