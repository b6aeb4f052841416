"""Fixtures of the stage benchmarks (``pytest bench --benchmark-only``).

The benchmarks read RealSR images from ``../shared/data`` (skipped when absent) and are not
part of the normal test run (``testpaths = ["tests"]``).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(HERE))  # bench/naive.py


@pytest.fixture(scope="session")
def realsr_files() -> list[Path]:
    files = sorted((DATA / "realsr" / "HR").glob("*.png"))
    if not files:
        pytest.skip(f"real benchmark data not found at {DATA / 'realsr' / 'HR'}")
    return files


@pytest.fixture(scope="session")
def realsr_image(realsr_files: list[Path]) -> np.ndarray:
    from tripled_fast.data.decode import decode_image

    return decode_image(realsr_files[0])


@pytest.fixture(scope="session")
def image_tiles(realsr_image: np.ndarray) -> np.ndarray:
    from tripled_fast.data.tiles import tile_grid

    return np.asarray(tile_grid(realsr_image.shape[0], realsr_image.shape[1], 64, 32))


@pytest.fixture(scope="session")
def realsr_patches(realsr_image: np.ndarray, image_tiles: np.ndarray) -> np.ndarray:
    """32 evenly spaced 64 x 64 RGB patches of the first RealSR image."""
    idx = np.linspace(0, len(image_tiles) - 1, 32).round().astype(int)
    return np.stack([realsr_image[y:y + 64, x:x + 64] for y, x in image_tiles[idx]])


def pytest_report_header(config: pytest.Config) -> str:
    return f"bench: load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cores"
