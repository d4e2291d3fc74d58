"""Data parallelism for the runner: DDP (replicated weights) or FSDP2 (``torch.distributed.fsdp.fully_shard``).

``run.parallel: ddp | fsdp`` chooses; the same config trains with either. Under FSDP every transformer block the
model lists in :meth:`~lavis.models.base.BaseModel.fsdp_units` (LLM blocks, ViT blocks, Q-Former layers) becomes
its own shard group, and the model itself becomes the root group (embeddings, projections, ``ln_vision``, ...).
Parameters, gradients and AdamW states of every group are split across ranks; a group's full weights exist only
while its block runs (all-gathered before, freed after; the root group stays gathered between forward and
backward, as FSDP2 always does for the root).

Checkpoints keep the DDP format: the trainable tensors as full (unsharded) CPU tensors under their parameter
names, and the optimizer state as ``torch.optim.Optimizer.state_dict()`` lays it out (integer parameter ids in
param-group order). Both are gathered with ``torch.distributed.checkpoint.state_dict`` helpers
(``full_state_dict=True, cpu_offload=True``), so a DDP checkpoint resumes under FSDP and the other way round.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from lavis.common import dist

logger = logging.getLogger(__name__)
PARALLEL_MODES = ("ddp", "fsdp")


def is_fsdp(module: nn.Module) -> bool:
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


def apply_fsdp(model: nn.Module, reshard_after_forward: bool = True) -> nn.Module:
    """Shard ``model`` in place: one group per unit of ``model.fsdp_units()``, then the root group.

    Methods named in ``model.fsdp_forward_methods`` (``predict``, ``generate``) are registered as forward
    methods, so evaluation gathers the root group's weights as a forward call does.
    """
    from torch.distributed.fsdp import fully_shard

    units = list(getattr(model, "fsdp_units", lambda: [])())
    ignored = set(getattr(model, "fsdp_ignored_parameters", set)())
    for unit in units:
        fully_shard(unit, reshard_after_forward=reshard_after_forward)
    fully_shard(model, reshard_after_forward=reshard_after_forward, ignored_params=ignored or None)
    if ignored:
        logger.info(
            "FSDP: %d parameters kept whole on every rank (frozen, skipped on cache hits).",
            sum(p.numel() for p in ignored),
        )
    _register_entry_points(
        model, [n for n in getattr(model, "fsdp_forward_methods", ()) if hasattr(model, n)]
    )
    logger.info("FSDP: %d shard groups + the root, over %d ranks.", len(units), dist.get_world_size())
    return model


def _register_entry_points(model: nn.Module, names: list[str]) -> None:
    """FSDP's pre/post-forward hooks around each of ``names`` -- on the outermost call only.

    ``predict`` calls ``generate``: with both registered, the inner call's post-forward marks the root group idle
    and the outer one then frees its gathered weights, so the next call all-gathers them again -- a collective
    inside evaluation, which ranks with different numbers of batches would not all join.
    """
    from torch.distributed.fsdp import register_fsdp_forward_method

    depth = [0]
    for name in names:
        plain = getattr(model, name)
        register_fsdp_forward_method(model, name)
        hooked = getattr(model, name)

        def entry(*args: Any, _plain=plain, _hooked=hooked, **kwargs: Any) -> Any:
            if depth[0]:
                return _plain(*args, **kwargs)
            depth[0] += 1
            try:
                return _hooked(*args, **kwargs)
            finally:
                depth[0] -= 1

        setattr(model, name, entry)


def set_gradient_sync(model: nn.Module, enabled: bool) -> None:
    """FSDP's ``no_sync``: skip the reduce-scatter on micro-batches that only accumulate."""
    if is_fsdp(model):
        model.set_requires_gradient_sync(enabled)


