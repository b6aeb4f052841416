"""Greedy k-center: brute-force parity, 2-approximation, O(N) memory, options."""
from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tripled_fast.select.kcenter import kcenter_greedy

ROOT = Path(__file__).resolve().parents[1]


def _brute_force(x: np.ndarray, k: int, initial=(), candidates=None, groups=None, room=None) -> list[int]:
    """Reference: full float64 distance matrix, farthest-first, lowest index on ties; with
    ``groups`` / ``room``, rows of a group whose room is used up are passed over."""
    x = x.astype(np.float64)
    n = x.shape[0]
    cand = np.arange(n) if candidates is None else np.sort(np.asarray(candidates))
    left = None if room is None else np.array(room)
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    centres = list(initial)
    picks: list[int] = []

    def allowed() -> np.ndarray:
        return np.ones(cand.size, bool) if left is None else left[groups[cand]] > 0

    if not centres:
        mean = x[cand].mean(0)
        first = int(cand[np.argmin(((x[cand] - mean) ** 2).sum(1))])
        if left is not None and left[groups[first]] == 0:  # then the lowest allowed index
            first = int(cand[np.flatnonzero(allowed())[0]])
        centres.append(first)
        picks.append(first)
        if left is not None:
            left[groups[first]] -= 1
    while len(picks) < k:
        mind = d[np.ix_(cand, centres)].min(1) if centres else np.full(cand.size, np.inf)
        mind[np.isin(cand, centres) | ~allowed()] = -1
        if mind.max() < 0:
            break
        nxt = int(cand[np.argmax(mind)])
        centres.append(nxt)
        picks.append(nxt)
        if left is not None:
            left[groups[nxt]] -= 1
    return picks


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.usefixtures("one_torch_thread")
def test_matches_brute_force(backend: str) -> None:
    for seed in range(5):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(80, 6)).astype(np.float32)
        got = kcenter_greedy(x, 15, seed=0, backend=backend, chunk=17)
        assert got.tolist() == _brute_force(x, 15)
        init = rng.choice(80, size=4, replace=False)
        got = kcenter_greedy(x, 10, seed=0, initial=init, backend=backend, chunk=17)
        assert got.tolist() == _brute_force(x, 10, initial=init.tolist())
        cand = rng.choice(80, size=40, replace=False)
        got = kcenter_greedy(x, 12, seed=0, initial=init, candidates=cand, backend=backend, chunk=9)
        assert got.tolist() == _brute_force(x, 12, initial=init.tolist(), candidates=cand)
        assert set(got) <= set(cand.tolist()) and not set(got) & set(init.tolist())


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.usefixtures("one_torch_thread")
def test_group_room_caps_the_picks_per_group(backend: str) -> None:
    for seed in range(4):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(90, 5)).astype(np.float32)
        groups = rng.integers(0, 4, size=90)
        room = np.array([3, 0, 4, 2])
        got = kcenter_greedy(x, 9, seed=0, backend=backend, chunk=13, groups=groups, room=room)
        assert got.tolist() == _brute_force(x, 9, groups=groups, room=room)
        assert np.array_equal(np.bincount(groups[got], minlength=4), room)  # room sums to k: all used
        # with initial centres and candidates; the room runs out before k: fewer picks
        init = rng.choice(90, size=3, replace=False)
        cand = rng.choice(90, size=50, replace=False)
        small = np.array([1, 2, 0, 1])
        got = kcenter_greedy(x, 8, seed=0, initial=init, candidates=cand, backend=backend,
                             groups=groups, room=small)
        assert got.tolist() == _brute_force(x, 8, initial=init.tolist(), candidates=cand, groups=groups, room=small)
        assert got.size <= 4 and (np.bincount(groups[got], minlength=4) <= small).all()
        # room that never binds: plain greedy
        plain = kcenter_greedy(x, 9, seed=0, backend=backend)
        wide = kcenter_greedy(x, 9, seed=0, backend=backend, groups=groups, room=np.full(4, 9))
        assert wide.tolist() == plain.tolist()
    with pytest.raises(ValueError, match="groups and room"):
        kcenter_greedy(x, 2, seed=0, groups=groups)
    with pytest.raises(ValueError, match="room expected"):
        kcenter_greedy(x, 2, seed=0, groups=groups, room=np.array([1, 1]))
    with pytest.raises(ValueError, match="groups expected"):
        kcenter_greedy(x, 2, seed=0, groups=groups[:10], room=room)


