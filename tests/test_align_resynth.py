"""The LQ side of aligned pairs: ``align.lq`` = transform | resynth | auto (align/resynth.py)."""
from __future__ import annotations

import numpy as np
import pytest

from tripled_fast.align.resynth import aligned_lq, resynthesise_lq
from tripled_fast.data.degrade import apply_degradation
from tripled_fast.data.sources import stable_hash


def _patches(n: int = 6, side: int = 32, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Smooth mid-grey patches (no clipping under sigma 25 noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:side, 0:side]
    out = [100 + 30 * np.sin(xx / (2.0 + i)) * np.cos(yy / (3.0 + rng.uniform())) for i in range(n)]
    return np.stack(out)[..., None].repeat(channels, -1).round().astype(np.uint8)


def test_resynth_is_the_spec_applied_per_patch_with_its_own_generator() -> None:
    gt = _patches()
    keys = [10, 11, 12, 13, 14, 15]
    lq = resynthesise_lq(gt, ["noise:sigma=25"] * 6, keys, seed=3)
    assert lq.shape == gt.shape and lq.dtype == np.uint8
    for i, k in enumerate(keys):
        want = apply_degradation(gt[i], "noise:sigma=25", np.random.default_rng(stable_hash("align-resynth", 3, k)))
        np.testing.assert_array_equal(lq[i], want)
    # order-free: a permuted subset gives the permuted result; another seed, other noise
    perm = [4, 0, 5, 2, 1, 3]
    np.testing.assert_array_equal(resynthesise_lq(gt[perm], ["noise:sigma=25"] * 6, [keys[i] for i in perm], seed=3),
                                  lq[perm])
    assert not np.array_equal(resynthesise_lq(gt, ["noise:sigma=25"] * 6, keys, seed=4), lq)
    # the degradation is the specified one: residual std 25 grey levels (6 x 32 x 32 samples)
    resid = lq.astype(np.float64) - gt
    assert resid.std() == pytest.approx(25.0, rel=0.03) and abs(resid.mean()) < 1.0


def test_resynth_follows_each_patch_spec_and_scale() -> None:
    gt = _patches(n=4, side=24, channels=3)
    specs = ["bicubic:scale=2", "bicubic:scale=2+noise:sigma=5", "bicubic:scale=2", "bicubic:scale=2"]
    lq = resynthesise_lq(gt, specs, [0, 1, 2, 3], seed=0)
    assert lq.shape == (4, 12, 12, 3)
    clean = apply_degradation(gt[0], "bicubic:scale=2", np.random.default_rng(0))
    np.testing.assert_array_equal(lq[0], clean)  # no randomness in a bicubic downscale
    assert np.abs(lq[1].astype(int) - apply_degradation(gt[1], "bicubic:scale=2", np.random.default_rng(0))).mean() > 2
    with pytest.raises(ValueError, match="share one scale"):
        resynthesise_lq(gt, ["bicubic:scale=2", "noise:sigma=5", "bicubic:scale=2", "bicubic:scale=2"],
                        [0, 1, 2, 3], seed=0)


def test_aligned_lq_modes() -> None:
    gt = _patches(n=4)
    transformed = np.full_like(gt, 7)
    specs = ["noise:sigma=25", "", "noise:sigma=25", ""]
    keys = [5, 6, 7, 8]
    assert aligned_lq("transform", gt, transformed, specs, keys, seed=0) is transformed
    auto = aligned_lq("auto", gt, transformed, specs, keys, seed=0)
    np.testing.assert_array_equal(auto[[1, 3]], transformed[[1, 3]])  # LQ files: the aligner's output
    np.testing.assert_array_equal(auto[[0, 2]], resynthesise_lq(gt[[0, 2]], specs[::2], keys[::2], seed=0))
    assert (transformed == 7).all()  # not written into
    with pytest.raises(ValueError, match=r"patch 6: its LQ is a file"):
        aligned_lq("resynth", gt, transformed, specs, keys, seed=0)
    every = aligned_lq("resynth", gt, transformed, ["noise:sigma=25"] * 4, keys, seed=0)
    np.testing.assert_array_equal(every[[0, 2]], auto[[0, 2]])
    with pytest.raises(ValueError, match="align.lq: expected one of"):
        aligned_lq("both", gt, transformed, specs, keys, seed=0)
    with pytest.raises(ValueError, match="one per patch"):
        aligned_lq("auto", gt, transformed, specs[:3], keys, seed=0)
    with pytest.raises(ValueError, match="scale does not match"):
        aligned_lq("auto", gt, transformed, ["bicubic:scale=2", "", "", ""], keys, seed=0)


@pytest.mark.parametrize("bad, match", [
    (lambda g: (g.astype(np.float32), ["noise:sigma=5"] * 4, [0, 1, 2, 3]), "uint8"),
    (lambda g: (g, ["noise:sigma=5"] * 3, [0, 1, 2, 3]), "one per patch"),
    (lambda g: (g, ["noise:sigma=5", "", "noise:sigma=5", "noise:sigma=5"], [0, 1, 2, 3]), "patch 1"),
])
def test_resynth_rejects_bad_input(bad, match: str) -> None:
    gt, specs, keys = bad(_patches(n=4))
    with pytest.raises(ValueError, match=match):
        resynthesise_lq(gt, specs, keys, seed=0)
