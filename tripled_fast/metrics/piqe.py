"""PIQE no-reference quality (Venkatanath et al., NCC 2015), following MATLAB's ``piqe``.

Steps: luminance (MATLAB ``rgb2gray``; 0-255, rounded), replicate padding to a multiple of 16,
MSCN with a 7x7 Gaussian (sigma 7/6, replicate borders, C = 1), then per 16x16 block:

* activity: the (unbiased) variance ``v`` of the block's MSCN values; active when ``v > 0.1``;
* noticeable artifact: some run of 6 consecutive pixels on one of the 4 block edges has an
  (unbiased) standard deviation below 0.1;
* noise: ``sqrt(v) > 2 * beta`` with ``beta = |sqrt(v) - r| / max(sqrt(v), r)`` and ``r`` the
  ratio of the standard deviations of the centre columns (7, 8; 0-based) and the surround. The
  surround is the block without columns 7 and 9: MATLAB deletes column 8 (1-based) and then
  column 9 of the already shortened block, and the reference scores include that;
* score ``= 100 * (1 + sum_active [artifact (1 - v) + noise v]) / (1 + #active)``, in [0, 100],
  higher is worse.

``pypiqe`` (the Python port used as a reference in the tests) differs only where an image's
maximum is not 255 (it stretches to the maximum), in its grey conversion (OpenCV weights, BGR
order) and in symmetric rather than replicate padding; ``piqe_score(..., compat="pypiqe")``
reproduces those choices. The two can differ by 1-2 points on images whose sides are not
multiples of 16 or whose maximum is below 255.

:class:`PIQEFeatures` is a differentiable block-wise version with sigmoid-softened thresholds.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn

from tripled_fast.metrics.brisque import MATLAB_GRAY, gaussian_kernel, mscn, to_luminance

__all__ = ["piqe_score", "piqe_block_stats", "PIQEMaps", "PIQEFeatures"]

BLOCK = 16
ACTIVITY_T = 0.1
IMPAIRED_T = 0.1
WINDOW = 6
_SURROUND_COLS = [c for c in range(BLOCK) if c not in (7, 9)]


def _piqe_luminance(img: np.ndarray, compat: str) -> np.ndarray:
    img = np.asarray(img)
    if compat == "matlab":
        lum = to_luminance(img)
        return np.round(lum) if not np.issubdtype(img.dtype, np.integer) else lum
    if compat != "pypiqe":
        raise ValueError(f"compat: expected 'matlab' or 'pypiqe', got {compat!r}")
    if img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8:
        try:  # OpenCV's BT.601 grey, what pypiqe computes when handed BGR data
            import cv2

            lum = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY).astype(np.float64)
        except ImportError:  # OpenCV's documented fixed-point weights (may differ by 1 level)
            rgb = img.astype(np.int64)
            lum = ((rgb[..., 0] * 4899 + rgb[..., 1] * 9617 + rgb[..., 2] * 1868 + 8192) >> 14).astype(np.float64)
    else:
        lum = to_luminance(img)
    return lum


def piqe_block_stats(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-block statistics of MSCN blocks ``... x 16 x 16``.

    Returns ``(variance, min_edge_segment_std, beta_margin)`` where the block is noisy when
    ``beta_margin = sqrt(v) - 2 beta > 0`` and impaired when ``min_edge_segment_std < 0.1``.
    """
    var = blocks.reshape(*blocks.shape[:-2], -1).var(-1, ddof=1)
    edges = np.stack([blocks[..., 0, :], blocks[..., :, -1], blocks[..., -1, :], blocks[..., :, 0]], -2)
    seg_std = sliding_window_view(edges, WINDOW, axis=-1).std(-1, ddof=1)  # ... x 4 x 11
    min_seg = seg_std.reshape(*seg_std.shape[:-2], -1).min(-1)
    center = np.concatenate([blocks[..., :, 7], blocks[..., :, 8]], -1)
    surround = blocks[..., _SURROUND_COLS].reshape(*blocks.shape[:-2], -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = center.std(-1, ddof=1) / surround.std(-1, ddof=1)
        ratio = np.where(np.isnan(ratio), 0.0, ratio)
        sigma = np.sqrt(var)
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
        margin = sigma - 2.0 * beta
    return var, min_seg, np.where(np.isnan(margin), -np.inf, margin)


def piqe_score(
    img: np.ndarray, *, compat: str = "matlab"
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """PIQE score and block masks.

    Args:
        img: uint8 ``H x W``, ``H x W x 1`` or RGB ``H x W x 3`` (float arrays: values in [0, 255]).
        compat: ``"matlab"`` (MATLAB's ``piqe``) or ``"pypiqe"`` (its Python port: OpenCV grey,
            symmetric padding, contrast stretched to the image maximum); the latter exists to
            validate against ``pypiqe.piqe(rgb[..., ::-1])``.
    Returns:
        ``(score, activity_mask, noticeable_artifacts_mask, noise_mask)``; masks are bool ``H x W``.
    """
    lum = _piqe_luminance(img, compat)
    h, w = lum.shape
    ph, pw = (-h) % BLOCK, (-w) % BLOCK
    if ph or pw:
        lum = np.pad(lum, ((0, ph), (0, pw)), mode="edge" if compat == "matlab" else "symmetric")
    if compat == "pypiqe":
        peak = lum.max()
        lum = np.round(255.0 * (lum / peak)) if peak > 0 else lum
    norm = mscn(lum, padding="replicate")
    hb, wb = norm.shape[0] // BLOCK, norm.shape[1] // BLOCK
    blocks = norm.reshape(hb, BLOCK, wb, BLOCK).transpose(0, 2, 1, 3)
    var, min_seg, margin = piqe_block_stats(blocks)
    active = var > ACTIVITY_T
    impaired = active & (min_seg < IMPAIRED_T)
    noisy = active & (margin > 0)
    dist = np.sum(impaired * (1.0 - var) + noisy * var)
    score = float((dist + 1.0) / (1.0 + active.sum()) * 100.0)

    def expand(m: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(m, BLOCK, 0), BLOCK, 1)[:h, :w]

    return score, expand(active), expand(impaired), expand(noisy)


class PIQEMaps(NamedTuple):
    """Outputs of :class:`PIQEFeatures`; maps are ``N x C' x H/16 x W/16`` (C' = 1 or C)."""

    variance: torch.Tensor    # block MSCN variance (activity)
    activity: torch.Tensor    # soft "variance > 0.1"
    noticeable: torch.Tensor  # soft "some edge segment std < 0.1"
    noise: torch.Tensor       # soft "sigma > 2 beta"
    score: torch.Tensor       # N x C' soft PIQE score (the hard one as temperature -> 0)


class PIQEFeatures(nn.Module):
    """Differentiable PIQE block maps for feature matching / distillation.

    Input ``N x C x H x W`` in ``[0, value_range]`` (scaled to 0-255). ``per_channel=False``:
    C in {1, 3} (RGB -> MATLAB gray, unrounded); ``per_channel=True``: each channel separately.
    H, W are replicate-padded to multiples of 16. Thresholds are replaced by
    ``sigmoid((value - threshold) / temperature)``; the edge-segment criterion uses the hard
    minimum (sub-gradient) of the segment standard deviations.
    """

    def __init__(self, value_range: float = 1.0, temperature: float = 0.02, per_channel: bool = False) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature: expected > 0, got {temperature}")
        self.scale = 255.0 / value_range
        self.temperature = temperature
        self.per_channel = per_channel
        self.register_buffer("gauss", torch.as_tensor(gaussian_kernel()), persistent=False)
        self.register_buffer("surround", torch.as_tensor(_SURROUND_COLS), persistent=False)

    def _gray(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_channel:
            return x
        if x.shape[1] == 3:
            wts = torch.as_tensor(MATLAB_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            return (x * wts).sum(1, keepdim=True)
        if x.shape[1] == 1:
            return x
        raise ValueError(f"PIQEFeatures: expected 1 or 3 channels (or per_channel=True), got {x.shape[1]}")

    def _mscn(self, lum: torch.Tensor) -> torch.Tensor:
        n, c, h, w = lum.shape
        t = lum.reshape(n * c, 1, h, w)
        g = self.gauss.to(lum.dtype)

        def blur(a: torch.Tensor) -> torch.Tensor:
            a = F.pad(a, (3, 3, 3, 3), mode="replicate")
            return F.conv2d(F.conv2d(a, g.view(1, 1, -1, 1)), g.view(1, 1, 1, -1))

        mu = blur(t)
        sigma = torch.sqrt((blur(t * t) - mu * mu).abs() + 1e-12)
        return ((t - mu) / (sigma + 1.0)).reshape(n, c, h, w)

    def forward(self, x: torch.Tensor) -> PIQEMaps:
        if x.ndim != 4:
            raise ValueError(f"PIQEFeatures: expected N x C x H x W, got shape {tuple(x.shape)}")
        lum = self._gray(x) * self.scale
        ph, pw = (-lum.shape[-2]) % BLOCK, (-lum.shape[-1]) % BLOCK
        if ph or pw:
            lum = F.pad(lum, (0, pw, 0, ph), mode="replicate")
        norm = self._mscn(lum)
        n, c, h, w = norm.shape
        hb, wb = h // BLOCK, w // BLOCK
        b = norm.reshape(n, c, hb, BLOCK, wb, BLOCK).permute(0, 1, 2, 4, 3, 5)  # n c hb wb 16 16
        var = b.flatten(-2).var(-1, unbiased=True)
        edges = torch.stack([b[..., 0, :], b[..., :, -1], b[..., -1, :], b[..., :, 0]], -2)
        segs = edges.unfold(-1, WINDOW, 1)  # ... x 4 x 11 x 6
        seg_std = torch.sqrt(segs.var(-1, unbiased=True) + 1e-12)
        min_seg = seg_std.flatten(-2).amin(-1)
        center = torch.cat([b[..., :, 7], b[..., :, 8]], -1)
        surround = b.index_select(-1, self.surround).flatten(-2)
        ratio = torch.sqrt(center.var(-1) + 1e-12) / torch.sqrt(surround.var(-1) + 1e-12)
        sigma = torch.sqrt(var + 1e-12)
        beta = (sigma - ratio).abs() / torch.maximum(sigma, ratio)
        t = self.temperature
        activity = torch.sigmoid((var - ACTIVITY_T) / t)
        noticeable = torch.sigmoid((IMPAIRED_T - min_seg) / t)
        noise = torch.sigmoid((sigma - 2.0 * beta) / t)
        dist = (activity * (noticeable * (1.0 - var) + noise * var)).flatten(-2).sum(-1)
        score = (dist + 1.0) / (1.0 + activity.flatten(-2).sum(-1)) * 100.0
        return PIQEMaps(var, activity, noticeable, noise, score)
