"""Distribution alignment of the distilled subset (TripleD's third D).

A small residual CNN (:class:`AlignerCNN`) is trained to nudge the selected patches so that
their backbone-feature distribution moves toward the full pool's, while an L2 term keeps the
pixels close to the originals. The trained transform is then applied identically to the GT and
the LQ side of every pair, so pairs stay consistent (a fully convolutional, mostly local
photometric correction is valid at both resolutions). For a synthesised pool the callers can
instead re-degrade the aligned GT with each pair's own spec (``align.lq``, :mod:`.resynth`), since
the transform also changes the degradation (it smooths noise as readily as it shifts tone).

Design choices (see :func:`align_subset`):

* **KL in the full set's PCA subspace, diagonal.** Features are projected onto the top ``k``
  principal axes of the full pool (``k <= min(cfg.pca_dims, n_subset - 1, D)``; numerically null
  axes, below 1e-5 of the largest variance, are dropped). In that basis the
  full set's covariance is exactly diagonal (its eigenvalues) and its mean is 0, so the target
  Gaussian is modelled without approximation; a training batch of 32 patches cannot estimate a
  ``k x k`` covariance (rank <= 31) but estimates ``k`` marginal variances well. A diagonal KL in
  the raw ``D``-dimensional space (1280 for EfficientNet-Lite0) was rejected: every one of the
  ``D`` correlated, mostly low-variance channels would weigh as much as a principal axis (their
  ``1 / var`` terms make it noisy with batch-size estimates), and it would optimise
  a different quantity than the reported Frechet distance, which lives in the same subspace.
  The KL is averaged per dimension (``reduction="mean"``) so ``cfg.kl_weight`` does not depend on k.
* **Only one side is embedded** (``cfg.on``, default GT): ``full_features`` describe one side of
  the pool, so only that side has a target distribution. The other side receives the same
  transform without a loss of its own.
* Batches are fed in channels-last memory layout (input only: the caller's ``embed`` is not
  re-laid-out), which PyTorch propagates through the convolutions; on CPU this measured about
  1.3x (EfficientNet-Lite0 forward+backward) and 2x (the aligner) faster than NCHW. An embed
  that re-lays its input out as NCHW (``features.extract.BackboneEmbed`` does) forgoes the first.
* Generated images are clamped to ``[0, 1]`` before the embedding during training, so the loss
  sees what is finally written out (up to uint8 rounding).
"""
from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ..config import AlignConfig
from .losses import PCA, FeatureStats, GaussianKLLoss, PCAProjection, fit_pca, frechet_distance, gaussian_kl_diag

__all__ = ["AlignerCNN", "AlignResult", "align_subset"]

# Principal axes whose variance is below this fraction of the largest are dropped from the KL /
# Frechet subspace (numerically null directions of a low-rank or float16-quantised feature set,
# whose per-dimension KL would otherwise be dominated by round-off); also the variance floor.
_REL_EIG_TOL = 1e-5


class AlignerCNN(nn.Module):
    """Residual conv net ``y = x + body(x)``; exactly the identity at initialisation.

    ``body`` is ``depth`` 3x3 convolutions (``channels -> width -> ... -> width -> channels``)
    with ReLU between them and replicate padding (no dark border bias). The last convolution's
    weight and bias are zero, so ``body(x) == 0`` and the output equals the input bit for bit
    until the first optimiser step. Fully convolutional: any ``H x W``.

    Args:
        channels: image channels ``C`` (1 or 3).
        width: hidden channels.
        depth: number of convolutions (>= 2).
        generator: optional ``torch.Generator`` for the (Kaiming-uniform) hidden-layer init;
            without one the global torch RNG is used.

    Shapes: ``(N, C, H, W) -> (N, C, H, W)``, float.
    """

    def __init__(
        self,
        channels: int,
        width: int = 16,
        depth: int = 3,
        generator: Optional[torch.Generator] = None,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels: expected >= 1, got {channels}")
        if width < 1:
            raise ValueError(f"width: expected >= 1, got {width}")
        if depth < 2:
            raise ValueError(f"depth: expected >= 2 convolutions, got {depth}")
        self.channels = channels
        layers: list[nn.Module] = []
        c_in = channels
        for _ in range(depth - 1):
            layers += [nn.Conv2d(c_in, width, 3, padding=1, padding_mode="replicate"), nn.ReLU(inplace=True)]
            c_in = width
        self.last = nn.Conv2d(c_in, channels, 3, padding=1, padding_mode="replicate")
        self.body = nn.Sequential(*layers, self.last)
        self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None) -> None:
        """Kaiming-uniform hidden convolutions (bias 0), zero last convolution (identity map)."""
        for module in self.body:
            if isinstance(module, nn.Conv2d) and module is not self.last:
                nn.init.kaiming_uniform_(module.weight, a=0.0, nonlinearity="relu", generator=generator)
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.last.weight)
        nn.init.zeros_(self.last.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"x: expected (N, {self.channels}, H, W), got {tuple(x.shape)}")
        return x + self.body(x)


