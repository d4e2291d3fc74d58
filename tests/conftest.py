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
