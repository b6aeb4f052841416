"""k-NN radius and the typical-row mask behind ``select.coverage_trim``."""
from __future__ import annotations

import numpy as np
import pytest

from tripled_fast.select.density import knn_radius, typical_mask


def _brute(x: np.ndarray, ref: np.ndarray, k: int, exclude_self: bool) -> np.ndarray:
    d = np.sqrt(((x[:, None, :].astype(np.float64) - ref[None].astype(np.float64)) ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def test_knn_radius_matches_brute_force_with_every_row_as_reference() -> None:
    x = np.random.default_rng(0).normal(size=(300, 6)).astype(np.float32)
    for k in (1, 3, 10):
        got = knn_radius(x, k=k, max_ref=300)
        np.testing.assert_allclose(got, _brute(x, x, k, exclude_self=True), rtol=1e-4, atol=1e-4)


def test_knn_radius_against_an_evenly_spaced_reference_sample() -> None:
    x = np.random.default_rng(1).normal(size=(500, 4)).astype(np.float32)
    ref = x[np.linspace(0, 499, 64).round().astype(np.int64)]
    got = knn_radius(x, k=5, max_ref=64)
    # a reference row's distance to itself (0) counts as its first neighbour here
    np.testing.assert_allclose(got, _brute(x, ref, 5, exclude_self=False), rtol=1e-4, atol=1e-4)


def test_knn_radius_ranks_an_isolated_point_last() -> None:
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(scale=0.1, size=(50, 3)), [[5.0, 5.0, 5.0]]]).astype(np.float32)
    r = knn_radius(x, k=3)
    assert int(np.argmax(r)) == 50 and r[50] > 8.0 > r[:50].max()


def test_typical_mask_drops_the_largest_radii_half_up_ties_by_index() -> None:
    r = np.array([0.1, 0.9, 0.5, 0.9, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8], np.float32)
    assert typical_mask(r, 0.0).all()
    assert np.flatnonzero(~typical_mask(r, 0.2)).tolist() == [1, 3]
    assert np.flatnonzero(~typical_mask(r, 0.25)).tolist() == [1, 3, 9]   # 2.5 -> 3 (half up)
    assert np.flatnonzero(~typical_mask(r, 0.1)).tolist() == [3]           # tie at 0.9: index 1 kept
    assert typical_mask(r, 0.99).sum() == 1                                # one row always stays
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="coverage_trim"):
            typical_mask(r, bad)


def test_knn_radius_rejects_bad_arguments() -> None:
    x = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match="k >= 1"):
        knn_radius(x, k=0)
    with pytest.raises(ValueError, match="max_ref"):
        knn_radius(x, k=4, max_ref=4)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        knn_radius(np.zeros(5, np.float32))
    assert knn_radius(x[:1]).tolist() == [0.0]