def test_ties_lowest_index_and_duplicates() -> None:
    # a square's corners are all equally far from the first centre (the centre point, index 4)
    x = np.array([[1, 1], [-1, 1], [1, -1], [-1, -1], [0, 0]], np.float32)
    assert kcenter_greedy(x, 2, seed=0, backend="numpy").tolist() == [4, 0]
    # duplicates: pairs of equal rows; stop_radius stops once only duplicates remain
    rng = np.random.default_rng(0)
    base = rng.normal(size=(20, 5)).astype(np.float32)
    dup = np.concatenate([base, base])
    picks = kcenter_greedy(dup, 40, seed=0, stop_radius=1e-3, backend="numpy")
    assert picks.size == 20 and len({i % 20 for i in picks.tolist()}) == 20
    # without stop_radius all 40 are picked, each exactly once
    assert sorted(kcenter_greedy(dup, 40, seed=0, backend="numpy").tolist()) == list(range(40))


def test_covering_radius_within_twice_optimum() -> None:
    for seed in range(6):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(12, 2)) * rng.uniform(0.5, 3.0, size=(1, 2))
        d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
        k = 3
        opt = min(d[:, list(c)].min(1).max() for c in itertools.combinations(range(12), k))
        picks = kcenter_greedy(x.astype(np.float32), k, seed=0, backend="numpy")
        greedy = d[:, picks].min(1).max()
        assert opt <= greedy + 1e-9
        assert greedy <= 2.0 * opt + 1e-6


def test_memory_is_linear_in_n() -> None:
    n, d = 200_000, 64
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    peaks = {}
    for k in (15, 60):
        tracemalloc.start()
        picks = kcenter_greedy(x, k, seed=0, backend="numpy")
        peaks[k] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert picks.size == k and np.unique(picks).size == k
    # a few length-N float32 vectors plus chunk temporaries, independent of k: an N x k float32
    # distance matrix would be 48 MB for k = 60
    assert peaks[60] < n * 60 * 4 / 10, f"peak extra memory {peaks[60] / 1e6:.1f} MB"
    assert peaks[60] < 1.1 * peaks[15] + 100_000, peaks


def test_start_random_and_errors() -> None:
    x = np.random.default_rng(1).normal(size=(50, 3)).astype(np.float32)
    a = kcenter_greedy(x, 5, seed=7, start="random", backend="numpy")
    b = kcenter_greedy(x, 5, seed=7, start="random", backend="numpy")
    assert a.tolist() == b.tolist()
    assert a[0] == np.random.default_rng(7).integers(50)
    assert kcenter_greedy(x, 0, seed=0).size == 0
    with pytest.raises(ValueError, match="only 3 candidates"):
        kcenter_greedy(x, 4, seed=0, candidates=[1, 2, 3, 4], initial=[4])
    with pytest.raises(ValueError, match="backend"):
        kcenter_greedy(x, 2, seed=0, backend="cuda")


@pytest.mark.slow  # a fresh interpreter importing torch + triton: ~5-15 s on the shared machine
@pytest.mark.skipif(importlib.util.find_spec("tripled_fast.kernels.kcenter") is None,
                    reason="tripled_fast.kernels.kcenter (Triton update kernel) not present")
def test_triton_backend_matches_numpy_under_interpreter() -> None:
    code = (
        "import numpy as np\n"
        "from tripled_fast.select.kcenter import kcenter_greedy\n"
        "x = np.random.default_rng(0).normal(size=(300, 16)).astype(np.float32)\n"
        "a = kcenter_greedy(x, 12, seed=0, backend='numpy', initial=[5, 9])\n"
        "b = kcenter_greedy(x, 12, seed=0, backend='triton', initial=[5, 9])\n"
        "assert a.tolist() == b.tolist(), (a, b)\n"
        # per-group room (select.image_cap): closing a full group indexes the device tensor
        "g = np.arange(300) % 5\n"
        "r = np.array([3, 0, 4, 2, 3])\n"
        "a = kcenter_greedy(x, 12, seed=0, backend='numpy', groups=g, room=r)\n"
        "b = kcenter_greedy(x, 12, seed=0, backend='triton', groups=g, room=r)\n"
        "assert a.tolist() == b.tolist(), (a, b)\n"
        "assert np.bincount(g[b], minlength=5).tolist() == r.tolist()\n"
    )
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
