"""Kernel herding: brute-force MMD parity, density-following picks, options, errors."""
from __future__ import annotations

import numpy as np
import pytest

from tripled_fast.config import SelectConfig
from tripled_fast.select.budget import resolve_budget, select_subset
from tripled_fast.select.herding import herding_greedy, kernel_density, median_bandwidth
from tripled_fast.select.kcenter import kcenter_greedy


def _gram(x: np.ndarray, s: float) -> np.ndarray:
    x = x.astype(np.float64)
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2 / (2 * s * s))


def _mmd2(gram: np.ndarray, picks: list[int], target: np.ndarray) -> float:
    """Squared MMD between the empirical measure on ``picks`` and the one on ``target``."""
    p = np.asarray(picks)
    return gram[np.ix_(p, p)].mean() - 2 * gram[np.ix_(p, target)].mean() + gram[np.ix_(target, target)].mean()


def _brute_force(x: np.ndarray, k: int, s: float, initial=(), candidates=None) -> list[int]:
    """Reference: add, one at a time, the candidate whose addition gives the smallest squared
    MMD to the candidates' distribution (float64 Gram matrix; lowest index on ties)."""
    gram = _gram(x, s)
    cand = np.arange(x.shape[0]) if candidates is None else np.sort(np.asarray(candidates))
    chosen = list(initial)
    picks: list[int] = []
    for _ in range(k):
        free = [int(c) for c in cand if c not in chosen]
        vals = [_mmd2(gram, chosen + [c], cand) for c in free]
        best = free[int(np.argmin(np.round(vals, 12)))]
        chosen.append(best)
        picks.append(best)
    return picks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_greedy_matches_brute_force_mmd(seed) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    s = 1.7
    assert herding_greedy(x, 8, bandwidth=s).tolist() == _brute_force(x, 8, s)
    # picks already made count in the sum; candidates define the target
    assert herding_greedy(x, 5, bandwidth=s, initial=[3, 17]).tolist() == _brute_force(x, 5, s, initial=[3, 17])
    cand = np.arange(0, 40, 2)
    assert herding_greedy(x, 6, bandwidth=s, candidates=cand).tolist() == _brute_force(x, 6, s, candidates=cand)


def test_each_pick_lowers_the_mmd_and_beats_random_subsets() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 6)).astype(np.float32)
    s = median_bandwidth(x)
    picks = herding_greedy(x, 20).tolist()
    gram, target = _gram(x, s), np.arange(300)
    mmd = [_mmd2(gram, picks[:t], target) for t in range(1, 21)]
    assert mmd[-1] < mmd[0] / 5
    random_mmd = [_mmd2(gram, rng.choice(300, 20, replace=False).tolist(), target) for _ in range(200)]
    assert mmd[-1] < min(random_mmd)


def test_follows_the_density_where_kcenter_follows_the_support() -> None:
    # 90 % of the pool in one tight blob, 10 % spread wide
    rng = np.random.default_rng(5)
    dense = rng.normal(scale=0.1, size=(900, 8))
    wide = rng.normal(scale=3.0, size=(100, 8))
    x = np.concatenate([dense, wide]).astype(np.float32)
    h = herding_greedy(x, 20)
    kc = kcenter_greedy(x, 20, seed=0, backend="numpy")
    assert (h < 900).sum() >= 16          # about the pool's 90 %
    assert (kc < 900).sum() <= 2          # farthest-first: nearly all from the wide tail


def test_median_bandwidth_and_kernel_density_hand_checked() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(30, 4)).astype(np.float32)
    d = np.sqrt(((x[:, None].astype(np.float64) - x[None]) ** 2).sum(-1))
    assert median_bandwidth(x) == pytest.approx(np.median(d[np.triu_indices(30, 1)]), rel=1e-5)
    s = 0.8
    np.testing.assert_allclose(kernel_density(x, x[:7], s), _gram(x, s)[:, :7].mean(1), rtol=1e-5)
    # more rows than max_ref: evenly spaced rows, first and last included
    big = rng.normal(size=(5000, 3)).astype(np.float32)
    assert median_bandwidth(big, max_ref=50) == pytest.approx(
        median_bandwidth(big[np.linspace(0, 4999, 50).round().astype(int)]), rel=1e-6)
    assert median_bandwidth(np.ones((5, 3), np.float32)) == 1e-6


