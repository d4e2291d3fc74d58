"""Distributed helpers that degrade to a plain single process.

Launched by ``torchrun`` the environment carries RANK / WORLD_SIZE / LOCAL_RANK; without them every helper
behaves as rank 0 of 1, so the same code runs on a laptop and on a cluster.
"""

from __future__ import annotations

import datetime
import logging
import os
from typing import Any

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


def is_dist() -> bool:
    return dist.is_available() and dist.is_initialized()


def get_rank() -> int:
    return dist.get_rank() if is_dist() else 0


def get_world_size() -> int:
    return dist.get_world_size() if is_dist() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device: str, backend: str | None = None, timeout_minutes: int = 30) -> torch.device:
    """Join the process group if launched by torchrun; return the device this rank should use.

    ``device`` is the configured device ("cuda" or "cpu"); CUDA silently unavailable is a warning and a
    fallback to CPU rather than a crash, because the tiny configs are meant to run anywhere.
    """
    use_cuda = device.startswith("cuda") and torch.cuda.is_available()
    if device.startswith("cuda") and not use_cuda:
        logger.warning("run.device=%s but CUDA is not available: running on CPU.", device)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        dev = torch.device("cuda", local_rank)
    else:
        dev = torch.device("cpu")
    if launched_by_torchrun() and not is_dist():
        backend = backend or ("nccl" if use_cuda else "gloo")
        dist.init_process_group(
            backend=backend,
            timeout=datetime.timedelta(minutes=timeout_minutes),
            device_id=dev if use_cuda else None,
        )
        logger.info("Joined process group: rank %d of %d (%s)", get_rank(), get_world_size(), backend)
    return dev


def barrier() -> None:
    if is_dist():
        dist.barrier()


def all_gather_objects(obj: Any) -> list[Any]:
    """Gather one picklable object from every rank (a list of length world_size, on every rank)."""
    if not is_dist():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_reduce_mean(value: float, device: torch.device) -> float:
    if not is_dist():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / get_world_size()


def destroy() -> None:
    if is_dist():
        dist.destroy_process_group()
