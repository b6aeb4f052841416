"""Gaussian KL / Frechet distance / PCA helpers of the alignment stage."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch.distributions import MultivariateNormal, Normal, kl_divergence

from tripled_fast.align.losses import (
    FeatureStats,
    GaussianKLLoss,
    PCAProjection,
    fit_pca,
    frechet_distance,
    gaussian_kl_diag,
    gaussian_kl_full,
)


def _random_spd(k: int, rng: np.random.Generator, cond: float = 50.0) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(k, k)))
    evals = np.geomspace(1.0, 1.0 / cond, k) * rng.uniform(0.5, 2.0)
    return (q * evals) @ q.T


# --------------------------------------------------------------------------- diagonal KL
def test_kl_diag_zero_for_identical_gaussians() -> None:
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(17, generator=g, dtype=torch.float64)
    var = torch.rand(17, generator=g, dtype=torch.float64) + 0.1
    assert float(gaussian_kl_diag(mu, var, mu, var)) == pytest.approx(0.0, abs=1e-15)


def test_kl_diag_matches_hand_computation() -> None:
    # P = N([1, 0], diag[1, 4]), Q = N([0, 0], diag[2, 1])
    # dim 0: 0.5 (ln 2 + (1 + 1) / 2 - 1) = 0.5 ln 2;  dim 1: 0.5 (ln(1/4) + 4 - 1) = 1.5 - ln 2
    expected = 0.5 * math.log(2.0) + 1.5 - math.log(2.0)
    args = [torch.tensor(v, dtype=torch.float64) for v in ([1.0, 0.0], [1.0, 4.0], [0.0, 0.0], [2.0, 1.0])]
    assert float(gaussian_kl_diag(*args)) == pytest.approx(expected, rel=1e-14)
    assert float(gaussian_kl_diag(*args, reduction="mean")) == pytest.approx(expected / 2, rel=1e-14)


def test_kl_diag_matches_torch_distributions_and_is_batched() -> None:
    g = torch.Generator().manual_seed(1)
    mu_p, mu_q = torch.randn(2, 4, 9, generator=g, dtype=torch.float64)
    var_p, var_q = torch.rand(2, 4, 9, generator=g, dtype=torch.float64) + 0.05
    ours = gaussian_kl_diag(mu_p, var_p, mu_q, var_q)
    ref = kl_divergence(Normal(mu_p, var_p.sqrt()), Normal(mu_q, var_q.sqrt())).sum(-1)
    assert ours.shape == (4,)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)


def test_kl_diag_eps_floors_collapsed_variance() -> None:
    mu = torch.zeros(3)
    kl = gaussian_kl_diag(mu, torch.zeros(3), mu, torch.ones(3), eps=1e-4)
    # each dim: 0.5 (ln(1 / 1e-4) + 1e-4 - 1)
    assert float(kl) == pytest.approx(3 * 0.5 * (math.log(1e4) + 1e-4 - 1.0), rel=1e-5)
    with pytest.raises(ValueError, match="reduction"):
        gaussian_kl_diag(mu, torch.ones(3), mu, torch.ones(3), reduction="max")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- full KL
def test_kl_full_matches_torch_distributions() -> None:
    rng = np.random.default_rng(2)
    k = 6
    cp, cq = (torch.from_numpy(_random_spd(k, rng)) for _ in range(2))
    mp, mq = (torch.from_numpy(rng.normal(size=k)) for _ in range(2))
    ref = kl_divergence(MultivariateNormal(mp, cp), MultivariateNormal(mq, cq))
    assert float(gaussian_kl_full(mp, cp, mq, cq)) == pytest.approx(float(ref), rel=1e-10)
    assert float(gaussian_kl_full(mp, cp, mp, cp)) == pytest.approx(0.0, abs=1e-12)


def test_kl_full_reduces_to_diag_for_diagonal_covariances_and_has_gradient() -> None:
    g = torch.Generator().manual_seed(3)
    mp, mq = torch.randn(2, 5, generator=g, dtype=torch.float64)
    vp, vq = torch.rand(2, 5, generator=g, dtype=torch.float64) + 0.2
    mp.requires_grad_(True)
    full = gaussian_kl_full(mp, torch.diag(vp), mq, torch.diag(vq))
    diag = gaussian_kl_diag(mp, vp, mq, vq)
    assert full.item() == pytest.approx(diag.item(), rel=1e-12)
    full.backward()
    torch.testing.assert_close(mp.grad, (mp - mq).detach() / vq)  # d KL / d mu_p = (mu_p - mu_q) / var_q


# --------------------------------------------------------------------------- module
def test_gaussian_kl_loss_fits_batch_with_unbiased_variance() -> None:
    rng = np.random.default_rng(4)
    feats = rng.normal(loc=0.3, scale=1.7, size=(40, 8))
    t_mean, t_var = rng.normal(size=8), rng.uniform(0.5, 2.0, size=8)
    loss = GaussianKLLoss(t_mean, t_var, eps=0.0, reduction="sum").double()
    m, v = feats.mean(0), feats.var(0, ddof=1)
    expected = 0.5 * np.sum(np.log(t_var / v) + (v + (m - t_mean) ** 2) / t_var - 1.0)
    got = loss(torch.from_numpy(feats))
    assert float(got) == pytest.approx(expected, rel=1e-12)
    x = torch.from_numpy(feats).requires_grad_(True)
    GaussianKLLoss(t_mean, t_var).double()(x).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_gaussian_kl_loss_rejects_bad_shapes() -> None:
    loss = GaussianKLLoss(np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        loss(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="at least 2"):
        loss(torch.zeros(1, 4))
    with pytest.raises(ValueError, match="positive"):
        GaussianKLLoss(np.zeros(2), np.array([1.0, 0.0]))


# --------------------------------------------------------------------------- Frechet distance
def test_frechet_diagonal_closed_form_and_symmetry() -> None:
    rng = np.random.default_rng(5)
    k = 12
    mu1, mu2 = rng.normal(size=(2, k))
    a, b = rng.uniform(0.01, 3.0, size=(2, k))
    expected = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    fd12 = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    fd21 = frechet_distance(mu2, np.diag(b), mu1, np.diag(a))
    assert fd12 == pytest.approx(expected, abs=1e-8)
    assert fd21 == pytest.approx(fd12, abs=1e-10)


@pytest.mark.parametrize("k", [3, 16, 48])
def test_frechet_matches_scipy_sqrtm_on_random_spd(k: int) -> None:
    rng = np.random.default_rng(100 + k)
    c1, c2 = _random_spd(k, rng), _random_spd(k, rng)
    mu1, mu2 = rng.normal(size=(2, k))
    covmean = scipy.linalg.sqrtm(c1 @ c2)
    ref = float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * np.trace(covmean).real)
    fd = frechet_distance(mu1, c1, mu2, c2)
    assert fd == pytest.approx(ref, rel=1e-8, abs=1e-10)
    assert frechet_distance(mu2, c2, mu1, c1) == pytest.approx(fd, rel=1e-10)


def test_frechet_zero_for_identical_singular_covariances() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5, 20))  # rank-5 covariance in 20 dims
    cov = np.cov(x, rowvar=False)
    mu = rng.normal(size=20)
    assert frechet_distance(mu, cov, mu, cov) == pytest.approx(0.0, abs=1e-8)
    # a ridge adds eps to every eigenvalue of both sides: identical inputs stay at 0
    assert frechet_distance(mu, cov, mu, cov, eps=1e-3) == pytest.approx(0.0, abs=1e-8)
    with pytest.raises(ValueError, match="cov1/cov2"):
        frechet_distance(mu, cov, mu, cov[:5, :5])


# --------------------------------------------------------------------------- PCA / stats
def _low_rank_features(rng: np.random.Generator, m: int = 500, d: int = 40, r: int = 10) -> np.ndarray:
    basis = rng.normal(size=(r, d))
    scales = np.geomspace(5.0, 0.2, r)
    return (rng.normal(size=(m, r)) * scales) @ basis + 0.01 * rng.normal(size=(m, d)) + 3.0


def test_fit_pca_matches_sklearn_and_is_deterministic() -> None:
    from sklearn.decomposition import PCA as SkPCA

    rng = np.random.default_rng(7)
    x = _low_rank_features(rng)
    pca = fit_pca(x, 8)
    sk = SkPCA(n_components=8, svd_solver="full").fit(x)
    np.testing.assert_allclose(pca.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(pca.explained_var, sk.explained_variance_, rtol=1e-9)
    np.testing.assert_allclose(np.abs(np.sum(pca.components * sk.components_, axis=1)), 1.0, atol=1e-9)
    np.testing.assert_allclose(pca.components @ pca.components.T, np.eye(8), atol=1e-12)
    # sign convention: largest-magnitude entry of each component is positive
    assert np.all(pca.components[np.arange(8), np.abs(pca.components).argmax(1)] > 0)
    again = fit_pca(x.copy(), 8, chunk=37)  # chunked accumulation gives the same basis
    np.testing.assert_allclose(again.components, pca.components, atol=1e-10)
    np.testing.assert_allclose(again.explained_var, pca.explained_var, rtol=1e-10)


def test_fit_pca_float16_input_and_rel_tol_drops_null_axes() -> None:
    rng = np.random.default_rng(8)
    x = _low_rank_features(rng, r=6)  # 6 strong axes + 0.01 isotropic noise
    pca = fit_pca(x.astype(np.float16), 20, rel_tol=1e-4)
    # noise variance 1e-4 vs. smallest strong axis (0.2^2 * |basis|^2 ~ 1.6): only the 6 survive
    assert pca.dims == 6
    assert pca.transform(x).shape == (500, 6)
    with pytest.raises(ValueError, match="dims"):
        fit_pca(x, 0)
    with pytest.raises(ValueError, match="dims"):
        fit_pca(x[:5], 5)  # at most M - 1 = 4 axes


def test_feature_stats_projection_diagonalises_full_covariance() -> None:
    rng = np.random.default_rng(9)
    x = _low_rank_features(rng)
    plain = FeatureStats.from_features(x)
    np.testing.assert_allclose(plain.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(plain.var, plain.cov.diagonal())
    pca = fit_pca(x, 6)
    proj = FeatureStats.from_features(x, pca)
    assert proj.n == 500 and proj.cov.shape == (6, 6)
    np.testing.assert_allclose(proj.mean, 0.0, atol=1e-10)
    np.testing.assert_allclose(proj.cov, np.diag(pca.explained_var), atol=1e-9 * pca.explained_var[0])


def test_pca_projection_module_matches_numpy_transform() -> None:
    rng = np.random.default_rng(10)
    x = _low_rank_features(rng)
    pca = fit_pca(x, 5)
    got = PCAProjection(pca)(torch.from_numpy(x[:7].astype(np.float32)))
    np.testing.assert_allclose(got.numpy(), pca.transform(x[:7]), rtol=1e-4, atol=1e-4)
