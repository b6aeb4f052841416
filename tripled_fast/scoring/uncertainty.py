"""Per-patch uncertainty (atypicality) scores in feature space, as percentile ranks.

* :func:`centroid_uncertainty` -- distance to the patch's own cluster centroid relative to the
  median distance in that cluster (a patch far out in its cluster is atypical).
* :func:`knn_uncertainty` -- mean distance to the ``k`` nearest neighbours (low local density =
  high uncertainty), with FAISS exact search.

Both work in row chunks and keep only ``O(N)`` extra memory (plus the FAISS index for kNN).
"""
from __future__ import annotations

import numpy as np

from tripled_fast.scoring.complexity import percentile_rank

_ROW_CHUNK = 65536


def _rows_f32(features: np.ndarray, start: int, stop: int, normalize: bool) -> np.ndarray:
    block = np.ascontiguousarray(features[start:stop], dtype=np.float32)
    if normalize:
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        block = block / np.maximum(norms, 1e-12)
    return block


def cluster_medians(values: np.ndarray, assign: np.ndarray) -> np.ndarray:
    """Median of ``values`` within each cluster, broadcast back to the rows.

    Args:
        values: ``(N,)`` numbers.
        assign: ``(N,)`` integer cluster ids.

    Returns:
        ``(N,)`` float64: row ``i`` holds the median of ``values`` over its cluster
        (mean of the two middle values for even cluster sizes).
    """
    order = np.lexsort((values, assign))
    sorted_assign = assign[order]
    sorted_vals = values[order].astype(np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_assign[1:] != sorted_assign[:-1]])
    counts = np.diff(np.r_[starts, sorted_assign.shape[0]])
    med = 0.5 * (sorted_vals[starts + (counts - 1) // 2] + sorted_vals[starts + counts // 2])
    out = np.empty(values.shape[0], dtype=np.float64)
    out[order] = np.repeat(med, counts)
    return out


def centroid_uncertainty(features: np.ndarray, centroids: np.ndarray, assign: np.ndarray, *,
                         normalize: bool = True, chunk: int = _ROW_CHUNK) -> np.ndarray:
    """Distance to the own centroid divided by the cluster's median distance, rank-normalised.

    Args:
        features: ``(N, D)`` features (float16/float32, memmap allowed).
        centroids: ``(K, D)`` centroids in the space the clustering used.
        assign: ``(N,)`` cluster index of each row, in ``[0, K)``.
        normalize: L2-normalise feature rows first (use True for spherical k-means, the
            :func:`tripled_fast.select.cluster.kmeans` default, whose centroids live on the sphere).
        chunk: rows per chunk.

    Returns:
        ``(N,)`` float32 percentile ranks in ``[0, 1]``; 1 = farthest out relative to its cluster.
        Rows of a cluster whose median distance is 0 get ratio 0 (at the centroid) or a large
        ratio (elsewhere).
    """
    if features.ndim != 2:
        raise ValueError(f"centroid_uncertainty: expected (N, D) features, got {features.shape}")
    n, dim = features.shape
    centroids = np.ascontiguousarray(centroids, dtype=np.float32)
    if centroids.ndim != 2 or centroids.shape[1] != dim:
        raise ValueError(
            f"centroid_uncertainty: centroids expected shape (K, {dim}), got {centroids.shape}"
        )
    assign = np.asarray(assign)
    if assign.shape != (n,) or not np.issubdtype(assign.dtype, np.integer):
        raise ValueError(f"centroid_uncertainty: assign expected int array of shape ({n},)")
    if n and (assign.min() < 0 or assign.max() >= centroids.shape[0]):
        raise ValueError(
            f"centroid_uncertainty: assign values expected in [0, {centroids.shape[0]}),"
            f" got [{assign.min()}, {assign.max()}]"
        )
    dist = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        block = _rows_f32(features, start, start + chunk, normalize)
        diff = block - centroids[assign[start:start + block.shape[0]]]
        dist[start:start + block.shape[0]] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    med = cluster_medians(dist, assign)
    ratio = dist / np.maximum(med, 1e-12)
    return percentile_rank(ratio)


def knn_uncertainty(features: np.ndarray, k: int = 10, *, normalize: bool = True,
                    sample: int | None = None, seed: int = 0,
                    chunk: int = _ROW_CHUNK) -> np.ndarray:
    """Mean Euclidean distance to the ``k`` nearest other patches, rank-normalised.

    Uses an exact FAISS ``IndexFlatL2``. A patch never counts as its own neighbour (its own row
    is removed by index, so exact duplicates of it still count at distance 0).

    Args:
        features: ``(N, D)`` features (float16/float32, memmap allowed).
        k: neighbours per patch, ``1 <= k``; clipped to the number of other indexed patches.
        normalize: L2-normalise rows first (cosine geometry, like the clustering).
        sample: index only a seeded random subset of this many rows (density estimated against a
            sample; needed for very large pools, since exact search is quadratic). None = all rows.
        seed: seeds the subset when ``sample`` is given.
        chunk: query rows per FAISS search call.

    Returns:
        ``(N,)`` float32 percentile ranks in ``[0, 1]``; 1 = lowest local density.
    """
    import faiss

    if features.ndim != 2:
        raise ValueError(f"knn_uncertainty: expected (N, D) features, got {features.shape}")
    n, dim = features.shape
    if k < 1:
        raise ValueError(f"knn_uncertainty: expected k >= 1, got {k}")
    if n < 2:
        raise ValueError(f"knn_uncertainty: expected at least 2 rows, got {n}")
    if sample is not None and sample < 2:
        raise ValueError(f"knn_uncertainty: expected sample >= 2 or None, got {sample}")

    if sample is None or sample >= n:
        indexed = np.arange(n, dtype=np.int64)
    else:
        indexed = np.sort(np.random.default_rng(seed).choice(n, size=sample, replace=False))
    # position of each row inside the index (-1 = not indexed), to drop self matches
    pos = np.full(n, -1, dtype=np.int64)
    pos[indexed] = np.arange(indexed.shape[0])
    kk = min(k, indexed.shape[0] - 1)

    index = faiss.IndexFlatL2(dim)
    for start in range(0, indexed.shape[0], chunk):
        rows = indexed[start:start + chunk]
        block = np.ascontiguousarray(features[rows], dtype=np.float32)
        if normalize:
            block /= np.maximum(np.linalg.norm(block, axis=1, keepdims=True), 1e-12)
        index.add(block)

    search_k = min(kk + 1, indexed.shape[0])
    mean_dist = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        block = _rows_f32(features, start, start + chunk, normalize)
        d2, ids = index.search(block, search_k)
        self_pos = pos[start:start + block.shape[0], None]
        is_self = ids == self_pos
        # keep the first kk non-self neighbours of each row
        keep = ~is_self & (np.cumsum(~is_self, axis=1) <= kk)
        d = np.sqrt(np.maximum(d2.astype(np.float64), 0.0))
        mean_dist[start:start + block.shape[0]] = (d * keep).sum(1) / kk
    return percentile_rank(mean_dist)
