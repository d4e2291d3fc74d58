"""Official benchmark downloads → the framework's annotation files, plus video checks and shards.

``python -m lavis.datasets.prepare <dataset> --input DIR --output DIR`` (or ``lavis-prepare``); the
Python entry point is :func:`prepare_dataset`. See ``mr_BLIP_data/README.md`` for what to download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.prepare import anet, anet_tal, charades, nextgqa, nextqa, qvh
from lavis.datasets.prepare.common import write_prepared

DATASETS = {
    "qvh": qvh,
    "charades_sta": charades,
    "anet": anet,
    "anet_tal": anet_tal,
    "nextqa": nextqa,
    "nextgqa": nextgqa,
}


@dataclass
class PrepareResult:
    dataset: str
    output_dir: Path
    counts: dict[str, int]  # file name -> records
    notes: list[str]


def prepare_dataset(name: str, input_dir: str | Path, output_dir: str | Path, **options: Any) -> PrepareResult:
    """Read one benchmark's official files and write its annotation files (all of them, or none)."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise DataError(f"--input {input_dir} is not a directory")
    module = DATASETS[name]
    prepared = module.prepare(input_dir, **options)
    counts = write_prepared(prepared, Path(output_dir), module.KNOWN_OUTPUTS)
    return PrepareResult(name, Path(output_dir), counts, prepared.notes)
