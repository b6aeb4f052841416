"""Full-reference PSNR / SSIM with BasicSR's conventions, in numpy and batched torch.

Conventions (``basicsr.metrics.psnr_ssim``):

* inputs are images with values in ``[0, 255]`` (uint8 or float), ``HWC`` or ``CHW``;
* everything is computed in float64;
* ``crop_border`` pixels are removed from each side before measuring;
* ``test_y_channel`` measures only the luma of MATLAB's ``rgb2ycbcr`` (BT.601, studio range
  16-235): ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255``. Our images are RGB, so the
  65.481 coefficient multiplies channel 0 (BasicSR reads BGR with OpenCV and writes the same
  coefficients in reverse order);
* PSNR is ``10 log10(255^2 / MSE)`` over all pixels and channels, ``inf`` for identical images;
* SSIM uses an 11x11 Gaussian window (sigma 1.5), 'valid' filtering, ``C1 = (0.01 * 255)^2``,
  ``C2 = (0.03 * 255)^2``, the mean SSIM map per channel, then the mean over channels.

BasicSR's ``to_y_channel`` passes through float32; here the luma is computed in float64
(differences are below 1e-5 grey levels).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "rgb2y",
    "calculate_psnr",
    "calculate_ssim",
    "psnr_torch",
    "ssim_torch",
    "gaussian_window",
]

_Y_COEF = np.array([65.481, 128.553, 24.966], dtype=np.float64)  # R, G, B
_SSIM_C1 = (0.01 * 255.0) ** 2
_SSIM_C2 = (0.03 * 255.0) ** 2


def rgb2y(img: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2ycbcr`` luma of an RGB image in ``[0, 255]``.

    Args:
        img: ``H x W x 3`` RGB (uint8 or float, values in [0, 255]).
    Returns:
        ``H x W`` float64 luma in [16, 235].
    """
    img = np.asarray(img)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"rgb2y: expected an H x W x 3 RGB image, got shape {img.shape}")
    return img.astype(np.float64) @ _Y_COEF / 255.0 + 16.0


def _to_hwc64(img: np.ndarray, input_order: str, name: str) -> np.ndarray:
    if input_order not in ("HWC", "CHW"):
        raise ValueError(f"input_order: expected 'HWC' or 'CHW', got {input_order!r}")
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    elif img.ndim == 3:
        if input_order == "CHW":
            img = img.transpose(1, 2, 0)
    else:
        raise ValueError(f"{name}: expected a 2-D or 3-D image array, got shape {img.shape}")
    return img.astype(np.float64)


