"""Official benchmark downloads → the framework's annotation files, plus video checks and shards.

``python -m lavis.datasets.prepare <dataset> --input DIR --output DIR`` (or ``lavis-prepare``); the
Python entry point is :func:`prepare_dataset`. See ``mr_BLIP_data/README.md`` for what to download.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lavis.common.errors import DataError
from lavis.datasets.prepare import (
    anet,
    anet_tal,
    breakfast,
    captions,
    charades,
    coin,
    lvu,
    nextgqa,
    nextqa,
    qvh,
    star,
    tvqa,
    unav100,
    videoqa,
    vlep,
)
from lavis.datasets.prepare.common import DatasetSpec, write_prepared


def _spec(module) -> DatasetSpec:
    return DatasetSpec(module.prepare, module.KNOWN_OUTPUTS)


DATASETS: dict[str, DatasetSpec] = {
    # moment retrieval, temporal action localisation, multiple-choice QA (Mr. BLIP, CALCE, SMS)
    "qvh": _spec(qvh),
    "charades_sta": _spec(charades),
    "anet": _spec(anet),
    "anet_tal": _spec(anet_tal),
    "unav100": _spec(unav100),
    "nextqa": _spec(nextqa),
    "nextgqa": _spec(nextgqa),
    # MA-LMM: long-video classification, open-ended QA, captioning (frame folders at 10 fps)
    "lvu": _spec(lvu),
    "breakfast": _spec(breakfast),
    "coin": _spec(coin),
    "msrvtt_qa": videoqa.MSRVTT_QA,
    "msvd_qa": videoqa.MSVD_QA,
    "activitynet_qa": videoqa.ACTIVITYNET_QA,
    "msrvtt_caption": captions.MSRVTT_CAPTION,
    "msvd_caption": captions.MSVD_CAPTION,
    "youcook2": captions.YOUCOOK2,
    # SeViLA: multiple-choice QA with clip windows
    "star": _spec(star),
    "how2qa": tvqa.HOW2QA,
    "tvqa": tvqa.TVQA,
    "vlep": _spec(vlep),
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
    spec = DATASETS[name]
    prepared = spec.prepare(input_dir, **options)
    counts = write_prepared(prepared, Path(output_dir), spec.known_outputs)
    return PrepareResult(name, Path(output_dir), counts, prepared.notes)
