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


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for tests of tiny networks: on a shared 2-core box, OpenMP
    spin-waiting made them several times slower and 2 threads gain nothing. Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def one_faiss_thread():
    """One FAISS OpenMP thread for small clustering tests (same reason); restored afterwards."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)