def _prepare(
    img: np.ndarray, img2: np.ndarray, crop_border: int, input_order: str, test_y_channel: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 ``H x W x C`` after cropping and optional luma conversion."""
    a = _to_hwc64(img, input_order, "img")
    b = _to_hwc64(img2, input_order, "img2")
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape} (HWC)")
    if crop_border < 0:
        raise ValueError(f"crop_border: expected >= 0, got {crop_border}")
    if crop_border > 0:
        if 2 * crop_border >= min(a.shape[0], a.shape[1]):
            raise ValueError(f"crop_border={crop_border} leaves no pixels of a {a.shape[:2]} image")
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if test_y_channel and a.shape[2] == 3:
        a = rgb2y(a)[..., None]
        b = rgb2y(b)[..., None]
    return a, b


def calculate_psnr(
    img: np.ndarray,
    img2: np.ndarray,
    crop_border: int,
    input_order: str = "HWC",
    test_y_channel: bool = False,
) -> float:
    """PSNR in dB between two images in [0, 255] (BasicSR ``calculate_psnr``).

    Args:
        img, img2: ``H x W x C`` (or ``C x H x W`` with ``input_order="CHW"``, or ``H x W``).
        crop_border: pixels removed from every side.
        test_y_channel: measure only the MATLAB BT.601 luma of RGB images.
    Returns:
        PSNR in dB; ``inf`` when the (cropped) images are identical.
    """
    a, b = _prepare(img, img2, crop_border, input_order, test_y_channel)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * math.log10(255.0 * 255.0 / mse)


def gaussian_window(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian (OpenCV ``getGaussianKernel``), float64 of length ``size``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def _filter_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Separable 'valid' correlation of a 2-D float64 array with the 1-D kernel ``g``."""
    k = g.shape[0]
    h, w = img.shape
    rows = np.zeros((h - k + 1, w), dtype=np.float64)
    for i in range(k):
        rows += g[i] * img[i : i + h - k + 1]
    out = np.zeros((h - k + 1, w - k + 1), dtype=np.float64)
    for j in range(k):
        out += g[j] * rows[:, j : j + w - k + 1]
    return out


def _ssim_channel(a: np.ndarray, b: np.ndarray, g: np.ndarray) -> float:
    mu1 = _filter_valid(a, g)
    mu2 = _filter_valid(b, g)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = _filter_valid(a * a, g) - mu1_sq
    s2 = _filter_valid(b * b, g) - mu2_sq
    s12 = _filter_valid(a * b, g) - mu12
    num = (2.0 * mu12 + _SSIM_C1) * (2.0 * s12 + _SSIM_C2)
    den = (mu1_sq + mu2_sq + _SSIM_C1) * (s1 + s2 + _SSIM_C2)
    return float(np.mean(num / den))


def calculate_ssim(
    img: np.ndarray,
    img2: np.ndarray,
    crop_border: int,
    input_order: str = "HWC",
    test_y_channel: bool = False,
) -> float:
    """SSIM between two images in [0, 255] (BasicSR ``calculate_ssim``).

    Args: as :func:`calculate_psnr`; the cropped image must be at least 11 x 11.
    Returns:
        Mean over channels of the mean SSIM map ('valid' 11x11 Gaussian window, sigma 1.5).
    """
    a, b = _prepare(img, img2, crop_border, input_order, test_y_channel)
    if min(a.shape[0], a.shape[1]) < 11:
        raise ValueError(f"calculate_ssim: expected images of at least 11 x 11 after cropping, got {a.shape[:2]}")
    g = gaussian_window(11, 1.5)
    return float(np.mean([_ssim_channel(a[..., c], b[..., c], g) for c in range(a.shape[2])]))


# --------------------------------------------------------------------------- torch (batched)
def _prepare_torch(
    x: torch.Tensor, y: torch.Tensor, crop_border: int, y_channel: bool, quantize: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    if x.ndim != 4 or x.shape != y.shape:
        raise ValueError(
            f"expected two N x C x H x W tensors of equal shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if crop_border < 0:
        raise ValueError(f"crop_border: expected >= 0, got {crop_border}")
    a = x.detach().to(torch.float64)
    b = y.detach().to(torch.float64)
    if quantize:  # BasicSR's tensor2img: clamp to [0, 1], scale, round half to even
        a = (a.clamp(0, 1) * 255.0).round()
        b = (b.clamp(0, 1) * 255.0).round()
    else:
        a, b = a * 255.0, b * 255.0
    if crop_border > 0:
        a = a[..., crop_border:-crop_border, crop_border:-crop_border]
        b = b[..., crop_border:-crop_border, crop_border:-crop_border]
        if a.shape[-1] == 0 or a.shape[-2] == 0:
            raise ValueError(f"crop_border={crop_border} leaves no pixels of a {tuple(x.shape[-2:])} image")
    if y_channel and a.shape[1] == 3:
        coef = torch.as_tensor(_Y_COEF, dtype=torch.float64, device=a.device).view(1, 3, 1, 1)
        a = (a * coef).sum(1, keepdim=True) / 255.0 + 16.0
        b = (b * coef).sum(1, keepdim=True) / 255.0 + 16.0
    return a, b


def psnr_torch(
    x: torch.Tensor,
    y: torch.Tensor,
    crop_border: int = 0,
    y_channel: bool = False,
    *,
    quantize: bool = True,
) -> torch.Tensor:
    """Per-image PSNR in dB of batched tensors in [0, 1] (for validation during training).

    Args:
        x, y: ``N x C x H x W`` tensors with values in [0, 1].
        crop_border: pixels removed from every side.
        y_channel: measure the MATLAB BT.601 luma of 3-channel inputs.
        quantize: first round to 8-bit levels like BasicSR's ``tensor2img`` (then the result
            equals :func:`calculate_psnr` on the uint8 images to float64 precision).
    Returns:
        float64 tensor of shape ``N`` (``inf`` where an image pair is identical).
    """
    a, b = _prepare_torch(x, y, crop_border, y_channel, quantize)
    mse = ((a - b) ** 2).flatten(1).mean(1)
    return 10.0 * torch.log10(255.0 * 255.0 / mse)


def ssim_torch(
    x: torch.Tensor,
    y: torch.Tensor,
    crop_border: int = 0,
    y_channel: bool = False,
    *,
    quantize: bool = True,
) -> torch.Tensor:
    """Per-image SSIM of batched tensors in [0, 1] (same conventions as :func:`calculate_ssim`).

    Args/returns: as :func:`psnr_torch`; returns a float64 tensor of shape ``N``.
    """
    a, b = _prepare_torch(x, y, crop_border, y_channel, quantize)
    n, c, h, w = a.shape
    if min(h, w) < 11:
        raise ValueError(f"ssim_torch: expected images of at least 11 x 11 after cropping, got {(h, w)}")
    g = torch.as_tensor(gaussian_window(11, 1.5), dtype=torch.float64, device=a.device)
    kh = g.view(1, 1, 11, 1).expand(c, 1, 11, 1)
    kw = g.view(1, 1, 1, 11).expand(c, 1, 1, 11)

    def filt(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(t, kh, groups=c), kw, groups=c)

    mu1, mu2 = filt(a), filt(b)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = filt(a * a) - mu1_sq
    s2 = filt(b * b) - mu2_sq
    s12 = filt(a * b) - mu12
    ssim_map = ((2 * mu12 + _SSIM_C1) * (2 * s12 + _SSIM_C2)) / (
        (mu1_sq + mu2_sq + _SSIM_C1) * (s1 + s2 + _SSIM_C2)
    )
    return ssim_map.flatten(2).mean(2).mean(1)
