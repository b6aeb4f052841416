"""Budget resolution, largest-remainder quotas, subset selection invariants, baselines."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tripled_fast.config import SelectConfig
from tripled_fast.select.baselines import (
    kcenter_subset,
    kmeans_representatives,
    random_subset,
    topk_complexity,
)
from tripled_fast.select.budget import complexity_strata, largest_remainder, resolve_budget, select_subset
from tripled_fast.select.kcenter import kcenter_greedy

pytestmark = pytest.mark.usefixtures("one_faiss_thread")


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


#: these tests check the algorithm on the whole pool; select.pool_share has tests/test_quality_jitter.py
WHOLE_POOL = {"pool_share": 1.0}


def _select(features, assign, complexity=None, uncertainty=None, task=None, seed=0, **cfg):
    n = features.shape[0]
    rng = np.random.default_rng(123)
    return select_subset(
        task=np.array(["denoise"] * n) if task is None else task,
        complexity=rng.random(n) if complexity is None else complexity,
        uncertainty=rng.random(n) if uncertainty is None else uncertainty,
        features=features, assign=assign, cfg=SelectConfig(**{**WHOLE_POOL, **cfg}), seed=seed,
    )


# --------------------------------------------------------------------------- budget arithmetic
def test_resolve_budget() -> None:
    assert resolve_budget(0.02, 1000) == 20
    assert resolve_budget(0.025, 100) == 3      # 2.5 rounds half up
    assert resolve_budget(0.015, 100) == 2      # 1.5 rounds half up
    assert resolve_budget(0.0001, 100) == 1     # at least one patch
    assert resolve_budget(5, 10) == 5
    assert resolve_budget(10.0, 10) == 10
    for bad, n in ((11, 10), (2.5, 10), (0, 10), (-0.1, 10), (float("nan"), 10), (0.5, 0)):
        with pytest.raises(ValueError, match="select.budget"):
            resolve_budget(bad, n)


def test_largest_remainder_hand_computed() -> None:
    # exact shares 3.5, 2.1, 1.4 -> floors 3, 2, 1 -> the one left over goes to remainder .5
    assert largest_remainder(np.array([5, 3, 2]), 7).tolist() == [4, 2, 1]
    # equal remainders: lowest index first (shares 1/3 each of 1 unit)
    assert largest_remainder(np.array([1, 1, 1]), 1).tolist() == [1, 0, 0]
    # group 0 capped at 2: the other 4 units split evenly
    assert largest_remainder(np.array([10, 1, 1]), 6, caps=np.array([2, 5, 5])).tolist() == [2, 2, 2]
    # zero-weight groups receive units only when nobody else has room
    assert largest_remainder(np.array([3, 0]), 4, caps=np.array([3, 9])).tolist() == [3, 1]
    assert largest_remainder(np.array([4, 2]), 0).tolist() == [0, 0]
    with pytest.raises(ValueError, match="caps sum"):
        largest_remainder(np.array([1, 1]), 5, caps=np.array([2, 2]))


def test_largest_remainder_many_groups_no_overflow() -> None:
    # uncapped with six groups (the six task tags of an all-in-one pool): the split must not trip
    # over an int64 overflow of the implicit caps
    assert largest_remainder(np.array([9507] * 6), 285).tolist() == [48, 48, 48, 47, 47, 47]
    assert largest_remainder(np.array([1] * 8), 8).tolist() == [1] * 8
    assert largest_remainder(np.array([0] * 6), 3).tolist() == [1, 1, 1, 0, 0, 0]
    # caps near the int64 limit are fine too
    big = np.full(6, 2 ** 62, np.int64)
    assert largest_remainder(np.array([2, 1, 1, 1, 1, 0]), 12, caps=big).tolist() == [4, 2, 2, 2, 2, 0]


def test_select_subset_six_tasks() -> None:
    # per-task quotas over six task tags: exactly the budget, split evenly by task size
    rng = np.random.default_rng(7)
    n = 600
    feats = _unit(rng.normal(size=(n, 8)))
    names = np.array(["noise", "blur", "jpeg", "lowlight", "haze", "rain"])
    task = names[np.arange(n) % 6]
    sel = _select(feats, np.arange(n) % 4, task=task, budget=30, per_task=True)
    assert sel.selected.size == 30
    counts = {t: int((task[sel.selected] == t).sum()) for t in names}
    assert counts == {t: 5 for t in names}


# --------------------------------------------------------------------------- invariants
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 250), frac=st.floats(0.001, 0.999), as_count=st.booleans(),
       n_clusters=st.integers(1, 7), n_tasks=st.integers(1, 3), seed=st.integers(0, 10**6),
       cw=st.sampled_from([0.0, 0.3, 1.0]), s1=st.sampled_from([0.0, 0.5, 1.0]),
       pool=st.sampled_from([1.0, 2.0, 3.5]), coverage=st.sampled_from(["kcenter", "herding"]))
def test_selection_invariants(n, frac, as_count, n_clusters, n_tasks, seed, cw, s1, pool, coverage) -> None:
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, 8)).astype(np.float32)
    assign = rng.integers(0, n_clusters, size=n)
    task = np.array(["derain", "denoise", "sr"])[rng.integers(0, n_tasks, size=n)]
    budget = max(1, int(round(frac * n))) if as_count else frac
    expected = resolve_budget(budget, n)
    sel = _select(feats, assign, complexity=rng.random(n), uncertainty=rng.random(n), task=task,
                  seed=seed, budget=budget, complexity_weight=cw, stage1_fraction=s1, stage2_pool=pool,
                  coverage=coverage)
    assert sel.selected.size == expected
    assert np.unique(sel.selected).size == expected and (np.diff(sel.selected) > 0).all()
    assert sum(sel.quotas.values()) == expected
    assert np.array_equal(np.union1d(sel.stage1, sel.stage2), sel.selected)
    assert np.intersect1d(sel.stage1, sel.stage2).size == 0
    assert sel.stage2_quota == sel.stage2.size
    assert np.isin(sel.stage2, sel.stage2_candidates).all()
    assert np.intersect1d(sel.stage1, sel.stage2_candidates).size == 0
    target_pool = min(int(np.floor(pool * sel.stage2_quota + 0.5)), n - sel.stage1.size)
    assert sel.stage2_candidates.size == target_pool
    # per task: the largest-remainder share of the budget
    names, counts = np.unique(task, return_counts=True)
    shares = largest_remainder(counts, expected)
    for name, share in zip(names, shares):
        assert sum(v for (t, _), v in sel.quotas.items() if t == name) == share


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 200), unique_frac=st.floats(0.05, 1.0), frac=st.floats(0.01, 0.9),
       n_clusters=st.integers(1, 6), seed=st.integers(0, 10**6), cw=st.sampled_from([0.0, 0.5, 1.0]),
       coverage=st.sampled_from(["kcenter", "herding"]))
def test_duplicates_only_when_the_pool_runs_out(n, unique_frac, frac, n_clusters, seed, cw, coverage) -> None:
    rng = np.random.default_rng(seed)
    n_unique = max(1, int(unique_frac * n))
    base = rng.normal(size=(n_unique, 8)).astype(np.float32)
    which = np.r_[np.arange(n_unique), rng.integers(0, n_unique, size=n - n_unique)]
    feats = base[which] * rng.uniform(0.5, 2.0, size=(n, 1)).astype(np.float32)  # cosine 1 copies
    assign = rng.integers(0, n_clusters, size=n_unique)[which]  # copies share a cluster, as in k-means
    sel = _select(feats, assign, complexity=rng.random(n), seed=seed, budget=frac, complexity_weight=cw,
                  coverage=coverage)
    budget = resolve_budget(frac, n)
    assert sel.selected.size == budget
    distinct = np.unique(which[sel.selected]).size
    assert distinct == min(budget, n_unique)
    assert sel.info["forced_duplicates"] == max(0, budget - n_unique)


def test_quotas_are_the_largest_remainder_split() -> None:
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(100, 8)).astype(np.float32)
    # task a: 60 patches (clusters 0: 40, 1: 20); task b: 40 patches (cluster 1: 25, 2: 15)
    task = np.array(["a"] * 60 + ["b"] * 40)
    assign = np.array([0] * 40 + [1] * 20 + [1] * 25 + [2] * 15)
    sel = _select(feats, assign, quotas="clusters", task=task, budget=0.13)
    # 13 -> a: 7.8, b: 5.2 -> 8, 5; a: 40/60 * 8 = 5.33, 2.67 -> 5, 3; b: 25/40 * 5 = 3.125, 1.875 -> 3, 2
    assert sel.quotas == {("a", 0): 5, ("a", 1): 3, ("b", 1): 3, ("b", 2): 2}
    # per_task off: one pool, clusters 0: 40, 1: 45, 2: 15 -> 5.2, 5.85, 1.95 -> 5, 6, 2
    sel = _select(feats, assign, quotas="clusters", task=task, budget=0.13, per_task=False)
    assert sel.quotas == {("all", 0): 5, ("all", 1): 6, ("all", 2): 2}


def test_complexity_weight_one_takes_the_most_complex() -> None:
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(90, 8)).astype(np.float32)
    assign = np.repeat([0, 1, 2], 30)
    complexity = rng.permutation(90) / 89.0
    sel = _select(feats, assign, quotas="clusters", complexity=complexity, budget=12, complexity_weight=1.0)
    for c in range(3):
        members = np.flatnonzero(assign == c)
        top = members[np.argsort(-complexity[members])[:4]]
        assert set(sel.selected[assign[sel.selected] == c].tolist()) == set(top.tolist())


def test_complexity_weight_zero_is_kcenter_coverage() -> None:
    rng = np.random.default_rng(2)
    feats = (rng.normal(size=(120, 8)) * rng.uniform(0.5, 4, size=(120, 1))).astype(np.float32)
    assign = np.repeat([0, 1], 60)
    sel = _select(feats, assign, quotas="clusters", budget=20, complexity_weight=0.0)
    for c in range(2):
        members = np.flatnonzero(assign == c)
        order = kcenter_greedy(_unit(feats[members]), 10, seed=0, backend="numpy")
        assert set(sel.selected[assign[sel.selected] == c].tolist()) == set(members[order].tolist())
    # a mixed weight: 30 % of each quota of 10 -> the 3 most complex, then coverage seeded by them
    complexity = rng.permutation(120) / 119.0
    sel = _select(feats, assign, quotas="clusters", complexity=complexity, budget=20, complexity_weight=0.3)
    assert sel.info["complexity_picks"] == 6 and sel.info["coverage_picks"] == 14
    for c in range(2):
        members = np.flatnonzero(assign == c)
        top3 = np.argsort(-complexity[members])[:3]
        rest = kcenter_greedy(_unit(feats[members]), 7, seed=0, initial=top3, backend="numpy")
        expected = set(members[top3].tolist()) | set(members[rest].tolist())
        assert set(sel.selected[assign[sel.selected] == c].tolist()) == expected


def test_task_quotas_cover_the_whole_task_pool() -> None:
    rng = np.random.default_rng(5)
    feats = (rng.normal(size=(150, 8)) * rng.uniform(0.5, 4, size=(150, 1))).astype(np.float32)
    assign = rng.integers(0, 4, size=150)
    complexity = rng.permutation(150) / 149.0
    # quotas="tasks", complexity_weight 0: exactly the k-center baseline over the whole pool
    sel = _select(feats, assign, complexity=complexity, budget=12, complexity_weight=0.0, quotas="tasks")
    assert sel.selected.tolist() == kcenter_subset(feats, 12, seed=0, backend="numpy").tolist()
    assert sel.quotas == {("denoise", 0): 12} and sel.info["groups"] == 1
    # the cluster assignment is ignored: same as one cluster; weight 0.25 -> the 3 most complex first
    sel = _select(feats, assign, complexity=complexity, budget=12, complexity_weight=0.25, quotas="tasks")
    one = _select(feats, np.zeros(150, np.int64), complexity=complexity, budget=12, complexity_weight=0.25)
    assert sel.selected.tolist() == one.selected.tolist()
    top3 = np.argsort(-complexity)[:3]
    rest = kcenter_greedy(_unit(feats), 9, seed=0, initial=top3, backend="numpy")
    assert set(sel.selected.tolist()) == set(top3.tolist()) | set(rest.tolist())
    # two tasks: the budget is still split by task mass (90 : 60 -> 6 : 4)
    task = np.array(["a"] * 90 + ["b"] * 60)
    sel = _select(feats, assign, complexity=complexity, task=task, budget=10, quotas="tasks")
    assert sel.quotas == {("a", 0): 6, ("b", 0): 4}
    with pytest.raises(ValueError, match="select.quotas"):
        _select(feats, assign, budget=2, quotas="images")


def test_complexity_strata_hand_computed() -> None:
    # one task, 6 patches, 3 strata: ascending complexity 1, 5, 3 | 0, 4 | 2 -> two per stratum
    c = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2])
    tie = np.arange(6)
    assert complexity_strata(c, np.zeros(6, np.int64), 3, tie).tolist() == [1, 0, 2, 1, 2, 0]
    # per task: task 1 (rows 0, 2, 4: ascending 0, 4 | 2) and task 0 (rows 1, 3, 5: 1, 5 | 3) are
    # cut separately, 3 rows in 2 strata as 2 / 1 (stratum = rank * k // n)
    task = np.array([1, 0, 1, 0, 1, 0])
    assert complexity_strata(c, task, 2, tie).tolist() == [0, 0, 1, 1, 0, 0]
    # 5 rows in 2 strata: ascending 1, 3, 0 | 4, 2 (sizes 3 / 2)
    assert complexity_strata(c[:5], np.zeros(5, np.int64), 2, tie[:5]).tolist() == [0, 0, 1, 0, 1]
    # fewer rows than strata: one row per stratum used, strata 1 and 3 stay empty
    assert complexity_strata(c[:2], np.zeros(2, np.int64), 4, tie[:2]).tolist() == [2, 0]
    # equal complexity: the tie key orders them
    flat = np.zeros(4)
    assert complexity_strata(flat, np.zeros(4, np.int64), 2, np.array([3, 2, 1, 0])).tolist() == [1, 1, 0, 0]
    with pytest.raises(ValueError, match="k >= 1"):
        complexity_strata(c, np.zeros(6, np.int64), 0, tie)


def test_strata_quotas_follow_the_pools_complexity_mix() -> None:
    # complex patches are spread out, simple ones packed tight: plain coverage takes the complex ones
    rng = np.random.default_rng(11)
    n = 200
    complexity = rng.permutation(n) / (n - 1)
    feats = (np.ones((n, 8)) + rng.normal(size=(n, 8)) * (0.05 + 3.0 * complexity[:, None])).astype(np.float32)
    stratum = (np.argsort(np.argsort(complexity)) * 4) // n   # complexity quartile per patch
    plain = _select(feats, np.zeros(n, np.int64), complexity=complexity, budget=20, complexity_weight=0.0)
    plain_counts = np.bincount(stratum[plain.selected], minlength=4)
    assert plain_counts[2:].sum() >= 15 and plain_counts[:2].sum() <= 2  # the premise: it leans to complex
    sel = _select(feats, np.zeros(n, np.int64), complexity=complexity, budget=20, complexity_weight=0.0,
                  quotas="strata", strata=4)
    assert np.bincount(stratum[sel.selected], minlength=4).tolist() == [5, 5, 5, 5]
    assert sel.quotas == {("denoise", s): 5 for s in range(4)}
    # within a stratum: k-center coverage of the stratum's patches, as with cluster quotas
    for s in range(4):
        members = np.flatnonzero(stratum == s)
        order = kcenter_greedy(_unit(feats[members]), 5, seed=0, backend="numpy")
        assert set(sel.selected[stratum[sel.selected] == s].tolist()) == set(members[order].tolist())
    # the cluster assignment is ignored; the strata count is checked
    other = _select(feats, rng.integers(0, 3, size=n), complexity=complexity, budget=20, complexity_weight=0.0,
                    quotas="strata", strata=4)
    assert other.selected.tolist() == sel.selected.tolist()
    with pytest.raises(ValueError, match="select.strata"):
        _select(feats, np.zeros(n, np.int64), budget=20, quotas="strata", strata=0)


@pytest.mark.parametrize("coverage", ["kcenter", "herding"])
def test_cross_task_picks_distinct_contents_across_tasks(coverage) -> None:
    # one clean set degraded three ways: identical GT features and complexity in every task
    rng = np.random.default_rng(11)
    base = rng.normal(size=(60, 8)).astype(np.float32)
    feats = np.concatenate([base, base, base])
    complexity = np.tile(rng.permutation(60) / 59.0, 3)
    task = np.repeat(np.array(["deblur", "denoise", "derain"]), 60)
    for cw in (0.0, 0.3, 1.0):
        kw = dict(complexity=complexity, task=task, budget=30, complexity_weight=cw, quotas="tasks",
                  coverage=coverage)
        blind = _select(feats, np.zeros(180, np.int64), cross_task=False, **kw)
        sel = _select(feats, np.zeros(180, np.int64), **kw)  # cross_task is the default
        for s in (blind, sel):
            assert s.quotas == {("deblur", 0): 10, ("denoise", 0): 10, ("derain", 0): 10}
        # blind to the other tasks, every task picks the same 10 contents; with it, 30 distinct
        assert np.unique(blind.selected % 60).size == 10, cw
        assert np.unique(sel.selected % 60).size == 30, cw
        # the first task in sorted order is unaffected; later ones cover what is still uncovered
        first = sel.selected[sel.selected < 60]
        assert first.tolist() == blind.selected[blind.selected < 60].tolist()
        second = sel.selected[(sel.selected >= 60) & (sel.selected < 120)] - 60
        n_cx = round(cw * 10)
        assert set(second.tolist()).isdisjoint(first.tolist())
        if cw == 1.0:  # pure complexity: the next 10 most complex contents
            assert sorted(second.tolist()) == sorted(np.argsort(-complexity[:60])[10:20].tolist())
        assert sel.info["complexity_picks"] == 3 * n_cx
    # a single task is unchanged by the option
    one = _select(feats[:60], np.zeros(60, np.int64), complexity=complexity[:60], budget=10)
    off = _select(feats[:60], np.zeros(60, np.int64), complexity=complexity[:60], budget=10, cross_task=False)
    assert one.selected.tolist() == off.selected.tolist()


def test_exact_and_near_duplicates_are_never_both_selected() -> None:
    rng = np.random.default_rng(3)
    base = rng.normal(size=(50, 16)).astype(np.float32)
    feats = np.concatenate([base, base * 2.0])             # row i and i + 50: cosine 1
    assign = np.tile(rng.integers(0, 3, size=50), 2)
    complexity = np.tile(rng.random(50), 2)                 # copies tie in complexity too
    for cw in (0.0, 0.5, 1.0):
        sel = _select(feats, assign, complexity=complexity, budget=50, complexity_weight=cw)
        assert sorted((sel.selected % 50).tolist()) == list(range(50)), cw
        assert sel.info["forced_duplicates"] == 0
    # the candidate pool does not add copies of selected patches either
    assert np.unique(sel.stage2_candidates % 50).size == sel.stage2_candidates.size
    # a near-duplicate (cosine 0.9995 > 0.995) of the most complex patch is skipped
    near = base.copy()
    near[1] = base[0] + 0.03 * np.linalg.norm(base[0]) * _unit(rng.normal(size=(1, 16)))[0]
    cos = near[0] @ near[1] / np.linalg.norm(near[0]) / np.linalg.norm(near[1])
    assert 0.995 < cos < 1.0
    comp = np.r_[1.0, 0.99, np.linspace(0.0, 0.5, 48)]
    sel = _select(near, np.zeros(50, np.int64), complexity=comp, budget=5, complexity_weight=1.0)
    assert sel.selected.tolist() == [0, 46, 47, 48, 49]   # row 1 (cosine 0.9995 to row 0) skipped
    assert sel.info["duplicates_skipped"] >= 1


def test_too_few_distinct_patches_forces_duplicates_to_fill_the_budget() -> None:
    base = np.random.default_rng(4).normal(size=(10, 8)).astype(np.float32)
    feats = np.concatenate([base, base, base])
    sel = _select(feats, np.zeros(30, np.int64), budget=15)
    assert sel.selected.size == 15
    assert np.unique(sel.selected % 10).size == 10
    assert sel.info["forced_duplicates"] == 5


def test_shortfall_of_a_cluster_moves_to_other_clusters() -> None:
    rng = np.random.default_rng(5)
    dup = np.repeat(rng.normal(size=(1, 8)), 40, axis=0)     # cluster 0: one distinct patch x 40
    feats = np.concatenate([dup, rng.normal(size=(60, 8))]).astype(np.float32)
    assign = np.repeat([0, 1], [40, 60])
    sel = _select(feats, assign, quotas="clusters", budget=10)                   # planned 4 + 6
    assert sel.info["planned_quotas"] == {("denoise", 0): 4, ("denoise", 1): 6}
    assert sel.quotas == {("denoise", 0): 1, ("denoise", 1): 9}
    assert sel.info["dedup_reassigned"] == 3 and sel.info["forced_duplicates"] == 0


def test_stages_split_by_complexity_within_each_cluster() -> None:
    rng = np.random.default_rng(6)
    feats = rng.normal(size=(300, 8)).astype(np.float32)
    assign = rng.integers(0, 5, size=300)
    complexity = rng.random(300)
    uncertainty = rng.random(300)
    sel = _select(feats, assign, complexity=complexity, uncertainty=uncertainty, budget=40,
                  stage1_fraction=0.5, stage2_pool=2.0, quotas="clusters")
    for c in range(5):
        s1 = sel.stage1[assign[sel.stage1] == c]
        s2 = sel.stage2[assign[sel.stage2] == c]
        n1 = int(np.floor(0.5 * (s1.size + s2.size) + 0.5))
        assert s1.size == n1
        if s1.size and s2.size:
            assert complexity[s1].max() <= complexity[s2].min()
        # extra candidates: the most complex + uncertain unselected patches of the cluster
        extra = np.setdiff1d(sel.stage2_candidates[assign[sel.stage2_candidates] == c], s2)
        free = np.setdiff1d(np.flatnonzero(assign == c), sel.selected)
        hard = (complexity + uncertainty)[free]
        assert set(extra.tolist()) == set(free[np.argsort(-hard)[:extra.size]].tolist())
    assert sel.stage2_candidates.size == 2 * sel.stage2_quota


def test_deterministic_by_seed_and_seed_breaks_ties() -> None:
    rng = np.random.default_rng(7)
    feats = rng.normal(size=(200, 8)).astype(np.float32)
    assign = rng.integers(0, 4, size=200)
    flat = np.full(200, 0.5)  # all complexities tie
    a = _select(feats, assign, complexity=flat, budget=30, complexity_weight=1.0, seed=11)
    b = _select(feats, assign, complexity=flat, budget=30, complexity_weight=1.0, seed=11)
    assert np.array_equal(a.selected, b.selected) and np.array_equal(a.stage1, b.stage1)
    assert np.array_equal(a.stage2_candidates, b.stage2_candidates)
    c = _select(feats, assign, complexity=flat, budget=30, complexity_weight=1.0, seed=12)
    assert not np.array_equal(a.selected, c.selected)


def test_rejects_bad_arguments() -> None:
    feats = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match="complexity_weight"):
        _select(feats + 1, np.zeros(10, np.int64), budget=2, complexity_weight=1.5)
    with pytest.raises(ValueError, match="assign"):
        _select(feats + 1, np.zeros(9, np.int64), budget=2)
    with pytest.raises(ValueError, match="stage2_pool"):
        _select(feats + 1, np.zeros(10, np.int64), budget=2, stage2_pool=0.5)


# --------------------------------------------------------------------------- baselines
def test_baselines() -> None:
    expected = np.sort(np.random.default_rng(9).choice(100, size=7, replace=False))
    assert random_subset(100, 7, seed=9).tolist() == expected.tolist()
    assert topk_complexity(np.array([0.5, 0.9, 0.9, 0.1]), 2).tolist() == [1, 2]
    assert topk_complexity(np.array([0.5, 0.9, 0.9, 0.1]), 1).tolist() == [1]
    with pytest.raises(ValueError, match="k"):
        random_subset(5, 6, seed=0)

    rng = np.random.default_rng(10)
    centres = _unit(rng.normal(size=(4, 12))) * 10
    labels = np.repeat(np.arange(4), 50)
    feats = (centres[labels] + rng.normal(scale=0.3, size=(200, 12))).astype(np.float32)
    reps = kmeans_representatives(feats, 4, seed=0)
    assert sorted(labels[reps].tolist()) == [0, 1, 2, 3]
    unit = _unit(feats)
    for r in reps:
        members = np.flatnonzero(labels == labels[r])
        mean = unit[members].mean(0)
        mean /= np.linalg.norm(mean)
        assert r == members[np.argmin(np.linalg.norm(unit[members] - mean, axis=1))]
    kc = kcenter_subset(feats, 4, seed=0)
    assert sorted(labels[kc].tolist()) == [0, 1, 2, 3]   # coverage hits every blob
    assert kc.tolist() == sorted(kcenter_greedy(unit, 4, seed=0, backend="numpy").tolist())


def test_coverage_trim_keeps_coverage_out_of_the_isolated_tail() -> None:
    from tripled_fast.select.density import knn_radius, typical_mask

    rng = np.random.default_rng(11)
    dense = rng.normal(size=(180, 8)) + np.array([3.0] + [0.0] * 7)
    outliers = rng.normal(size=(20, 8)) * 4.0   # scattered: large k-NN radii
    feats = np.concatenate([dense, outliers]).astype(np.float32)
    assign = np.zeros(200, np.int64)
    complexity = rng.permutation(200) / 199.0
    plain = _select(feats, assign, complexity=complexity, budget=12, complexity_weight=0.0)
    assert np.isin(plain.selected, np.arange(180, 200)).sum() >= 4   # 10 % of the pool, a third of the picks
    trimmed = _select(feats, assign, complexity=complexity, budget=12, complexity_weight=0.0,
                      coverage_trim=0.1)
    keep = typical_mask(knn_radius(_unit(feats), k=10), 0.1)
    assert keep.sum() == 180 and keep[trimmed.selected].all()
    # exactly k-center over the kept rows
    expected = np.flatnonzero(keep)[kcenter_greedy(_unit(feats)[keep], 12, seed=0, backend="numpy")]
    assert trimmed.selected.tolist() == sorted(expected.tolist())
    # complexity picks are not trimmed: the most complex patch is taken even when it is isolated
    complexity[np.flatnonzero(~keep)[0]] = 2.0
    mixed = _select(feats, assign, complexity=complexity, budget=12, complexity_weight=0.1,
                    coverage_trim=0.1)
    assert np.flatnonzero(~keep)[0] in mixed.selected
    assert (~keep[mixed.selected]).sum() == 1
    # when the typical rows cannot fill the quota, the trimmed ones are used too
    full = _select(feats, assign, complexity=complexity, budget=195, complexity_weight=0.0,
                   coverage_trim=0.1, dedup_threshold=2.0)
    assert full.selected.size == 195
    with pytest.raises(ValueError, match="coverage_trim"):
        _select(feats, assign, budget=5, coverage_trim=1.0)


def test_image_cap_limits_each_image_to_its_share_of_the_budget() -> None:
    rng = np.random.default_rng(4)
    # image "a": 100 scattered patches (k-center favours them); "b", "c", "d": 100 tight patches each
    centres = rng.normal(size=(4, 8)) * 3.0
    spread = np.array([3.0, 1.0, 1.0, 1.0])
    which = np.repeat(np.arange(4), 100)
    feats = (centres[which] + rng.normal(size=(400, 8)) * spread[which, None]).astype(np.float32)
    image = np.array(["a", "b", "c", "d"])[which]
    assign = np.zeros(400, np.int64)
    complexity = rng.random(400)
    plain = _select(feats, assign, complexity=complexity, budget=20, complexity_weight=0.1)
    assert (which[plain.selected] == 0).sum() > 5
    capped = select_subset(task=np.array(["sr"] * 400), complexity=complexity, uncertainty=rng.random(400),
                           features=feats, assign=assign, seed=0, image=image,
                           cfg=SelectConfig(**WHOLE_POOL, budget=20, complexity_weight=0.1, image_cap=True))
    # ceil(20 * 100 / 400) = 5 per image, and the caps sum to the budget: exactly 5 each
    assert np.bincount(which[capped.selected]).tolist() == [5, 5, 5, 5]
    # the complexity picks keep to the cap as well: make image a's patches the most complex
    cx = complexity + (which == 0) * 10.0
    heavy = select_subset(task=np.array(["sr"] * 400), complexity=cx, uncertainty=rng.random(400),
                          features=feats, assign=assign, seed=0, image=image,
                          cfg=SelectConfig(**WHOLE_POOL, budget=20, complexity_weight=0.5, image_cap=True))
    assert np.bincount(which[heavy.selected]).tolist() == [5, 5, 5, 5]
    # off: the image labels change nothing
    same = select_subset(task=np.array(["denoise"] * 400), complexity=complexity, uncertainty=rng.random(400),
                         features=feats, assign=assign, seed=0, image=image,
                         cfg=SelectConfig(**WHOLE_POOL, budget=20, complexity_weight=0.1, image_cap=False))
    assert same.selected.tolist() == plain.selected.tolist()
    # on (the default) with no source photos given: nothing to cap, the uncapped selection
    assert SelectConfig().image_cap is True
    assert _select(feats, assign, complexity=complexity, budget=20, complexity_weight=0.1,
                   image_cap=True).selected.tolist() == plain.selected.tolist()


def test_image_cap_scope_task_shares_each_tasks_quota_over_its_photos() -> None:
    """Two tasks made by degrading the same 4 photos (identical GT features, cross-task coverage).
    With one share per photo across tasks (``pool``) the first task takes all of the scattered
    photo's room and the second task gets none of it; with ``task`` each task spreads its own quota."""
    rng = np.random.default_rng(4)
    centres = rng.normal(size=(4, 8)) * 3.0
    spread = np.array([3.0, 1.0, 1.0, 1.0])
    which = np.repeat(np.arange(4), 50)
    one = (centres[which] + rng.normal(size=(200, 8)) * spread[which, None]).astype(np.float32)
    feats, photo = np.concatenate([one, one]), np.tile(which, 2)
    task = np.repeat(["deblur", "denoise"], 200)
    complexity, uncertainty = rng.random(400), rng.random(400)

    def per_task(scope: str) -> list[list[int]]:
        sel = select_subset(task=task, complexity=complexity, uncertainty=uncertainty, features=feats,
                            assign=np.zeros(400, np.int64), seed=0, image=np.array(list("abcd"))[photo],
                            cfg=SelectConfig(**WHOLE_POOL, budget=16, complexity_weight=0.1, image_cap_scope=scope))
        s = sel.selected
        return [np.bincount(photo[s[task[s] == t]], minlength=4).tolist() for t in ("deblur", "denoise")]

    # task: ceil(8 * 50 / 200) = 2 per (task, photo), and the rooms sum to each quota
    assert per_task("task") == [[2, 2, 2, 2], [2, 2, 2, 2]]
    # pool: ceil(16 * 100 / 400) = 4 per photo over both tasks, all taken by the first task
    assert per_task("pool") == [[4, 1, 2, 1], [0, 3, 2, 3]]
    assert SelectConfig().image_cap_scope == "task"
    with pytest.raises(ValueError, match="image_cap_scope"):
        _select(one, np.zeros(200, np.int64), budget=4, image_cap_scope="photo")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 200), n_images=st.integers(1, 30), frac=st.floats(0.01, 0.9),
       n_clusters=st.integers(1, 5), n_tasks=st.integers(1, 3), seed=st.integers(0, 10**6),
       cw=st.sampled_from([0.0, 0.3, 1.0]), quotas=st.sampled_from(["tasks", "clusters", "strata"]),
       scope=st.sampled_from(["task", "pool"]), coverage=st.sampled_from(["kcenter", "herding"]))