def set_eval_mode(model: nn.Module, evaluating: bool) -> None:
    """Evaluation under FSDP gathers every group's weights once, up front, and keeps them until it ends.

    Generation calls each block once per token and ranks stop generating at different steps (or have no batch
    at all): per-call all-gathers would leave ranks waiting on collectives the others never join. Gathering
    everything first (every rank, same order) means no collective runs during evaluation; the price is the
    unsharded model's memory for its duration, as under DDP.
    """
    if not is_fsdp(model):
        return
    groups = [m for m in model.modules() if is_fsdp(m)]  # the root first
    if evaluating:
        model.set_reshard_after_forward(False)
        for module in groups:
            module.unshard()
    else:
        model.set_reshard_after_forward(True)
        model.set_reshard_after_forward(False, recurse=False)  # FSDP2's default for the root
        for module in groups:
            module.reshard()


# --------------------------------------------------------------------------------------------------
# checkpoints in the DDP format
# --------------------------------------------------------------------------------------------------


def _options(**kwargs: Any):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(**kwargs)


def full_trainable_state(model: nn.Module, names: Iterable[str]) -> dict[str, torch.Tensor]:
    """The tensors named ``names`` (trainable parameters and their modules' buffers) as full CPU tensors.

    Collective under FSDP (every rank must call it); rank 0 gets the tensors, other ranks an empty dict.
    """
    from torch.distributed.checkpoint.state_dict import get_model_state_dict

    state = get_model_state_dict(
        model, options=_options(full_state_dict=True, cpu_offload=True, ignore_frozen_params=True)
    )
    wanted = set(names)
    return {k: v for k, v in state.items() if k in wanted}


def load_full_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load full (unsharded) tensors into a sharded model; each rank keeps its shard. Missing keys are allowed
    (the caller has checked them)."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict

    set_model_state_dict(model, state, options=_options(full_state_dict=True, strict=False))


def _param_names(model: nn.Module, optimizer: torch.optim.Optimizer) -> list[list[str]]:
    """Per param group, the names of its parameters (the first name of a tied parameter, as DCP uses)."""
    names: dict[int, str] = {}
    for name, p in model.named_parameters():
        names.setdefault(id(p), name)
    return [[names[id(p)] for p in group["params"]] for group in optimizer.param_groups]


def full_optimizer_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer state in ``Optimizer.state_dict()`` layout with full tensors (DCP gathers the shards).

    Collective under FSDP; rank 0 gets the state, other ranks an empty dict.
    """
    from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

    by_name = get_optimizer_state_dict(
        model, optimizer, options=_options(full_state_dict=True, cpu_offload=True)
    )
    if not by_name:
        return {}
    groups = _param_names(model, optimizer)
    index = {name: i for i, name in enumerate(n for group in groups for n in group)}
    state = {index[name]: value for name, value in by_name["state"].items() if name in index}
    param_groups = []
    for group, saved in zip(groups, by_name["param_groups"]):
        entry = {k: v for k, v in saved.items() if k != "params"}
        entry["params"] = [index[name] for name in group]
        param_groups.append(entry)
    return {"state": state, "param_groups": param_groups}


def load_full_optimizer_state(
    model: nn.Module, optimizer: torch.optim.Optimizer, saved: dict[str, Any]
) -> None:
    """Load a ``state_dict()``-layout optimizer state (full tensors) into the optimizer of a sharded model."""
    from torch.distributed.checkpoint.state_dict import set_optimizer_state_dict

    groups = _param_names(model, optimizer)
    flat = [name for group in groups for name in group]
    if len(saved["param_groups"]) != len(groups) or any(
        len(s["params"]) != len(g) for s, g in zip(saved["param_groups"], groups)
    ):
        raise ValueError("the checkpoint's optimizer has other parameter groups than this model's optimizer")
    by_name = {
        "state": {flat[int(i)]: value for i, value in saved["state"].items()},
        "param_groups": [
            {**{k: v for k, v in s.items() if k != "params"}, "params": list(g)}
            for s, g in zip(saved["param_groups"], groups)
        ],
    }
    set_optimizer_state_dict(model, optimizer, by_name, options=_options(full_state_dict=True))
