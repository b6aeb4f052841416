"""Local density of feature points: the distance to the k-th nearest neighbour.

Greedy k-center coverage picks the points farthest from everything chosen so far, which on
image-patch features are mostly the most isolated ones (on the x4 SR and denoising pools of
bench/QUALITY.md 77-89 % of k-center's picks lie in the 10 % of patches with the largest
k-NN radius). :func:`knn_radius` measures that isolation so the selection can keep coverage
inside the typical part of a pool (``select.coverage_trim``).
"""
from __future__ import annotations

import numpy as np

_ROW_CHUNK = 4096


def knn_radius(x: np.ndarray, k: int = 10, max_ref: int = 4096) -> np.ndarray:
    """Euclidean distance from every row of ``x`` to its ``k``-th nearest neighbour.

    The neighbours are searched among a reference set: all rows when ``N <= max_ref``, else
    ``max_ref`` rows evenly spaced over the array (deterministic; no RNG). A row's own copy in
    the reference set is not counted as a neighbour when the reference set is all rows.

    Args:
        x: ``(N, D)`` float rows (e.g. L2-normalised features).
        k: neighbour rank (>= 1).
        max_ref: largest reference set (>= ``k + 1``).

    Returns:
        ``(N,)`` float32 radii (larger = more isolated).
    """
    if x.ndim != 2:
        raise ValueError(f"knn_radius: expected an (N, D) array, got shape {x.shape}")
    if k < 1:
        raise ValueError(f"knn_radius: expected k >= 1, got {k}")
    if max_ref < k + 1:
        raise ValueError(f"knn_radius: expected max_ref >= k + 1 = {k + 1}, got {max_ref}")
    n = x.shape[0]
    out = np.zeros(n, np.float32)
    if n < 2:
        return out
    everything = n <= max_ref
    ref = x if everything else x[np.linspace(0, n - 1, max_ref).round().astype(np.int64)]
    ref = np.ascontiguousarray(ref, dtype=np.float32)
    rn = np.einsum("ij,ij->i", ref, ref)
    # with every row in the reference set, position 0 of the sorted distances is the row itself
    kth = min(k + 1 if everything else k, ref.shape[0]) - 1
    for s in range(0, n, _ROW_CHUNK):
        block = np.ascontiguousarray(x[s:s + _ROW_CHUNK], dtype=np.float32)
        d2 = np.einsum("ij,ij->i", block, block)[:, None] + rn[None, :] - 2.0 * (block @ ref.T)
        if everything:
            d2[np.arange(block.shape[0]), np.arange(s, s + block.shape[0])] = 0.0
        np.maximum(d2, 0.0, out=d2)
        out[s:s + block.shape[0]] = np.sqrt(np.partition(d2, kth, axis=1)[:, kth])
    return out


def typical_mask(radius: np.ndarray, trim: float) -> np.ndarray:
    """Rows kept when the fraction ``trim`` with the largest radii is dropped.

    Args:
        radius: ``(N,)`` k-NN radii from :func:`knn_radius`.
        trim: fraction in ``[0, 1)`` of rows to drop (``round(trim * N)``, half up; at equal
            radii the lower index is kept).

    Returns:
        ``(N,)`` bool, True for the kept (typical) rows.
    """
    if not 0.0 <= trim < 1.0:
        raise ValueError(f"select.coverage_trim: expected a fraction in [0, 1), got {trim}")
    n = radius.shape[0]
    drop = min(int(np.floor(trim * n + 0.5)), n - 1) if n else 0
    keep = np.ones(n, bool)
    if drop:
        order = np.lexsort((np.arange(n), radius))  # ascending radius, ties: lower index first
        keep[order[n - drop:]] = False
    return keep