def test_image_cap_invariants(n, n_images, frac, n_clusters, n_tasks, seed, cw, quotas, scope, coverage) -> None:
    rng = np.random.default_rng(seed)
    feats = rng.normal(size=(n, 8)).astype(np.float32)
    image = rng.integers(0, n_images, size=n)
    task = np.array(["derain", "denoise", "sr"])[rng.integers(0, n_tasks, size=n)]
    sel = select_subset(task=task, complexity=rng.random(n), uncertainty=rng.random(n), features=feats,
                        assign=rng.integers(0, n_clusters, size=n), seed=seed, image=image,
                        cfg=SelectConfig(**WHOLE_POOL, budget=frac, complexity_weight=cw, quotas=quotas, image_cap=True,
                                         image_cap_scope=scope, coverage=coverage))
    budget = resolve_budget(frac, n)
    assert sel.selected.size == budget and np.unique(sel.selected).size == budget
    # distinct random features: the caps are never overridden
    if scope == "pool":
        counts = np.bincount(image[sel.selected], minlength=n_images)
        cap = -(-np.bincount(image, minlength=n_images) * budget // n)
        assert (counts <= cap).all()
    else:
        names, code = np.unique(task, return_inverse=True)
        quota = largest_remainder(np.bincount(code), budget)
        for t in range(names.size):
            mine = code == t
            counts = np.bincount(image[sel.selected[mine[sel.selected]]], minlength=n_images)
            cap = -(-np.bincount(image[mine], minlength=n_images) * int(quota[t]) // int(mine.sum()))
            assert (counts <= cap).all(), names[t]