def test_duplicates_avoided_rows_and_group_room() -> None:
    rng = np.random.default_rng(7)
    base = rng.normal(size=(30, 6)).astype(np.float32)
    x = np.concatenate([base, base])                       # row i and i + 30 identical
    picks = herding_greedy(x, 30, dup_radius=0.05)
    assert np.unique(picks % 30).size == 30
    # near-duplicates of an initial or an avoided row are never picked; avoided rows are no target
    picks = herding_greedy(x, 28, dup_radius=0.05, initial=[0], avoid=[1], candidates=np.arange(60))
    assert not ({0, 1, 30, 31} & set(picks.tolist())) and picks.size == 28
    # out of distinct candidates: stops short
    assert herding_greedy(x, 40, dup_radius=0.05).size == 30
    # room per group
    groups = np.arange(60) % 3
    picks = herding_greedy(x, 20, groups=groups, room=np.array([2, 5, 9]))
    assert np.bincount(groups[picks], minlength=3).tolist() == [2, 5, 9]


def test_rejects_bad_arguments() -> None:
    x = np.zeros((5, 2), np.float32)
    with pytest.raises(ValueError, match="expected an \\(N, D\\) array"):
        herding_greedy(np.zeros(5), 1)
    with pytest.raises(ValueError, match="k >= 0"):
        herding_greedy(x, -1)
    with pytest.raises(ValueError, match="initial expected indices"):
        herding_greedy(x, 1, initial=[7])
    with pytest.raises(ValueError, match="bandwidth > 0"):
        herding_greedy(x, 1, bandwidth=0.0)
    with pytest.raises(ValueError, match="groups and room go together"):
        herding_greedy(x, 1, groups=np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="N >= 2"):
        median_bandwidth(x[:1])
    with pytest.raises(ValueError, match="select.coverage"):
        select_subset(task=np.array(["a"] * 5), complexity=np.zeros(5), uncertainty=np.zeros(5),
                      features=x, assign=np.zeros(5, np.int64), cfg=SelectConfig(coverage="mean"), seed=0)


def test_select_subset_with_herding_follows_the_pools_complexity_mix() -> None:
    # the pool's complex patches are its isolated ones (as on image features): k-center coverage
    # leans to them, herding keeps about the pool's mix
    rng = np.random.default_rng(8)
    n = 800
    spread = rng.uniform(0.05, 2.0, size=n)
    feats = (rng.normal(size=(n, 16)) * spread[:, None] + 5.0).astype(np.float32)
    complexity = spread / spread.max()
    image = rng.integers(0, 40, size=n)
    kw = dict(task=np.array(["denoise"] * n), complexity=complexity, uncertainty=np.zeros(n), features=feats,
              assign=np.zeros(n, np.int64), seed=0, image=image)
    rank = complexity.argsort().argsort() / (n - 1)
    k = select_subset(cfg=SelectConfig(budget=0.05, complexity_weight=0.1, pool_share=1.0), **kw)
    h = select_subset(cfg=SelectConfig(budget=0.05, complexity_weight=0.1, coverage="herding", pool_share=1.0),
                      **kw)
    budget = resolve_budget(0.05, n)
    assert h.selected.size == budget and h.info["coverage_picks"] == budget - round(0.1 * budget)
    assert rank[k.selected].mean() > 0.7
    assert abs(rank[h.selected].mean() - 0.5) < 0.15
    cap = -(-np.bincount(image, minlength=40) * budget // n)
    assert (np.bincount(image[h.selected], minlength=40) <= cap).all()
