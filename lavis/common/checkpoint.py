"""Checkpoint file I/O: atomic writes, safe reads (``weights_only``), safetensors support.

Mapping the keys of foreign checkpoints onto our modules is the models layer's job
(:mod:`lavis.models.checkpoints`); this module only moves dictionaries of tensors to and from disk.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lavis.common.errors import CheckpointError
from lavis.common.io import atomic_open


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` with torch.save (or safetensors for a ``.safetensors`` path of plain tensors)."""
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import save as st_save

        tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
        with atomic_open(path, "wb") as f:
            f.write(st_save(tensors))
        return
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without executing pickled code (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device=str(map_location))
        except Exception as err:
            raise CheckpointError(f"Cannot read safetensors file {path}: {err}") from None
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"Cannot read checkpoint {path} with weights_only=True: {str(err).splitlines()[0]}. "
            "Only tensors and plain containers are accepted; re-save the file with plain state dicts."
        ) from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict at the top level, found {type(obj).__name__}")
    return obj


def model_state_from(obj: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model weights inside a checkpoint dict: ``obj["model"]`` if present (LAVIS), else the dict itself."""
    state = obj.get("model", obj) if isinstance(obj.get("model"), dict) else obj
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_to_tuple(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to_tuple(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_to_tuple(x) for x in obj)
    return obj
