"""k-means clustering of patch features with FAISS.

:func:`kmeans` wraps ``faiss.Kmeans`` so that nothing is subsampled behind the caller's back
(``max_points_per_centroid`` is raised to ``ceil(N / k)``), the run is seeded, spherical
(cosine) clustering is the default, and a GPU is used when FAISS sees one. Assignment is done
in row chunks, so features may be a float16 memmap; only training needs a float32 copy of the
training rows (pass ``max_train`` to bound it explicitly for very large pools).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_ROW_CHUNK = 65536


@dataclass
class KMeansResult:
    """Output of :func:`kmeans`.

    Attributes:
        centroids: ``(K, D)`` float32 (unit norm when spherical).
        assign: ``(N,)`` int64 index of the nearest centroid of every row.
        dist: ``(N,)`` float32 Euclidean distance of every row to its centroid (measured on the
            L2-normalised rows when spherical).
        k: the number of clusters actually used (``k`` clipped to ``[1, N]``).
        objective: final k-means objective reported by FAISS.
    """

    centroids: np.ndarray
    assign: np.ndarray
    dist: np.ndarray
    k: int
    objective: float


def auto_clusters(n_pool: int, budget: int) -> int:
    """Default number of clusters for a selection budget.

    About ``sqrt(budget)`` clusters (so each cluster quota is about ``sqrt(budget)`` patches),
    clipped to ``[2, 256]`` and never more than the budget or the pool.

    Args:
        n_pool: number of patches in the pool (>= 1).
        budget: number of patches to select (>= 1).

    Returns:
        Cluster count in ``[1, min(256, budget, n_pool)]``.
    """
    if n_pool < 1 or budget < 1:
        raise ValueError(f"auto_clusters: expected n_pool >= 1 and budget >= 1, got {n_pool}, {budget}")
    k = int(round(math.sqrt(budget)))
    k = min(max(k, 2), 256)
    return max(1, min(k, budget, n_pool))


def _normalised(block: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    return block / np.maximum(norms, 1e-12)


def _use_gpu(gpu: str) -> bool:
    import faiss

    if gpu not in ("auto", "on", "off"):
        raise ValueError(f"kmeans: gpu expected one of 'auto', 'on', 'off', got {gpu!r}")
    if gpu == "off":
        return False
    n_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    if gpu == "on" and n_gpus == 0:
        raise ValueError("kmeans: gpu='on' but FAISS sees no GPU (install faiss-gpu or use 'auto')")
    return n_gpus > 0


def kmeans_pp_init(x: np.ndarray, k: int, *, seed: int, trials: int | None = None,
                   chunk: int = _ROW_CHUNK) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007, with the "greedy" trials of
    scikit-learn): each new centre is the best of ``trials`` candidates drawn with probability
    proportional to the squared distance to the nearest centre so far, "best" meaning the
    lowest resulting potential. Memory is ``O(N * trials)`` floats; :func:`kmeans` calls it on a
    bounded sample.

    Args:
        x: ``(N, D)`` float32 rows (already normalised for spherical k-means).
        k: number of centres, ``1 <= k <= N``.
        seed: seeds ``numpy.random.default_rng``.
        trials: candidates per step; default ``2 + floor(ln k)``.
        chunk: rows per chunk.

    Returns:
        ``(k, D)`` float32 initial centroids (rows of ``x``).
    """
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"kmeans_pp_init: expected 1 <= k <= {n}, got {k}")
    rng = np.random.default_rng(seed)
    trials = trials or 2 + int(math.log(k))
    sqn = np.einsum("ij,ij->i", x, x)

    def sq_dist(centres: np.ndarray, s: int, e: int) -> np.ndarray:
        cn = np.einsum("ij,ij->i", centres, centres)
        d2 = sqn[s:e, None] + cn[None, :] - 2.0 * (x[s:e] @ centres.T)
        return np.maximum(d2, 0.0)

    chosen = [int(rng.integers(n))]
    min_d2 = np.empty(n, dtype=np.float32)
    for s in range(0, n, chunk):
        min_d2[s:s + chunk] = sq_dist(x[chosen[0]][None], s, min(s + chunk, n))[:, 0]
    trial_min = np.empty((n, trials), dtype=np.float32)  # min_d2 if each candidate were added
    for _ in range(1, k):
        cdf = np.cumsum(min_d2, dtype=np.float64)
        total = float(cdf[-1])
        if total <= 0.0:  # every row coincides with a centre: take unused rows uniformly
            free = np.setdiff1d(np.arange(n), chosen)
            chosen.append(int(rng.choice(free)))
            continue
        cand = np.minimum(np.searchsorted(cdf, rng.random(trials) * total, side="right"), n - 1)
        centres = np.ascontiguousarray(x[cand], dtype=np.float32)
        for s in range(0, n, chunk):
            e = min(s + chunk, n)
            np.minimum(min_d2[s:e, None], sq_dist(centres, s, e), out=trial_min[s:e])
        best = int(np.argmin(trial_min.sum(0, dtype=np.float64)))
        chosen.append(int(cand[best]))
        min_d2[:] = trial_min[:, best]
    return np.ascontiguousarray(x[chosen], dtype=np.float32)


