"""``pool_jitter``: each seed's selection chooses from its own random share of the pool."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from tripled_fast.config import SelectConfig
from tripled_fast.quality.harness import PoolScan, baseline_rows, jittered_scan, tripled_selection
from tripled_fast.select.budget import resolve_budget
from tripled_fast.select.share import share_rows


def _scan(n: int = 600, seed: int = 0) -> PoolScan:
    """Three photos, two tasks, clustered features, complexity spread over [0, 1]."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(6, 8)) * 3
    feats = centres[rng.integers(0, 6, n)] + rng.normal(size=(n, 8))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    return PoolScan(features=feats.astype(np.float32), task=np.array(["denoise", "derain"] * (n // 2)),
                    complexity=rng.random(n), pack=Path("unused"), color="rgb", scale=1, run_dir=Path("unused"),
                    image=np.array([f"p{i % 3}.png" for i in range(n)], dtype=object),
                    degrade=np.array(["noise:sigma=25"] * n, dtype=object))


def test_jittered_scan_keeps_a_seeded_share_row_for_row() -> None:
    scan = _scan()
    sub, kept = jittered_scan(scan, 0.25, seed=3)
    assert kept.size == 450 and sub.n == 450 and np.all(np.diff(kept) > 0)
    for name in ("features", "task", "complexity", "image", "degrade"):
        np.testing.assert_array_equal(getattr(sub, name), getattr(scan, name)[kept])
    np.testing.assert_array_equal(jittered_scan(scan, 0.25, seed=3)[1], kept)  # the seed fixes the draw
    assert not np.array_equal(jittered_scan(scan, 0.25, seed=4)[1], kept)
    same, rows = jittered_scan(scan, 0.0, seed=3)
    assert same is scan and np.array_equal(rows, np.arange(scan.n))
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"pool_jitter: expected a fraction in \[0, 1\)"):
            jittered_scan(scan, bad, seed=0)


@pytest.mark.parametrize("coverage", ["kcenter", "herding"])
def test_jittered_selection_is_the_selection_of_the_kept_share(coverage) -> None:
    scan = _scan()
    cfg = SelectConfig(coverage=coverage, pool_share=1.0)
    count = resolve_budget(0.05, scan.n)
    sel = tripled_selection(scan, 0.05, cfg, seed=1, jitter=0.2)
    sub, kept = jittered_scan(scan, 0.2, seed=1)
    ref = tripled_selection(sub, float(count), cfg, seed=1)
    # the budget is the whole pool's count; every row maps back through the kept rows
    assert sel.selected.size == count == 30
    for name in ("selected", "stage1", "stage2", "stage2_candidates"):
        np.testing.assert_array_equal(getattr(sel, name), kept[getattr(ref, name)])
    assert np.isin(sel.selected, kept).all()
    # without jitter the subset barely moves with the seed; with it, seeds see different pools
    plain = [set(tripled_selection(scan, 0.05, cfg, seed=s).selected.tolist()) for s in (1, 2)]
    jit = [set(tripled_selection(scan, 0.05, cfg, seed=s, jitter=0.2).selected.tolist()) for s in (1, 2)]
    assert len(jit[0] & jit[1]) < len(plain[0] & plain[1])
    np.testing.assert_array_equal(tripled_selection(scan, 0.05, cfg, seed=1, jitter=0.0).selected,
                                  tripled_selection(scan, 0.05, cfg, seed=1).selected)


def test_jitter_moves_the_coverage_baselines_not_random() -> None:
    scan = _scan()
    np.testing.assert_array_equal(baseline_rows("random", scan, 20, seed=5, jitter=0.3),
                                  baseline_rows("random", scan, 20, seed=5))
    sub, kept = jittered_scan(scan, 0.3, seed=5)
    for method in ("kmeans", "kcenter"):
        rows = baseline_rows(method, scan, 20, seed=5, split="tasks", jitter=0.3)
        np.testing.assert_array_equal(rows, kept[baseline_rows(method, sub, 20, seed=5, split="tasks")])
        assert rows.size == 20 and np.isin(rows, kept).all()


def test_the_pool_jitter_flag_and_a_bad_value(tmp_path) -> None:
    from tripled_fast.quality.harness import QualityConfig, build_parser, config_from_args, run_quality

    args = build_parser().parse_args(["pool", "--degrade", "noise:sigma=25", "--holdout", "0.1", "--pool-jitter", "0.2"])
    assert config_from_args(args).pool_jitter == 0.2
    assert config_from_args(build_parser().parse_args(["pool", "--degrade", "noise:sigma=25"])).pool_jitter == 0.0

    cfg = dataclasses.replace(QualityConfig(), pool_jitter=1.0, out_dir=str(tmp_path / "q"))
    with pytest.raises(ValueError, match=r"pool_jitter: expected a fraction in \[0, 1\), got 1.0"):
        run_quality(cfg, log=lambda m: None)
    assert not (tmp_path / "q").exists()


@pytest.mark.parametrize("coverage", ["kcenter", "herding"])
def test_select_pool_share_chooses_what_the_harness_jitter_chose(coverage) -> None:
    # select.pool_share = 1 - pool_jitter draws the same rows, so the jittered validation runs
    # measured this option (the default quotas=tasks and one stage read no clusters)
    scan = _scan()
    cfg = SelectConfig(coverage=coverage, pool_share=1.0)
    for seed in (0, 1, 7):
        jit = tripled_selection(scan, 0.05, cfg, seed=seed, jitter=0.2)
        own = tripled_selection(scan, 0.05, dataclasses.replace(cfg, pool_share=0.8), seed=seed)
        for name in ("selected", "stage1", "stage2", "stage2_candidates"):
            np.testing.assert_array_equal(getattr(own, name), getattr(jit, name))
        assert own.info["pool"] == scan.n and own.info["pool_share_rows"] == 480
        np.testing.assert_array_equal(jittered_scan(scan, 0.2, seed)[1],
                                      share_rows(scan.n, 0.8, seed))


def test_pool_share_keeps_the_budget_and_rejects_bad_shares() -> None:
    scan = _scan()
    # a budget above the share: the share grows to the budget (540 of 600 rows, all of them picked)
    big = tripled_selection(scan, 0.9, SelectConfig(pool_share=0.5), seed=2)
    assert big.selected.size == resolve_budget(0.9, scan.n) == big.info["pool_share_rows"] == 540
    np.testing.assert_array_equal(big.selected, share_rows(scan.n, 0.5, seed=2, at_least=540))
    rows = share_rows(600, 0.5, seed=2, at_least=400)
    assert rows.size == 400 and np.all(np.diff(rows) > 0)
    assert share_rows(600, 1.0, seed=2).tolist() == list(range(600))
    for bad in (0.0, -0.5, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"select.pool_share: expected a fraction in \(0, 1\]"):
            tripled_selection(scan, 0.05, SelectConfig(pool_share=bad), seed=0)
