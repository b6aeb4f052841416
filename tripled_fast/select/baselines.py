"""Reference subset selectors the distilled subset is compared against.

Every function returns a sorted ``int64`` array of ``k`` distinct row indices.
"""
from __future__ import annotations

import numpy as np

from tripled_fast.select.cluster import kmeans
from tripled_fast.select.kcenter import kcenter_greedy


def _check_k(k: int, n: int, who: str) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"{who}: expected 1 <= k <= {n} (pool size), got k={k}")


def random_subset(n: int, k: int, seed: int) -> np.ndarray:
    """``k`` distinct indices of ``range(n)`` drawn uniformly with ``numpy.random.default_rng(seed)``."""
    _check_k(k, n, "random_subset")
    return np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False)).astype(np.int64)


def kmeans_representatives(features: np.ndarray, k: int, seed: int, *, iters: int = 20,
                           spherical: bool = True) -> np.ndarray:
    """The patch nearest each of ``k`` k-means centroids (DC-BENCH's "k-means" coreset).

    Each cluster contributes its member closest to its centroid; if FAISS leaves clusters empty,
    the shortfall is filled with the second-closest member of each cluster (closest first), and
    so on, so exactly ``k`` distinct patches come back.

    Args:
        features: ``(N, D)`` features.
        k: subset size.
        seed: k-means seed.
    """
    n = features.shape[0]
    _check_k(k, n, "kmeans_representatives")
    res = kmeans(features, k, seed=seed, iters=iters, spherical=spherical)
    order = np.lexsort((res.dist, res.assign))
    sorted_assign = res.assign[order]
    starts = np.flatnonzero(np.r_[True, sorted_assign[1:] != sorted_assign[:-1]])
    counts = np.diff(np.r_[starts, n])
    rank_in_cluster = np.arange(n) - np.repeat(starts, counts)
    pick_order = np.lexsort((order, res.dist[order], rank_in_cluster))
    return np.sort(order[pick_order[:k]]).astype(np.int64)


def kcenter_subset(features: np.ndarray, k: int, seed: int, *, spherical: bool = True,
                   backend: str = "auto") -> np.ndarray:
    """Greedy k-center coverage of the whole pool (Sener & Savarese's core-set), first centre
    nearest the mean; on L2-normalised features when ``spherical`` (a float32 copy is made)."""
    n = features.shape[0]
    _check_k(k, n, "kcenter_subset")
    x = np.asarray(features, dtype=np.float32)
    if spherical:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.sort(kcenter_greedy(x, k, seed=seed, backend=backend)).astype(np.int64)


def topk_complexity(complexity: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` patches with the highest complexity (ties: lowest index)."""
    c = np.asarray(complexity, dtype=np.float64)
    if c.ndim != 1:
        raise ValueError(f"topk_complexity: expected a 1-D array, got shape {c.shape}")
    _check_k(k, c.shape[0], "topk_complexity")
    order = np.lexsort((np.arange(c.shape[0]), -c))
    return np.sort(order[:k]).astype(np.int64)