@dataclass
class AlignResult:
    """Output of :func:`align_subset`.

    Attributes:
        gt, lq: aligned ``uint8`` stacks, same shapes as the inputs.
        fd_before, fd_after: Frechet distance subset-vs-full in the full set's PCA subspace.
        kl_before, kl_after: per-dimension diagonal KL(subset || full) in the same subspace
            (the training objective evaluated on the whole subset).
        history: one dict per step: ``step``, ``loss``, ``kl``, ``pixel_mse``.
        pca_dims: dimension ``k`` of the subspace used.
    """

    gt: np.ndarray
    lq: np.ndarray
    fd_before: float
    fd_after: float
    kl_before: float
    kl_after: float
    history: list[dict] = field(default_factory=list)
    pca_dims: int = 0


# --------------------------------------------------------------------------- helpers
_CL = torch.channels_last


def _to_float(stack: np.ndarray) -> torch.Tensor:
    """``uint8 (N, h, w, C)`` -> ``float32 (N, C, h, w)`` in ``[0, 1]`` (CPU, channels-last memory)."""
    x = torch.from_numpy(np.ascontiguousarray(stack)).permute(0, 3, 1, 2)
    return x.float().div_(255.0).contiguous(memory_format=_CL)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """``float (N, C, h, w)`` in ``[0, 1]`` -> ``uint8 (N, h, w, C)`` (clamped, rounded)."""
    y = x.clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8)
    return y.permute(0, 2, 3, 1).contiguous().cpu().numpy()


