"""Complexity scores: percentile ranks, low-level blend, feature head, feature variance."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from tripled_fast.config import ScoreConfig
from tripled_fast.scoring.complexity import (
    FeatureHead,
    combine_complexity,
    feature_head,
    feature_variance,
    fit_feature_head,
    lowlevel_complexity,
    percentile_rank,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _cfg(**w: float) -> ScoreConfig:
    base = dict(w_entropy=0.0, w_gradient=0.0, w_laplacian=0.0, w_interp=0.0)
    base.update(w)
    return ScoreConfig(**base)


def test_percentile_rank_averages_ties() -> None:
    # average ranks of [3, 1, 3, 2] are [3.5, 1, 3.5, 2]; (r - 1) / 3
    np.testing.assert_allclose(percentile_rank(np.array([3.0, 1.0, 3.0, 2.0])),
                               [2.5 / 3, 0.0, 2.5 / 3, 1.0 / 3], atol=1e-7)
    assert percentile_rank(np.array([7.0, 7.0, 7.0])).tolist() == [0.5, 0.5, 0.5]
    assert percentile_rank(np.array([4.0])).tolist() == [0.5]
    with pytest.raises(ValueError, match="finite"):
        percentile_rank(np.array([1.0, np.nan]))


def test_lowlevel_equal_weights_hand_computed() -> None:
    stats = {"entropy": np.array([1.0, 2.0, 3.0, 4.0]), "grad_energy": np.array([1.0, 3.0, 2.0, 4.0])}
    # ranks [0, 1/3, 2/3, 1] and [0, 2/3, 1/3, 1] -> mean [0, .5, .5, 1] -> ranks [0, .5, .5, 1]
    out = lowlevel_complexity(stats, _cfg(w_entropy=1.0, w_gradient=1.0))
    np.testing.assert_allclose(out, [0.0, 0.5, 0.5, 1.0], atol=1e-7)
    assert out.dtype == np.float32
    # weights 2:1 -> [0, 4/9, 5/9, 1] -> distinct ranks
    out = lowlevel_complexity(stats, _cfg(w_entropy=2.0, w_gradient=1.0))
    np.testing.assert_allclose(out, [0.0, 1 / 3, 2 / 3, 1.0], atol=1e-7)


def test_lowlevel_zero_weight_removes_statistic_exactly() -> None:
    rng = np.random.default_rng(0)
    n = 500
    stats = {name: rng.random(n).astype(np.float32)
             for name in ("mean", "var", "entropy", "grad_energy", "lap_var", "interp_err")}
    cfg = _cfg(w_entropy=1.0, w_gradient=0.7, w_laplacian=0.0, w_interp=0.3)
    ref = lowlevel_complexity(stats, cfg)
    changed = dict(stats, lap_var=rng.random(n).astype(np.float32) * 1e6)
    np.testing.assert_array_equal(lowlevel_complexity(changed, cfg), ref)
    dropped = {k: v for k, v in stats.items() if k != "lap_var"}
    np.testing.assert_array_equal(lowlevel_complexity(dropped, cfg), ref)
    # a single non-zero weight gives exactly that statistic's rank
    np.testing.assert_array_equal(lowlevel_complexity(stats, _cfg(w_interp=2.0)),
                                  percentile_rank(stats["interp_err"]))
    assert ref.min() == 0.0 and ref.max() == 1.0


def test_lowlevel_rejects_bad_weights_and_missing_columns() -> None:
    stats = {"entropy": np.arange(4.0)}
    with pytest.raises(ValueError, match="at least one weight"):
        lowlevel_complexity(stats, _cfg())
    with pytest.raises(ValueError, match="w_entropy"):
        lowlevel_complexity(stats, _cfg(w_entropy=-1.0))
    with pytest.raises(ValueError, match="grad_energy"):
        lowlevel_complexity(stats, _cfg(w_entropy=1.0, w_gradient=1.0))
    with pytest.raises(ValueError, match="'entropy' has NaN"):
        lowlevel_complexity({"entropy": np.array([1.0, np.nan])}, _cfg(w_entropy=1.0))


def test_combine_complexity() -> None:
    low = percentile_rank(np.array([0.1, 0.4, 0.2, 0.9, 0.5]))
    head = np.array([5.0, 1.0, 4.0, 2.0, 3.0])
    np.testing.assert_array_equal(combine_complexity(low, head, 0.0), low)
    np.testing.assert_array_equal(combine_complexity(low, None, 0.0), low)
    np.testing.assert_array_equal(combine_complexity(low, head, 1.0), percentile_rank(head))
    # low ranks [0, .5, .25, 1, .75], head ranks [1, 0, .75, .25, .5]; mean [.5, .25, .5, .625, .625]
    np.testing.assert_allclose(combine_complexity(low, head, 0.5), [0.375, 0.0, 0.375, 0.875, 0.875],
                               atol=1e-7)
    with pytest.raises(ValueError, match="head_weight"):
        combine_complexity(low, head, 1.5)
    with pytest.raises(ValueError, match="head_pred"):
        combine_complexity(low, None, 0.5)


def test_feature_variance_ranks_and_chunking() -> None:
    f = np.array([[0, 0, 0, 0], [1, -1, 1, -1], [2, -2, 2, -2]], np.float32)  # var 0, 1, 4
    np.testing.assert_allclose(feature_variance(f), [0.0, 0.5, 1.0])
    rng = np.random.default_rng(1)
    g = (rng.normal(size=(257, 16)) * rng.random((257, 1)) * 3).astype(np.float16)
    expected = percentile_rank(g.astype(np.float32).var(1).astype(np.float64))
    np.testing.assert_array_equal(feature_variance(g, chunk=10), expected)


def test_feature_head_module_matches_functional() -> None:
    torch.manual_seed(0)
    head = FeatureHead(12, hidden=8)
    with torch.no_grad():
        head.feat_mean.uniform_(-1, 1)
        head.feat_std.uniform_(0.5, 2)
        head.target_mean.fill_(0.3)
        head.target_std.fill_(2.0)
    x = torch.randn(5, 12)
    ref = feature_head(x, head.feat_mean, head.feat_std, head.fc1.weight, head.fc1.bias,
                       head.fc2.weight, head.fc2.bias) * 2.0 + 0.3
    assert head(x).shape == (5,)
    torch.testing.assert_close(head(x), ref)


def test_fit_feature_head_learns_linear_target() -> None:
    rng = np.random.default_rng(0)
    n, d = 3000, 48
    x = (rng.normal(size=(n, d)) * rng.uniform(0.2, 5.0, size=d) + 3.0).astype(np.float32)
    w = rng.normal(size=d) / rng.uniform(0.2, 5.0, size=d)
    signal = (x - 3.0) @ w
    target = signal / signal.std() * 0.2 + 0.5 + rng.normal(scale=0.02, size=n)
    rng_state = torch.random.get_rng_state()
    res = fit_feature_head(x, target, epochs=30, seed=3)
    assert torch.equal(torch.random.get_rng_state(), rng_state)  # own generator only
    assert res.pred.shape == (n,) and res.pred.dtype == np.float32
    assert res.val_index.shape == (600,)
    assert res.r2_val > 0.9
    # the prediction is in target units on the held-out rows too
    val = res.val_index
    assert abs(float(res.pred[val].mean()) - float(target[val].mean())) < 0.02
    # deterministic by seed, different for another seed
    again = fit_feature_head(x, target, epochs=30, seed=3)
    np.testing.assert_array_equal(again.pred, res.pred)
    other = fit_feature_head(x, target, epochs=2, seed=4)
    assert not np.array_equal(other.pred, res.pred)


def test_fit_feature_head_float16_memmap(tmp_path) -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(size=(400, 16)).astype(np.float16)
    path = tmp_path / "f.npy"
    np.save(path, x)
    mm = np.load(path, mmap_mode="r")
    target = x.astype(np.float64) @ rng.normal(size=16)
    res = fit_feature_head(mm, target, epochs=40, seed=0, max_train=200)
    assert res.r2_val > 0.8
    with pytest.raises(ValueError, match="target"):
        fit_feature_head(x, target[:10], epochs=1, seed=0)
    with pytest.raises(ValueError, match="val_fraction"):
        fit_feature_head(x, target, epochs=1, seed=0, val_fraction=1.0)
