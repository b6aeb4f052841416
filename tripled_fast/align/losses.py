"""Gaussian feature-distribution losses and distances for subset alignment.

Two feature sets are compared through Gaussian fits:

* :func:`gaussian_kl_diag` / :class:`GaussianKLLoss` -- KL(P || Q) of diagonal Gaussians
  (torch, differentiable): the training signal of the aligner.
* :func:`gaussian_kl_full` -- KL(P || Q) of full-covariance Gaussians (torch, differentiable),
  usable once the dimension has been reduced well below the sample count.
* :func:`frechet_distance` -- the Frechet (2-Wasserstein) distance between two Gaussians
  (numpy, float64): the reported subset-vs-full metric.

Why a PCA subspace
------------------
A distilled subset holds a few hundred patches while backbone features have hundreds to
thousands of dimensions (1280 for EfficientNet-Lite0, 384 for ViT-S). A covariance estimated from
``n`` samples has rank at most ``n - 1``, so a full ``D x D`` covariance of the subset is singular
and its Frechet distance is dominated by estimation noise. Both sets are therefore projected onto
the leading principal axes of the FULL set (:func:`fit_pca`), with ``dims <= min(64, n_subset - 1)``;
distances are computed there. In that basis the full set's covariance is exactly diagonal (its
PCA eigenvalues), which also makes a diagonal Gaussian an exact model of the target.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import numpy as np
import torch
from torch import nn

Reduction = Literal["sum", "mean"]

__all__ = [
    "PCA",
    "FeatureStats",
    "GaussianKLLoss",
    "PCAProjection",
    "fit_pca",
    "frechet_distance",
    "gaussian_kl_diag",
    "gaussian_kl_full",
]


# --------------------------------------------------------------------------- KL divergences
def _reduce(per_dim: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "sum":
        return per_dim.sum(dim=-1)
    if reduction == "mean":
        return per_dim.mean(dim=-1)
    raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")


def gaussian_kl_diag(
    mu_p: torch.Tensor,
    var_p: torch.Tensor,
    mu_q: torch.Tensor,
    var_q: torch.Tensor,
    eps: float = 0.0,
    reduction: Reduction = "sum",
) -> torch.Tensor:
    """KL(P || Q) between diagonal Gaussians ``P = N(mu_p, diag var_p)``, ``Q = N(mu_q, diag var_q)``.

    Per dimension ``0.5 * (log(vq / vp) + (vp + (mp - mq)^2) / vq - 1)`` (in nats), with both
    variances floored at ``eps`` (``eps > 0`` guards against a collapsed batch dimension).

    Args:
        mu_p, var_p, mu_q, var_q: ``(..., D)`` tensors, broadcastable to a common shape.
        eps: lower bound applied to both variances.
        reduction: ``"sum"`` -- the KL of the joint diagonal Gaussian (default); ``"mean"`` --
            the average per-dimension KL, which keeps loss weights comparable across ``D``.

    Returns:
        ``(...)`` tensor (a scalar for 1-D inputs).
    """
    if eps < 0:
        raise ValueError(f"eps: expected >= 0, got {eps}")
    vp = var_p.clamp_min(eps) if eps > 0 else var_p
    vq = var_q.clamp_min(eps) if eps > 0 else var_q
    per_dim = 0.5 * (torch.log(vq) - torch.log(vp) + (vp + (mu_p - mu_q) ** 2) / vq - 1.0)
    return _reduce(per_dim, reduction)


def gaussian_kl_full(
    mu_p: torch.Tensor,
    cov_p: torch.Tensor,
    mu_q: torch.Tensor,
    cov_q: torch.Tensor,
    eps: float = 0.0,
) -> torch.Tensor:
    """KL(P || Q) between full-covariance Gaussians, in nats.

    ``0.5 * (tr(Sq^-1 Sp) + (mq - mp)^T Sq^-1 (mq - mp) - k + log det Sq - log det Sp)``,
    evaluated through Cholesky factors (differentiable). ``eps * I`` is added to both covariances;
    use it when ``cov_p`` comes from a batch whose size is close to ``k``. Only meaningful when the
    dimension ``k`` is well below the number of samples behind ``cov_p`` (e.g. after a PCA projection).

    Args:
        mu_p, mu_q: ``(k,)`` means.
        cov_p, cov_q: ``(k, k)`` symmetric positive-definite covariances.
        eps: ridge added to the diagonals.

    Returns:
        scalar tensor.
    """
    if mu_p.ndim != 1 or mu_p.shape != mu_q.shape:
        raise ValueError(f"mu_p/mu_q: expected equal (k,) shapes, got {tuple(mu_p.shape)}/{tuple(mu_q.shape)}")
    k = mu_p.shape[0]
    if cov_p.shape != (k, k) or cov_q.shape != (k, k):
        raise ValueError(
            f"cov_p/cov_q: expected ({k}, {k}), got {tuple(cov_p.shape)}/{tuple(cov_q.shape)}"
        )
    if eps < 0:
        raise ValueError(f"eps: expected >= 0, got {eps}")
    eye = torch.eye(k, dtype=cov_p.dtype, device=cov_p.device)
    lp = torch.linalg.cholesky(cov_p + eps * eye)
    lq = torch.linalg.cholesky(cov_q + eps * eye)
    # tr(Sq^-1 Sp) = ||Lq^-1 Lp||_F^2 ; Mahalanobis term = ||Lq^-1 (mq - mp)||^2
    a = torch.linalg.solve_triangular(lq, lp, upper=False)
    diff = (mu_q - mu_p).unsqueeze(-1)
    b = torch.linalg.solve_triangular(lq, diff, upper=False)
    logdet_p = 2.0 * torch.log(torch.diagonal(lp)).sum()
    logdet_q = 2.0 * torch.log(torch.diagonal(lq)).sum()
    return 0.5 * ((a**2).sum() + (b**2).sum() - k + logdet_q - logdet_p)


class GaussianKLLoss(nn.Module):
    """Fit a diagonal Gaussian to a batch of features; return its KL to a fixed target Gaussian.

    ``forward(features)`` computes the batch mean and unbiased variance per dimension (``N >= 2``)
    and returns ``gaussian_kl_diag(batch_mean, batch_var, target_mean, target_var)`` -- i.e.
    KL(batch || target), the direction that penalises batch mass where the target has little.

    Args:
        target_mean: ``(D,)`` target mean.
        target_var: ``(D,)`` target variance (positive).
        eps: variance floor applied to both sides.
        reduction: ``"mean"`` (per-dimension average, default) or ``"sum"``.
    """

    def __init__(
        self,
        target_mean: torch.Tensor | np.ndarray,
        target_var: torch.Tensor | np.ndarray,
        eps: float = 1e-8,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        mean = torch.as_tensor(target_mean)
        var = torch.as_tensor(target_var)
        if mean.ndim != 1 or var.shape != mean.shape:
            raise ValueError(
                f"target_mean/target_var: expected equal (D,) shapes, got {tuple(mean.shape)}/{tuple(var.shape)}"
            )
        if not bool(torch.all(var > 0)):
            raise ValueError("target_var: expected strictly positive variances")
        if reduction not in ("sum", "mean"):
            raise ValueError(f"reduction: expected 'sum' or 'mean', got {reduction!r}")
        # kept in the given floating dtype (float64 numpy stays exact); cast to the features' dtype
        dtype = mean.dtype if mean.is_floating_point() else torch.get_default_dtype()
        self.register_buffer("target_mean", mean.to(dtype).clone())
        self.register_buffer("target_var", var.to(dtype).clone())
        self.eps = float(eps)
        self.reduction: Reduction = reduction

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """``features``: ``(N, D)`` with ``N >= 2``. Returns a scalar tensor."""
        if features.ndim != 2 or features.shape[1] != self.target_mean.shape[0]:
            raise ValueError(
                f"features: expected (N, {self.target_mean.shape[0]}), got {tuple(features.shape)}"
            )
        if features.shape[0] < 2:
            raise ValueError(f"features: expected at least 2 rows to fit a variance, got {features.shape[0]}")
        mean = features.mean(dim=0)
        var = features.var(dim=0, unbiased=True)
        return gaussian_kl_diag(
            mean,
            var,
            self.target_mean.to(features.dtype),
            self.target_var.to(features.dtype),
            eps=self.eps,
            reduction=self.reduction,
        )


# --------------------------------------------------------------------------- PCA
@dataclass(frozen=True)
class PCA:
    """A principal-component basis (float64, numpy).

    Attributes:
        mean: ``(D,)`` mean of the data the basis was fitted on.
        components: ``(k, D)`` orthonormal rows, ordered by decreasing variance.
        explained_var: ``(k,)`` variance (ddof=1) of the fitted data along each component.
    """

    mean: np.ndarray
    components: np.ndarray
    explained_var: np.ndarray

    @property
    def dims(self) -> int:
        return int(self.components.shape[0])

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Project ``(N, D)`` features to ``(N, k)`` float64 coordinates."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x: expected (N, {self.mean.shape[0]}) features, got {x.shape}")
        return (x.astype(np.float64) - self.mean) @ self.components.T


def fit_pca(full_features: np.ndarray, dims: int, rel_tol: float = 0.0, chunk: int = 8192) -> PCA:
    """Principal axes of ``full_features`` ``(M, D)`` (any float dtype), keeping up to ``dims``.

    ``rel_tol > 0`` additionally drops components whose variance is below ``rel_tol`` times the
    largest one (numerically null directions, e.g. float16 quantisation noise of a low-rank
    feature set); at least one component is always kept, so ``result.dims <= dims``.

    Deterministic: the covariance (ddof=1) is accumulated in float64 over row chunks and
    eigen-decomposed with ``numpy.linalg.eigh``; each component's sign is fixed so that its
    largest-magnitude entry is positive. Cost ``O(M D^2)``; memory ``O(D^2 + chunk D)``.

    Raises:
        ValueError: if ``full_features`` is not 2-D, has fewer than 2 rows, is not finite, or
            ``dims`` is outside ``[1, min(D, M - 1)]``.
    """
    x = np.asarray(full_features)
    if x.ndim != 2:
        raise ValueError(f"full_features: expected an (M, D) array, got shape {x.shape}")
    m, d = x.shape
    if m < 2:
        raise ValueError(f"full_features: expected at least 2 rows, got {m}")
    if not 1 <= dims <= min(d, m - 1):
        raise ValueError(f"dims: expected 1 <= dims <= min(D={d}, M-1={m - 1}), got {dims}")
    if not 0.0 <= rel_tol < 1.0:
        raise ValueError(f"rel_tol: expected 0 <= rel_tol < 1, got {rel_tol}")
    mean = np.zeros(d, dtype=np.float64)
    for start in range(0, m, chunk):
        mean += x[start : start + chunk].astype(np.float64).sum(axis=0)
    mean /= m
    if not np.all(np.isfinite(mean)):
        raise ValueError("full_features: expected finite values, found NaN or inf")
    scatter = np.zeros((d, d), dtype=np.float64)
    for start in range(0, m, chunk):
        block = x[start : start + chunk].astype(np.float64) - mean
        scatter += block.T @ block
    cov = scatter / (m - 1)
    evals, evecs = np.linalg.eigh(cov)  # ascending
    order = np.argsort(evals)[::-1][:dims]
    if rel_tol > 0:
        keep = evals[order] >= rel_tol * max(float(evals[order[0]]), 0.0)
        dims = max(int(keep.sum()), 1)
        order = order[:dims]
    comps = evecs[:, order].T.copy()
    flip = np.sign(comps[np.arange(dims), np.abs(comps).argmax(axis=1)])
    comps *= flip[:, None]
    return PCA(mean=mean, components=comps, explained_var=np.clip(evals[order], 0.0, None))


class PCAProjection(nn.Module):
    """Differentiable ``(N, D) -> (N, k)`` projection onto a :class:`PCA` basis (float32 buffers)."""

    def __init__(self, pca: PCA) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(pca.mean, dtype=torch.float32))
        self.register_buffer("components", torch.as_tensor(pca.components, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"x: expected (N, {self.mean.shape[0]}) features, got {tuple(x.shape)}")
        return (x - self.mean) @ self.components.T


# --------------------------------------------------------------------------- statistics / FD
@dataclass(frozen=True)
class FeatureStats:
    """Gaussian fit of a feature set (float64): ``mean (k,)``, ``var (k,)``, ``cov (k, k)``, ``n``.

    ``var`` and ``cov`` use ddof=1 (``var == diag(cov)``).
    """

    mean: np.ndarray
    var: np.ndarray
    cov: np.ndarray
    n: int

    @classmethod
    def from_features(cls, x: np.ndarray, pca: Optional[PCA] = None) -> "FeatureStats":
        """Fit ``(N, D)`` features, first projected onto ``pca`` (to ``(N, k)``) when given."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"x: expected an (N, D) array with N >= 2, got shape {x.shape}")
        z = pca.transform(x) if pca is not None else x.astype(np.float64)
        if not np.all(np.isfinite(z)):
            raise ValueError("x: expected finite features, found NaN or inf")
        mean = z.mean(axis=0)
        zc = z - mean
        cov = zc.T @ zc / (z.shape[0] - 1)
        return cls(mean=mean, var=np.diag(cov).copy(), cov=cov, n=int(z.shape[0]))


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    evals, evecs = np.linalg.eigh(cov)
    return (evecs * np.sqrt(np.clip(evals, 0.0, None))) @ evecs.T