def kmeans(x: np.ndarray, k: int, *, seed: int, iters: int = 20, spherical: bool = True,
           gpu: str = "auto", nredo: int = 1, max_train: int | None = None,
           init_sample: int = 100_000, chunk: int = _ROW_CHUNK) -> KMeansResult:
    """Seeded k-means of the rows of ``x``: greedy k-means++ seeding, then FAISS Lloyd iterations.

    Args:
        x: ``(N, D)`` features (float32 preferred; float16 / memmap accepted).
        k: number of clusters; clipped to ``[1, N]``.
        seed: seeds the initialisation (restart ``r`` uses ``seed + r``) and ``max_train``.
        iters: Lloyd iterations.
        spherical: L2-normalise rows and keep unit-norm centroids (cosine k-means).
        gpu: ``"auto"`` (GPU when ``faiss.get_num_gpus() > 0``), ``"on"`` (required) or ``"off"``.
        nredo: restarts; the run with the best final objective is kept.
        max_train: train on a seeded random subset of at most this many rows (all rows are still
            assigned). None = train on every row (FAISS never subsamples silently).
        init_sample: the k-means++ seeding looks at a seeded random subset of at most
            ``max(init_sample, 8 * k)`` training rows (Lloyd iterations then use all of them).
        chunk: rows per assignment chunk.

    Returns:
        :class:`KMeansResult`.
    """
    import faiss

    if x.ndim != 2:
        raise ValueError(f"kmeans: expected an (N, D) array, got shape {x.shape}")
    n, dim = x.shape
    if n < 1 or dim < 1:
        raise ValueError(f"kmeans: expected a non-empty (N, D) array, got shape {x.shape}")
    if iters < 1 or nredo < 1:
        raise ValueError(f"kmeans: expected iters >= 1 and nredo >= 1, got {iters}, {nredo}")
    if max_train is not None and max_train < 1:
        raise ValueError(f"kmeans: expected max_train >= 1 or None, got {max_train}")
    k = int(min(max(int(k), 1), n))
    use_gpu = _use_gpu(gpu)

    if max_train is not None and max_train < n:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max(max_train, k), replace=False))
        train = np.ascontiguousarray(x[rows], dtype=np.float32)
    else:
        train = np.ascontiguousarray(x, dtype=np.float32)
    if not np.all(np.isfinite(train)):
        raise ValueError("kmeans: features contain NaN or inf")
    if spherical:
        train = _normalised(train).astype(np.float32, copy=False)
    n_train = train.shape[0]

    best: tuple[float, np.ndarray] | None = None
    for r in range(nredo):
        km = faiss.Kmeans(
            dim, k, niter=int(iters), nredo=1, seed=(int(seed) + r) & 0x7FFFFFFF,
            spherical=bool(spherical), verbose=False, gpu=use_gpu, min_points_per_centroid=1,
            max_points_per_centroid=int(math.ceil(n_train / k)) + 1,  # never subsample
        )
        init_rng = np.random.default_rng(int(seed) + r)
        m = max(int(init_sample), 8 * k)
        pool = train if n_train <= m else train[np.sort(init_rng.choice(n_train, m, replace=False))]
        init = kmeans_pp_init(pool, k, seed=int(seed) + r, chunk=chunk)
        obj = float(km.train(train, init_centroids=init))
        score = -obj if spherical else obj  # spherical: sum of similarities (higher is better)
        if best is None or score < best[0]:
            best = (score, np.ascontiguousarray(km.centroids, dtype=np.float32))
    assert best is not None
    objective = -best[0] if spherical else best[0]
    centroids = best[1]
    del train

    index = faiss.IndexFlatL2(dim)
    if use_gpu:
        index = faiss.index_cpu_to_all_gpus(index)
    index.add(centroids)
    assign = np.empty(n, dtype=np.int64)
    dist = np.empty(n, dtype=np.float32)
    for start in range(0, n, chunk):
        block = np.ascontiguousarray(x[start:start + chunk], dtype=np.float32)
        if spherical:
            block = _normalised(block).astype(np.float32, copy=False)
        d2, ids = index.search(block, 1)
        assign[start:start + block.shape[0]] = ids[:, 0]
        dist[start:start + block.shape[0]] = np.sqrt(np.maximum(d2[:, 0], 0.0))
    return KMeansResult(centroids=centroids, assign=assign, dist=dist, k=k, objective=objective)
