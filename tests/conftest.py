"""Shared test fixtures: paths to the real benchmark data beside the project (skip when absent)."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
WEIGHTS = SHARED / "weights"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"real benchmark data not found at {DATA}")
    return DATA


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    if not WEIGHTS.is_dir():
        pytest.skip(f"pretrained weights not found at {WEIGHTS}")
    return WEIGHTS