def frechet_distance(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray, eps: float = 0.0
) -> float:
    """Frechet distance ``||mu1 - mu2||^2 + tr(C1) + tr(C2) - 2 tr((C1^1/2 C2 C1^1/2)^1/2)``.

    Computed in float64 by symmetric eigen-decompositions only: ``S = C1^{1/2}`` from ``eigh``
    (negative round-off eigenvalues clipped to 0), then the eigenvalues of the symmetric PSD
    matrix ``S C2 S`` -- which equal those of ``C1 C2`` -- are clipped at 0 and their square
    roots summed. Unlike ``scipy.linalg.sqrtm(C1 @ C2)`` this never yields complex parts and is
    well defined for singular covariances, so no ridge is needed; ``eps * I`` is added to both
    covariances only when ``eps > 0`` (which changes the value by ``O(eps)`` per dimension).
    Symmetric in its arguments up to round-off. The result is clipped at 0.

    Args:
        mu1, mu2: ``(k,)`` means.
        cov1, cov2: ``(k, k)`` symmetric positive-semidefinite covariances.

    Returns:
        the squared 2-Wasserstein distance between the Gaussians, as a Python float.
    """
    mu1 = np.asarray(mu1, dtype=np.float64)
    mu2 = np.asarray(mu2, dtype=np.float64)
    c1 = np.asarray(cov1, dtype=np.float64)
    c2 = np.asarray(cov2, dtype=np.float64)
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"mu1/mu2: expected equal (k,) shapes, got {mu1.shape}/{mu2.shape}")
    k = mu1.shape[0]
    if c1.shape != (k, k) or c2.shape != (k, k):
        raise ValueError(f"cov1/cov2: expected ({k}, {k}), got {c1.shape}/{c2.shape}")
    if eps < 0:
        raise ValueError(f"eps: expected >= 0, got {eps}")
    c1 = 0.5 * (c1 + c1.T)
    c2 = 0.5 * (c2 + c2.T)
    if eps > 0:
        c1 = c1 + eps * np.eye(k)
        c2 = c2 + eps * np.eye(k)
    s1 = _psd_sqrt(c1)
    inner = s1 @ c2 @ s1
    inner = 0.5 * (inner + inner.T)
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh(inner), 0.0, None)).sum())
    diff = mu1 - mu2
    fd = float(diff @ diff) + float(np.trace(c1)) + float(np.trace(c2)) - 2.0 * tr_sqrt
    return max(fd, 0.0)
