"""FAISS k-means wrapper: blob recovery, no silent subsampling, determinism, auto cluster count."""
from __future__ import annotations

import faiss
import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from tripled_fast.select.cluster import auto_clusters, kmeans, kmeans_pp_init

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


def _blobs(n_per: int, k: int, d: int, seed: int, spread: float = 0.05):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(k), n_per)
    x = centres[labels] * 10.0 + rng.normal(scale=10.0 * spread, size=(k * n_per, d))
    perm = rng.permutation(labels.size)
    return x[perm].astype(np.float32), labels[perm]


@pytest.mark.parametrize("spherical", [True, False])
def test_blobs_recovered_exactly(spherical: bool) -> None:
    x, labels = _blobs(300, 6, 16, seed=0)
    res = kmeans(x, 6, seed=1, spherical=spherical)
    assert adjusted_rand_score(labels, res.assign) == 1.0
    assert res.assign.dtype == np.int64 and res.assign.shape == (x.shape[0],)
    assert res.dist.dtype == np.float32 and res.centroids.shape == (6, 16)
    assert set(np.unique(res.assign)) == set(range(6))
    # dist is the distance of each (normalised when spherical) row to its own centroid
    rows = x / np.linalg.norm(x, axis=1, keepdims=True) if spherical else x
    expected = np.linalg.norm(rows - res.centroids[res.assign], axis=1)
    np.testing.assert_allclose(res.dist, expected, rtol=1e-4, atol=1e-4)
    # and that centroid is the nearest one
    all_d = np.linalg.norm(rows[:, None, :] - res.centroids[None], axis=2)
    np.testing.assert_array_equal(res.assign, all_d.argmin(1))


def test_blobs_recovered_for_every_seed() -> None:
    # plain (non-greedy) k-means++ or random seeding leaves two centres in one blob for some seeds
    x, labels = _blobs(50, 8, 12, seed=10, spread=0.03)
    for seed in range(12):
        assert adjusted_rand_score(labels, kmeans(x, 8, seed=seed).assign) == 1.0, seed


def test_kmeans_pp_init_one_seed_per_blob() -> None:
    x, labels = _blobs(40, 5, 6, seed=11, spread=0.02)
    row_of = {tuple(r): i for i, r in enumerate(x.tolist())}
    init = kmeans_pp_init(x, 5, seed=0)
    picked = [row_of[tuple(r)] for r in init.tolist()]   # the seeds are rows of x ...
    assert sorted(labels[picked].tolist()) == [0, 1, 2, 3, 4]  # ... one in every blob
    np.testing.assert_array_equal(init, kmeans_pp_init(x, 5, seed=0))
    dup = np.repeat(x[:1], 6, axis=0)                      # all rows equal: still k distinct rows
    assert kmeans_pp_init(dup, 4, seed=0).shape == (4, 6)
    with pytest.raises(ValueError, match="1 <= k"):
        kmeans_pp_init(x, 0, seed=0)


def test_no_silent_subsampling() -> None:
    # 2 clusters of 2000 points: FAISS' default (256 points per centroid) would train on 512
    # points only, and the centroids would miss the cluster means by ~spread / sqrt(256).
    x, _ = _blobs(2000, 2, 8, seed=2, spread=0.3)
    res = kmeans(x, 2, seed=0, iters=30, spherical=False)
    for c in range(2):
        np.testing.assert_allclose(res.centroids[c], x[res.assign == c].mean(0), atol=2e-4)


def test_deterministic_by_seed_and_k_clipped() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(700, 12)).astype(np.float32)
    a = kmeans(x, 9, seed=5)
    b = kmeans(x, 9, seed=5)
    np.testing.assert_array_equal(a.assign, b.assign)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    c = kmeans(x, 9, seed=6)
    assert not np.array_equal(a.centroids, c.centroids)
    small = kmeans(x[:5], 50, seed=0)
    assert small.k == 5 and sorted(small.assign.tolist()) == [0, 1, 2, 3, 4]
    assert kmeans(x[:10], 0, seed=0).k == 1


def test_float16_chunked_and_max_train() -> None:
    x, labels = _blobs(200, 4, 8, seed=4)
    res = kmeans(x.astype(np.float16), 4, seed=0, chunk=97, max_train=300)
    assert res.assign.shape == (800,)
    assert adjusted_rand_score(labels, res.assign) == 1.0


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="gpu"):
        kmeans(np.zeros((4, 2), np.float32), 2, seed=0, gpu="yes")
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        kmeans(np.zeros(4, np.float32), 2, seed=0)
    if faiss.get_num_gpus() == 0:
        with pytest.raises(ValueError, match="no GPU"):
            kmeans(np.ones((4, 2), np.float32), 2, seed=0, gpu="on")


def test_auto_clusters() -> None:
    assert auto_clusters(10_000, 200) == 14       # round(sqrt(200))
    assert auto_clusters(10_000, 3) == 2          # at least 2 ...
    assert auto_clusters(10_000, 1) == 1          # ... but never more than the budget
    assert auto_clusters(10**7, 200_000) == 256   # at most 256
    assert auto_clusters(1, 1) == 1
    with pytest.raises(ValueError):
        auto_clusters(0, 1)