def _resize(x: torch.Tensor, size: Optional[int]) -> torch.Tensor:
    if size is None or (x.shape[-2] == size and x.shape[-1] == size):
        return x
    down = x.shape[-2] > size or x.shape[-1] > size
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=down)


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and ``requires_grad=False`` for the duration; previous state restored after."""
    was_training = module.training
    flags = [(p, p.requires_grad) for p in module.parameters()]
    module.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        module.train(was_training)


def _check_inputs(gt: np.ndarray, lq: np.ndarray, full_features: np.ndarray, cfg: AlignConfig) -> None:
    for name, arr in (("gt", gt), ("lq", lq)):
        if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim != 4:
            raise ValueError(f"{name}: expected a uint8 N x h x w x C array, got "
                             f"{getattr(arr, 'dtype', type(arr))} with shape {getattr(arr, 'shape', None)}")
        if arr.shape[3] not in (1, 3):
            raise ValueError(f"{name}: expected C in {{1, 3}}, got shape {arr.shape}")
    if gt.shape[0] != lq.shape[0] or gt.shape[3] != lq.shape[3]:
        raise ValueError(f"gt/lq: expected the same N and C, got {gt.shape} and {lq.shape}")
    if gt.shape[0] < 2:
        raise ValueError(f"gt: expected at least 2 patches to fit a distribution, got {gt.shape[0]}")
    sh, sw = gt.shape[1] / lq.shape[1], gt.shape[2] / lq.shape[2]
    if sh != sw or not float(sh).is_integer():
        raise ValueError(f"gt/lq: expected GT sides an integer multiple (same in h and w) of LQ sides, "
                         f"got {gt.shape[1:3]} and {lq.shape[1:3]}")
    ff = np.asarray(full_features)
    if ff.ndim != 2 or ff.shape[0] < 2:
        raise ValueError(f"full_features: expected an (M, D) array with M >= 2, got shape {ff.shape}")
    if cfg.steps < 0:
        raise ValueError(f"align.steps: expected >= 0, got {cfg.steps}")
    if cfg.batch_size < 2:
        raise ValueError(f"align.batch_size: expected >= 2, got {cfg.batch_size}")
    if not cfg.lr > 0:
        raise ValueError(f"align.lr: expected > 0, got {cfg.lr}")
    if cfg.kl_weight < 0 or cfg.pixel_weight < 0:
        raise ValueError(f"align.kl_weight / align.pixel_weight: expected >= 0, got {cfg.kl_weight} / {cfg.pixel_weight}")
    if cfg.pca_dims < 1:
        raise ValueError(f"align.pca_dims: expected >= 1, got {cfg.pca_dims}")
    if cfg.on not in ("gt", "lq"):
        raise ValueError(f"align.on: expected 'gt' or 'lq', got {cfg.on!r}")
    if cfg.input_size is not None and cfg.input_size < 1:
        raise ValueError(f"align.input_size: expected >= 1 or null, got {cfg.input_size}")


@torch.no_grad()
def _map_batched(fn: nn.Module, x: torch.Tensor, batch: int, device: torch.device) -> torch.Tensor:
    outs = [
        fn(x[i : i + batch].to(device).contiguous(memory_format=_CL)).float().cpu()
        for i in range(0, x.shape[0], batch)
    ]
    return torch.cat(outs, dim=0)


class _Embedder(nn.Module):
    """``(N, C, h, w)`` in [0, 1] -> ``(N, D)``: optional resize, then the frozen embedding."""

    def __init__(self, embed: nn.Module, size: Optional[int]) -> None:
        super().__init__()
        self.embed = embed
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(_resize(x, self.size))


def _subset_metrics(feats: np.ndarray, pca: PCA, target_var: np.ndarray) -> tuple[float, float]:
    """(Frechet distance, per-dim diagonal KL) of subset features vs the full set, in PCA space."""
    stats = FeatureStats.from_features(feats, pca)
    zeros = np.zeros(pca.dims)
    fd = frechet_distance(stats.mean, stats.cov, zeros, np.diag(target_var))
    kl = gaussian_kl_diag(
        torch.from_numpy(stats.mean), torch.from_numpy(stats.var),
        torch.from_numpy(zeros), torch.from_numpy(target_var), reduction="mean",
    )
    return fd, float(kl)


# --------------------------------------------------------------------------- public
def align_subset(
    gt: np.ndarray,
    lq: np.ndarray,
    embed: nn.Module,
    full_features: np.ndarray,
    cfg: AlignConfig,
    *,
    seed: int,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> AlignResult:
    """Refine the subset so its feature distribution moves toward the full pool's.

    Args:
        gt: ``uint8 (N, h, w, C)`` selected GT patches.
        lq: ``uint8 (N, h/s, w/s, C)`` their LQ partners (integer scale ``s``).
        embed: frozen differentiable feature map, ``float [0, 1] (B, C, H, W) -> (B, D)``; the same
            model that produced ``full_features``. It is moved to ``device`` (in place), used in
            eval mode with gradients off, and its train flag / ``requires_grad`` are restored after.
        full_features: ``(M, D)`` features of the full pool (float16/32), side ``cfg.on``.
        cfg: :class:`~tripled_fast.config.AlignConfig`. ``cfg.input_size``, when set, resizes the
            patches (bilinear, antialiased when shrinking) before ``embed`` and must match how
            ``full_features`` were computed.
        seed: seeds the aligner's init and the batch sampling (own ``torch.Generator``).
        device: where the aligner and embedding run.
        progress: show a tqdm bar over the steps.

    Procedure: ``k <= min(cfg.pca_dims, N - 1, D, M - 1)`` principal axes of the full features
    (axes with variance below 1e-5 of the largest are dropped);
    ``cfg.steps`` Adam steps on the aligner only, each on ``min(cfg.batch_size, N)`` patches drawn
    without replacement, minimising ``kl_weight * KL_diag(batch || full) + pixel_weight *
    MSE(aligner(x), x)`` (x = side ``cfg.on``, KL per dimension in the PCA subspace); then the
    aligner is applied to all GT and LQ patches (no grad, batched), clamped and rounded to uint8.
    ``fd_*`` / ``kl_*`` embed the whole subset before / after. With ``cfg.enabled`` False the
    inputs are returned unchanged (copies) and the "after" metrics equal the "before" ones.

    Raises:
        ValueError: on malformed inputs or config values, or when ``embed`` returns a width
            other than ``D``.
        FloatingPointError: if the training loss becomes NaN or infinite.
    """
    _check_inputs(gt, lq, full_features, cfg)
    device = torch.device(device)
    n, channels = gt.shape[0], gt.shape[3]
    full = np.asarray(full_features)
    m, d = full.shape
    pca = fit_pca(full, min(cfg.pca_dims, n - 1, d, m - 1), rel_tol=_REL_EIG_TOL)
    k = pca.dims
    # In the PCA basis of the full set, its Gaussian is N(0, diag(eigenvalues)).
    floor = max(float(pca.explained_var.max()) * _REL_EIG_TOL, 1e-12)
    target_var = np.maximum(pca.explained_var, floor)

    gt_t, lq_t = _to_float(gt), _to_float(lq)
    src = gt_t if cfg.on == "gt" else lq_t
    eval_batch = max(cfg.batch_size, 2)

    with _frozen(embed.to(device)):
        embedder = _Embedder(embed, cfg.input_size)
        proj = PCAProjection(pca).to(device)

        def subset_features(x: torch.Tensor) -> np.ndarray:
            feats = _map_batched(embedder, x, eval_batch, device)
            if feats.ndim != 2 or feats.shape[1] != d:
                raise ValueError(f"embed: expected (B, {d}) features to match full_features, "
                                 f"got {tuple(feats.shape)}")
            return feats.numpy()

        fd_before, kl_before = _subset_metrics(subset_features(src), pca, target_var)
        if not cfg.enabled:
            return AlignResult(gt=gt.copy(), lq=lq.copy(), fd_before=fd_before, fd_after=fd_before,
                               kl_before=kl_before, kl_after=kl_before, history=[], pca_dims=k)

        gen = torch.Generator().manual_seed(int(seed))
        aligner = AlignerCNN(channels, cfg.width, cfg.depth, generator=gen)
        aligner = aligner.to(device=device, memory_format=_CL)
        kl_loss = GaussianKLLoss(np.zeros(k), target_var, eps=floor, reduction="mean").to(device)
        opt = torch.optim.Adam(aligner.parameters(), lr=cfg.lr)
        batch = min(cfg.batch_size, n)
        history: list[dict] = []

        steps = range(cfg.steps)
        if progress:
            steps = tqdm(steps, desc="align", leave=False)
        aligner.train()
        for step in steps:
            idx = torch.randperm(n, generator=gen)[:batch]
            x = src[idx].to(device).contiguous(memory_format=_CL)
            y = aligner(x).clamp(0.0, 1.0)
            kl = kl_loss(proj(embedder(y)))
            pix = F.mse_loss(y, x)
            loss = cfg.kl_weight * kl + cfg.pixel_weight * pix
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            rec = {"step": step, "loss": loss.item(), "kl": kl.item(), "pixel_mse": pix.item()}
            if not all(math.isfinite(v) for v in (rec["loss"], rec["kl"])):
                raise FloatingPointError(f"align: non-finite loss at step {step}: {rec}")
            history.append(rec)

        aligner.eval()
        gt_out = _map_batched(aligner, gt_t, eval_batch, device)
        lq_out = _map_batched(aligner, lq_t, eval_batch, device)
        gt_u8, lq_u8 = _to_uint8(gt_out), _to_uint8(lq_out)
        after_src = _to_float(gt_u8 if cfg.on == "gt" else lq_u8)
        fd_after, kl_after = _subset_metrics(subset_features(after_src), pca, target_var)

    return AlignResult(gt=gt_u8, lq=lq_u8, fd_before=fd_before, fd_after=fd_after,
                       kl_before=kl_before, kl_after=kl_after, history=history, pca_dims=k)
