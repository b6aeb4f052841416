"""PSNR / SSIM against independent straightforward implementations written here."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.signal import convolve2d

from tripled_fast.metrics.psnr_ssim import (
    calculate_psnr,
    calculate_ssim,
    psnr_torch,
    rgb2y,
    ssim_torch,
)

SET5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr" / "Set5"


# ----------------------------------------------------------------- independent references
def ref_y(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., i].astype(np.float64) for i in range(3))
    return 16.0 + 65.481 / 255.0 * r + 128.553 / 255.0 * g + 24.966 / 255.0 * b


def ref_psnr(a: np.ndarray, b: np.ndarray, crop: int, y: bool) -> float:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if crop:
        a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    if y:
        a, b = ref_y(a), ref_y(b)
    return 10 * math.log10(255.0**2 / np.mean((a - b) ** 2))


def ref_ssim(a: np.ndarray, b: np.ndarray, crop: int, y: bool) -> float:
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if crop:
        a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    if y:
        a, b = ref_y(a)[..., None], ref_y(b)[..., None]
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    k = np.array([math.exp(-((i - 5) ** 2) / (2 * 1.5**2)) for i in range(11)])
    win = np.outer(k, k) / np.outer(k, k).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for c in range(a.shape[2]):
        x, z = a[..., c], b[..., c]
        f = lambda t: convolve2d(t, win[::-1, ::-1], mode="valid")  # noqa: E731 (correlation)
        m1, m2 = f(x), f(z)
        v1, v2, cov = f(x * x) - m1**2, f(z * z) - m2**2, f(x * z) - m1 * m2
        smap = (2 * m1 * m2 + c1) * (2 * cov + c2) / ((m1**2 + m2**2 + c1) * (v1 + v2 + c2))
        vals.append(smap.mean())
    return float(np.mean(vals))


# ----------------------------------------------------------------- data
def synthetic_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1234)
    out = []
    for shape in [(40, 52, 3), (33, 29, 1), (48, 48, 3)]:
        gt = rng.integers(0, 256, size=shape, dtype=np.uint8)
        # smooth it a little so SSIM is not trivially ~0
        gt = ((gt.astype(np.int32) + np.roll(gt, 1, 0) + np.roll(gt, 1, 1)) // 3).astype(np.uint8)
        noise = rng.normal(0, 12, size=shape)
        lq = np.clip(np.round(gt + noise), 0, 255).astype(np.uint8)
        out.append((gt, lq))
    return out


def set5_pairs() -> list[tuple[np.ndarray, np.ndarray]]:
    if not SET5.is_dir():
        pytest.skip(f"real data not found at {SET5}")
    out = []
    for name in ["baby", "butterfly", "head"]:
        hr = np.asarray(Image.open(SET5 / "HR" / f"{name}.png").convert("RGB"))
        lr = Image.open(SET5 / "LR_bicubic_X4" / f"{name}x4.png").convert("RGB")
        h, w = lr.size[1] * 4, lr.size[0] * 4
        sr = np.asarray(lr.resize((w, h), Image.BICUBIC))
        out.append((hr[:h, :w][:160, :192], sr[:160, :192]))  # keep the test fast
    return out


# ----------------------------------------------------------------- tests
@pytest.mark.parametrize("crop", [0, 4])
@pytest.mark.parametrize("y", [False, True])
def test_psnr_ssim_match_reference_synthetic(crop: int, y: bool) -> None:
    for gt, lq in synthetic_pairs():
        yy = y and gt.shape[2] == 3
        assert calculate_psnr(lq, gt, crop, test_y_channel=y) == pytest.approx(ref_psnr(lq, gt, crop, yy), abs=1e-6)
        assert calculate_ssim(lq, gt, crop, test_y_channel=y) == pytest.approx(ref_ssim(lq, gt, crop, yy), abs=1e-6)


@pytest.mark.parametrize("y", [False, True])
def test_psnr_ssim_match_reference_set5(y: bool) -> None:
    for hr, sr in set5_pairs():
        p = calculate_psnr(sr, hr, 4, test_y_channel=y)
        s = calculate_ssim(sr, hr, 4, test_y_channel=y)
        assert p == pytest.approx(ref_psnr(sr, hr, 4, y), abs=1e-6)
        assert s == pytest.approx(ref_ssim(sr, hr, 4, y), abs=1e-6)
        assert 18.0 < p < 40.0 and 0.4 < s < 1.0  # plausible bicubic x4 values


def test_chw_order_and_float_input_agree() -> None:
    gt, lq = synthetic_pairs()[0]
    p = calculate_psnr(lq, gt, 2)
    assert calculate_psnr(lq.transpose(2, 0, 1), gt.transpose(2, 0, 1), 2, input_order="CHW") == p
    assert calculate_psnr(lq.astype(np.float32), gt.astype(np.float64), 2) == p
    s = calculate_ssim(lq, gt, 2, test_y_channel=True)
    assert calculate_ssim(lq.transpose(2, 0, 1), gt.transpose(2, 0, 1), 2, "CHW", True) == s


def test_known_values() -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    assert calculate_psnr(img + 1, img, 0) == pytest.approx(20 * math.log10(255.0), abs=1e-12)
    assert calculate_psnr(img, img, 0) == float("inf")
    assert calculate_ssim(img, img, 0) == pytest.approx(1.0, abs=1e-12)
    # a difference only in the cropped border is invisible
    other = img.copy()
    other[:3] = 0
    assert calculate_psnr(other, img, 3) == float("inf")
    # Y of pure white / black is 235 / 16 (studio range)
    assert rgb2y(np.full((1, 1, 3), 255, np.uint8))[0, 0] == pytest.approx(235.0, abs=1e-12)
    assert rgb2y(np.zeros((1, 1, 3), np.uint8))[0, 0] == 16.0
    # the R coefficient is the 65.481 one: pure red
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 255
    assert rgb2y(red)[0, 0] == pytest.approx(16 + 65.481, abs=1e-12)


def test_errors() -> None:
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="shapes differ"):
        calculate_psnr(a, np.zeros((16, 15, 3), np.uint8), 0)
    with pytest.raises(ValueError, match="crop_border"):
        calculate_psnr(a, a, 8)
    with pytest.raises(ValueError, match="input_order"):
        calculate_psnr(a, a, 0, input_order="NHWC")


@pytest.mark.parametrize("crop,y", [(0, False), (3, True), (4, False)])
def test_torch_matches_numpy(crop: int, y: bool) -> None:
    rng = np.random.default_rng(7)
    gts = rng.integers(0, 256, size=(3, 36, 44, 3), dtype=np.uint8)
    lqs = np.clip(gts.astype(int) + rng.integers(-20, 21, size=gts.shape), 0, 255).astype(np.uint8)
    to_t = lambda a: torch.from_numpy(a).permute(0, 3, 1, 2).float() / 255.0  # noqa: E731
    p = psnr_torch(to_t(lqs), to_t(gts), crop, y)
    s = ssim_torch(to_t(lqs), to_t(gts), crop, y)
    assert p.shape == (3,) and p.dtype == torch.float64
    for i in range(3):
        assert p[i].item() == pytest.approx(calculate_psnr(lqs[i], gts[i], crop, test_y_channel=y), abs=1e-6)
        assert s[i].item() == pytest.approx(calculate_ssim(lqs[i], gts[i], crop, test_y_channel=y), abs=1e-6)
    assert torch.isinf(psnr_torch(to_t(gts), to_t(gts))).all()
