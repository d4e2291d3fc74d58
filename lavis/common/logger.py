"""Logging: readable console output on rank 0, a text log, a JSONL metrics log, optional TensorBoard."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from tqdm.auto import tqdm

from lavis.common.io import append_jsonl

T = TypeVar("T")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(rank: int = 0, log_file: str | Path | None = None) -> None:
    """INFO on rank 0 and WARNING elsewhere; ``log_file`` (rank 0 only) gets everything at INFO."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_lavis", False):
            root.removeHandler(handler)
    root.setLevel(logging.INFO)
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.INFO if rank == 0 else logging.WARNING)
    console.setFormatter(logging.Formatter(_FORMAT, datefmt="%H:%M:%S"))
    console._lavis = True  # type: ignore[attr-defined]
    root.addHandler(console)
    if log_file is not None and rank == 0:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, encoding="utf-8")
        fh.setFormatter(logging.Formatter(_FORMAT))
        fh._lavis = True  # type: ignore[attr-defined]
        root.addHandler(fh)
    for noisy in ("httpx", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def progress(iterable: Iterable[T], total: int | None = None, desc: str = "", enabled: bool = True) -> Iterator[T]:
    """A tqdm bar when ``enabled`` (rank 0), the bare iterable otherwise."""
    if not enabled:
        yield from iterable
        return
    yield from tqdm(iterable, total=total, desc=desc, dynamic_ncols=True, leave=False, mininterval=1.0)


def progress_bar_open() -> bool:
    """True while a progress bar may be drawn on the terminal's current line (an error then needs its own line).

    A bar interrupted by an exception stays open until its frame is freed, i.e. while the error is reported.
    """
    return any(not getattr(bar, "disable", True) for bar in list(getattr(tqdm, "_instances", ())))


class MetricsLog:
    """One JSON object per logged event in ``<output_dir>/log.jsonl`` (+ TensorBoard scalars if asked).

    Only rank 0 writes; other ranks get a no-op instance so callers never branch on rank.
    """

    def __init__(self, output_dir: str | Path | None, enabled: bool = True, tensorboard: bool = False) -> None:
        self.enabled = enabled and output_dir is not None
        self.path = Path(output_dir) / "log.jsonl" if self.enabled else None
        self._tb = None
        if self.enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(log_dir=str(Path(output_dir) / "tensorboard"))

    def log(self, kind: str, step: int, **values: Any) -> None:
        if not self.enabled:
            return
        row = {"kind": kind, "step": step, "time": round(time.time(), 3), **values}
        append_jsonl(self.path, row)
        if self._tb is not None:
            for key, value in _flatten(values).items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    self._tb.add_scalar(f"{kind}/{key}", value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, f"{name}/"))
        else:
            out[name] = value
    return out
