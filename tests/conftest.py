"""Shared fixtures. Real reference data lives in ../shared/data beside the checkout (never committed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LAVIS_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests that need it skip with the reason when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (set LAVIS_SHARED_DATA to its location)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def flan_t5_tokenizer_dir(shared_data: Path) -> Path:
    path = shared_data / "tokenizers" / "flan_t5"
    if not (path / "tokenizer.json").is_file():
        pytest.skip(f"Flan-T5 tokenizer not found at {path}")
    return path


@pytest.fixture(scope="session")
def tiny_mr_checkpoint(tmp_path_factory) -> Path:
    """A tiny Mr. BLIP trained for a few seconds on the CPU demo's synthetic task (config embedded).

    It is too small to be good, but it writes well-formed windows, which is what prediction tests need.
    """
    from lavis.common.config import load_config
    from lavis.runners.launch import run_training

    tmp = tmp_path_factory.mktemp("tiny_mr")
    options = [
        "datasets.synthetic_mr.spec.num_videos={train: 300, val: 2, test: 2}",
        "run.max_epoch=4",
        "run.valid_splits=[]",
        "run.test_splits=[]",
        "run.num_workers=0",
        "run.plot_predictions=0",
        f"run.output_dir={tmp / 'out'}",
        f"paths.cache_root={tmp / 'cache'}",
    ]
    run_training(load_config(REPO_ROOT / "configs" / "demo" / "mr_blip_synthetic.yaml", options))
    return tmp / "out" / "checkpoint_best.pth"  # without validation: the last epoch's weights


@pytest.fixture(scope="session")
def shared_videos(shared_data: Path) -> list[Path]:
    videos = sorted((shared_data / "videos").glob("*.mp4"))
    if not videos:
        pytest.skip(f"no shared clips in {shared_data / 'videos'}")
    return videos
