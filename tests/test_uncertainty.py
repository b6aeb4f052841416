"""Uncertainty scores on hand-made point sets."""
from __future__ import annotations

import numpy as np
import pytest

from tripled_fast.scoring.uncertainty import centroid_uncertainty, cluster_medians, knn_uncertainty


def test_cluster_medians_odd_and_even() -> None:
    values = np.array([5.0, 1.0, 3.0, 10.0, 2.0, 4.0, 8.0])
    assign = np.array([0, 0, 0, 1, 1, 1, 1])
    # cluster 0: median of {5, 1, 3} = 3; cluster 1: median of {10, 2, 4, 8} = (4 + 8) / 2 = 6
    np.testing.assert_array_equal(cluster_medians(values, assign), [3, 3, 3, 6, 6, 6, 6])


def test_centroid_uncertainty_hand_made() -> None:
    centroids = np.array([[0.0, 0.0], [10.0, 0.0]], np.float32)
    # cluster 0 distances 1, 1, 2 (median 1); cluster 1 distances 2, 4, 6 (median 4)
    pts = np.array([[1, 0], [0, -1], [0, 2], [8, 0], [10, 4], [16, 0]], np.float32)
    assign = np.array([0, 0, 0, 1, 1, 1])
    # ratios [1, 1, 2, .5, 1, 1.5] -> average ranks [3, 3, 6, 1, 3, 5] -> (r - 1) / 5
    out = centroid_uncertainty(pts, centroids, assign, normalize=False)
    np.testing.assert_allclose(out, [0.4, 0.4, 1.0, 0.0, 0.4, 0.8], atol=1e-7)
    # chunked and float16 input give the same ranks
    np.testing.assert_array_equal(
        centroid_uncertainty(pts.astype(np.float16), centroids, assign, normalize=False, chunk=4), out)


def test_centroid_uncertainty_normalize_is_scale_invariant() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)).astype(np.float32)
    c = rng.normal(size=(3, 6)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    assign = rng.integers(0, 3, size=200)
    scaled = x * rng.uniform(0.1, 10.0, size=(200, 1)).astype(np.float32)
    a = centroid_uncertainty(x, c, assign)
    b = centroid_uncertainty(scaled, c, assign)
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(ValueError, match="assign values"):
        centroid_uncertainty(x, c, np.full(200, 3))


def test_knn_uncertainty_on_a_line() -> None:
    pts = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]], np.float32)
    # k=1: nearest distances 1, 1, 1, 1, 7
    np.testing.assert_allclose(knn_uncertainty(pts, 1, normalize=False),
                               [0.375, 0.375, 0.375, 0.375, 1.0], atol=1e-7)
    # k=2: mean distances 1.5, 1, 1, 1.5, 7.5
    np.testing.assert_allclose(knn_uncertainty(pts, 2, normalize=False),
                               [0.625, 0.125, 0.125, 0.625, 1.0], atol=1e-7)


def test_knn_uncertainty_self_is_not_a_neighbour_but_duplicates_are() -> None:
    pts = np.array([[0.0, 0.0], [0.0, 0.0], [5.0, 0.0]], np.float32)
    # nearest other point: 0, 0, 5
    np.testing.assert_allclose(knn_uncertainty(pts, 1, normalize=False), [0.25, 0.25, 1.0])
    # k larger than the pool is clipped to N - 1 = 2: means (0 + 5) / 2, 2.5, 5
    np.testing.assert_allclose(knn_uncertainty(pts, 10, normalize=False), [0.25, 0.25, 1.0])


def test_knn_uncertainty_sampled_index() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 4)).astype(np.float32)
    x[17] = 40.0  # an isolated point
    full = knn_uncertainty(x, 5, normalize=False)
    same = knn_uncertainty(x, 5, normalize=False, sample=300)
    np.testing.assert_array_equal(full, same)
    sub = knn_uncertainty(x, 5, normalize=False, sample=120, seed=3)
    assert sub[17] == 1.0 and full[17] == 1.0
    # density against a sample stays strongly rank-correlated with the exact one
    assert np.corrcoef(sub, full)[0, 1] > 0.8
