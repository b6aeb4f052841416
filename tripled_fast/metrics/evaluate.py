"""Evaluate a restoration model on (name, LQ, GT) image pairs with BasicSR's protocol.

Per pair: LQ uint8 ``H x W x C`` -> float32 ``1 x C x H x W`` in [0, 1] -> (tiled) forward under
``torch.inference_mode`` -> BasicSR ``tensor2img`` quantisation (clamp to [0, 1], x255, round half
to even, uint8) -> PSNR / SSIM against GT with ``crop_border = cfg.crop_border`` or, when unset,
``scale`` for SR (scale > 1) and 0 otherwise.
"""
from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from tripled_fast.config import EvalConfig
from tripled_fast.metrics.infer import tiled_forward
from tripled_fast.metrics.psnr_ssim import calculate_psnr, calculate_ssim

__all__ = ["EvalResult", "evaluate_pairs", "tensor2img", "img2tensor", "resolve_crop_border"]


@dataclass
class EvalResult:
    """Per-image rows (``name``, ``psnr``, ``ssim``, ``height``, ``width``, ``seconds``) and means."""

    rows: list[dict] = field(default_factory=list)
    crop_border: int = 0
    test_y_channel: bool = False

    @property
    def psnr(self) -> float:
        """Mean PSNR in dB over images (``nan`` when empty; ``inf`` if any image is exact)."""
        return float(np.mean([r["psnr"] for r in self.rows])) if self.rows else math.nan

    @property
    def ssim(self) -> float:
        """Mean SSIM over images (``nan`` when empty)."""
        return float(np.mean([r["ssim"] for r in self.rows])) if self.rows else math.nan

    def to_dict(self) -> dict:
        return {
            "psnr": self.psnr,
            "ssim": self.ssim,
            "count": len(self.rows),
            "crop_border": self.crop_border,
            "test_y_channel": self.test_y_channel,
            "images": [dict(r) for r in self.rows],
        }


def resolve_crop_border(cfg: EvalConfig, scale: int) -> int:
    """``cfg.crop_border`` if set, else ``scale`` for SR and 0 for same-size restoration."""
    if cfg.crop_border is not None:
        if cfg.crop_border < 0:
            raise ValueError(f"eval.crop_border: expected >= 0, got {cfg.crop_border}")
        return int(cfg.crop_border)
    return int(scale) if scale > 1 else 0


def img2tensor(img: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """uint8 ``H x W x C`` -> float32 ``1 x C x H x W`` in [0, 1] on ``device``."""
    if img.dtype != np.uint8 or img.ndim != 3:
        raise ValueError(f"expected a uint8 H x W x C image, got {img.dtype} with shape {img.shape}")
    t = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    return t.to(device=device).unsqueeze(0).to(torch.float32).div_(255.0)


def tensor2img(t: torch.Tensor) -> np.ndarray:
    """``1 x C x H x W`` (or ``C x H x W``) in [0, 1] -> uint8 ``H x W x C`` (BasicSR ``tensor2img``)."""
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"tensor2img: expected a batch of one, got shape {tuple(t.shape)}")
        t = t[0]
    if t.ndim != 3:
        raise ValueError(f"tensor2img: expected C x H x W, got shape {tuple(t.shape)}")
    arr = t.detach().float().cpu().clamp_(0, 1).numpy().transpose(1, 2, 0)
    return (arr * 255.0).round().astype(np.uint8)


def evaluate_pairs(
    model: nn.Module,
    pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
    *,
    scale: int,
    cfg: EvalConfig,
    device: str | torch.device = "cpu",
) -> EvalResult:
    """PSNR / SSIM of ``model`` over ``(name, lq, gt)`` pairs (uint8 ``H x W x C`` each).

    The model runs in eval mode (its previous mode is restored afterwards). GT may exceed the
    output by less than ``scale`` pixels per side (not mod-cropped); it is then cropped to the output.
    Stops after ``cfg.max_images`` pairs when that is set.
    """
    if scale < 1:
        raise ValueError(f"scale: expected a positive integer, got {scale}")
    crop = resolve_crop_border(cfg, scale)
    result = EvalResult(crop_border=crop, test_y_channel=bool(cfg.test_y_channel))
    was_training = model.training
    model.eval()
    try:
        for i, (name, lq, gt) in enumerate(pairs):
            if cfg.max_images is not None and i >= cfg.max_images:
                break
            if gt.dtype != np.uint8 or gt.ndim != 3:
                raise ValueError(f"{name}: expected a uint8 H x W x C GT image, got {gt.dtype} {gt.shape}")
            start = time.perf_counter()
            with torch.inference_mode():
                out = tiled_forward(
                    model, img2tensor(lq, device), scale=scale, tile=cfg.tile, overlap=cfg.tile_overlap
                )
            sr = tensor2img(out)
            seconds = time.perf_counter() - start
            h, w = sr.shape[:2]
            if sr.shape[2] != gt.shape[2]:
                raise ValueError(f"{name}: model output has {sr.shape[2]} channels, GT has {gt.shape[2]}")
            if not (h <= gt.shape[0] < h + scale and w <= gt.shape[1] < w + scale):
                raise ValueError(
                    f"{name}: output {h}x{w} does not match GT {gt.shape[0]}x{gt.shape[1]} at scale {scale}"
                )
            gt = gt[:h, :w]
            result.rows.append(
                {
                    "name": name,
                    "psnr": calculate_psnr(sr, gt, crop, test_y_channel=cfg.test_y_channel),
                    "ssim": calculate_ssim(sr, gt, crop, test_y_channel=cfg.test_y_channel),
                    "height": int(h),
                    "width": int(w),
                    "seconds": seconds,
                }
            )
    finally:
        model.train(was_training)
    return result
