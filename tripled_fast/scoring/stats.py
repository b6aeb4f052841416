"""Per-tile low-level image statistics (the ``stats`` stage).

Every statistic is computed on the integer BT.601 luminance ``Y8`` of one square tile, taken
alone: the tile region is ``[y, min(y + size, H)) x [x, min(x + size, W))`` (tiles at the
right / bottom edge are clipped, never padded with neighbours) and stencils use replicate
padding at the border of that region, so a tile's values never depend on the pixels around it.

=============  ==============================================================================
``mean``       mean of Y over the region
``var``        population variance of Y
``entropy``    Shannon entropy (bits) of the 256-bin histogram of Y8
``grad_energy`` mean of ``Gx**2 + Gy**2``, 3x3 Sobel, replicate padding
``lap_var``    population variance of the 4-neighbour Laplacian, replicate padding
``interp_err`` mean squared difference between the region (cropped to a multiple of ``f``)
               and its ``f x f`` box-average downscale upsampled back with half-pixel bilinear
               interpolation (``F.interpolate(mode="bilinear", align_corners=False)``);
               0 when the crop is empty
=============  ==============================================================================

Backends: ``torch`` (:func:`tile_stats_reference`, float64, the oracle), ``cpp`` (the OpenMP
extension ``tripled_fast._cstats``), ``triton`` (``tripled_fast.kernels.stats``, CUDA tensors).
All return float32 arrays of shape ``(N,)`` keyed by :data:`STAT_NAMES`.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tripled_fast.errors import BackendUnavailable

STAT_NAMES: tuple[str, ...] = ("mean", "var", "entropy", "grad_energy", "lap_var", "interp_err")
BACKENDS: tuple[str, ...] = ("torch", "cpp", "triton")
MAX_INTERP_SCALE = 16  # keeps the backends' exact integer interpolation arithmetic in int32

_SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
_LAPLACE = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))
_REF_CHUNK_PIXELS = 1 << 22  # tiles x pixels per chunk in the reference (bounds its memory)


# --------------------------------------------------------------------------- input checks
def luminance_u8(img: np.ndarray) -> np.ndarray:
    """Integer BT.601 luminance ``(77 R + 150 G + 29 B + 128) >> 8``.

    Args:
        img: uint8 ``H x W x C`` with C in {1, 3} (``H x W`` is accepted as gray).
    Returns:
        uint8 ``H x W``.
    """
    img = _check_image(img)
    if img.shape[2] == 1:
        return np.ascontiguousarray(img[:, :, 0])
    c = img.astype(np.uint32)
    y = (77 * c[:, :, 0] + 150 * c[:, :, 1] + 29 * c[:, :, 2] + 128) >> 8
    return y.astype(np.uint8)


def _check_image(img: Any) -> np.ndarray:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8:
        raise ValueError(f"img: expected a uint8 numpy array H x W x C, got "
                         f"{type(img).__name__} {getattr(img, 'dtype', '')}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"img: expected shape H x W x C with C in {{1, 3}}, got {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"img: expected a non-empty image, got shape {img.shape}")
    return img


def _check_tiles(coords: Any, size: int, interp_scale: int, h: int, w: int) -> np.ndarray:
    """Validate and return coords as C-contiguous int32 ``(N, 2)``."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size: expected a positive integer tile side, got {size!r}")
    if (isinstance(interp_scale, bool) or not isinstance(interp_scale, (int, np.integer))
            or not 2 <= interp_scale <= MAX_INTERP_SCALE):
        raise ValueError(f"interp_scale: expected an integer in [2, {MAX_INTERP_SCALE}], "
                         f"got {interp_scale!r}")
    arr = np.asarray(coords)
    if arr.size == 0:
        return np.zeros((0, 2), np.int32)
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"coords: expected an integer array (N, 2) of tile (y, x), got "
                         f"{arr.dtype} {arr.shape}")
    ys, xs = arr[:, 0], arr[:, 1]
    bad = (ys < 0) | (ys >= h) | (xs < 0) | (xs >= w)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"coords[{i}] = ({int(ys[i])}, {int(xs[i])}): tiles must start inside "
                         f"the {h} x {w} image")
    return np.ascontiguousarray(arr, dtype=np.int32)


# --------------------------------------------------------------------------- torch reference
def _tile_regions(y8: torch.Tensor, coords: np.ndarray, th: int, tw: int) -> torch.Tensor:
    """Gather ``n`` equally shaped regions: ``(H, W)`` -> float64 ``(n, 1, th, tw)``."""
    c = torch.from_numpy(coords.astype(np.int64))
    rows = c[:, 0:1] + torch.arange(th)                       # (n, th)
    cols = c[:, 1:2] + torch.arange(tw)                       # (n, tw)
    return y8[rows[:, :, None], cols[:, None, :]].to(torch.float64).unsqueeze(1)


def _stats_equal_shape(t: torch.Tensor, f: int) -> dict[str, torch.Tensor]:
    """Statistics of regions of one shape. ``t``: float64 ``(n, 1, h, w)`` -> dict of ``(n,)``."""
    n, _, h, w = t.shape
    flat = t.reshape(n, -1)
    mean = flat.mean(1)
    var = flat.var(1, unbiased=False)

    counts = torch.zeros(n, 256, dtype=torch.float64)
    counts.scatter_add_(1, flat.long(), torch.ones_like(flat))
    p = counts / (h * w)
    entropy = -(p * torch.log2(torch.where(p > 0, p, torch.ones_like(p)))).sum(1)

    padded = F.pad(t, (1, 1, 1, 1), mode="replicate")
    sx = torch.tensor(_SOBEL_X, dtype=torch.float64)
    kernels = torch.stack([sx, sx.t(), torch.tensor(_LAPLACE, dtype=torch.float64)])[:, None]
    g = F.conv2d(padded, kernels)                              # (n, 3, h, w)
    grad_energy = (g[:, 0] ** 2 + g[:, 1] ** 2).reshape(n, -1).mean(1)
    lap_var = g[:, 2].reshape(n, -1).var(1, unbiased=False)

    hc, wc = h // f * f, w // f * f
    if hc == 0 or wc == 0:
        interp_err = torch.zeros(n, dtype=torch.float64)
    else:
        crop = t[:, :, :hc, :wc]
        up = F.interpolate(F.avg_pool2d(crop, f), size=(hc, wc), mode="bilinear",
                           align_corners=False)
        interp_err = ((crop - up) ** 2).reshape(n, -1).mean(1)
    return {"mean": mean, "var": var, "entropy": entropy, "grad_energy": grad_energy,
            "lap_var": lap_var, "interp_err": interp_err}


def tile_stats_reference(img: np.ndarray, coords: np.ndarray, size: int,
                         interp_scale: int = 2) -> dict[str, np.ndarray]:
    """Float64 torch reference of the tile statistics (the oracle for every backend).

    Tiles are grouped by clipped shape and each group is processed as one batch.

    Args:
        img: uint8 ``H x W x C`` (C in {1, 3}).
        coords: integer ``(N, 2)`` tile top-left ``(y, x)``, inside the image.
        size: tile side; edge tiles are clipped to the image.
        interp_scale: down/up factor ``f`` of ``interp_err``, in [2, 16].
    Returns:
        ``{name: float32 (N,)}`` for every name in :data:`STAT_NAMES`.
    """
    img = _check_image(img)
    h, w = img.shape[:2]
    coords = _check_tiles(coords, size, interp_scale, h, w)
    n = len(coords)
    out = {k: np.zeros(n, np.float32) for k in STAT_NAMES}
    if n == 0:
        return out
    y8 = torch.from_numpy(luminance_u8(img))
    th = np.minimum(coords[:, 0] + size, h) - coords[:, 0]
    tw = np.minimum(coords[:, 1] + size, w) - coords[:, 1]
    shapes = np.stack([th, tw], 1)
    for shape in np.unique(shapes, axis=0):
        idx = np.flatnonzero((shapes == shape).all(1))
        step = max(1, _REF_CHUNK_PIXELS // int(shape[0] * shape[1]))
        for s in range(0, len(idx), step):
            part = idx[s:s + step]
            regions = _tile_regions(y8, coords[part], int(shape[0]), int(shape[1]))
            for k, v in _stats_equal_shape(regions, int(interp_scale)).items():
                out[k][part] = v.numpy().astype(np.float32)
    return out


# --------------------------------------------------------------------------- backends
def _load_cpp() -> Any:
    return importlib.import_module("tripled_fast._cstats")


def _cpp_reason() -> str | None:
    """None when the C++ extension imports, else a one-line reason."""
    try:
        _load_cpp()
    except ImportError as exc:
        return (f"the C++ extension tripled_fast._cstats does not import ({exc}); "
                "reinstall the package with `pip install .` to build it")
    return None


def _triton_reason() -> str | None:
    """None when the Triton kernels can run, else a one-line reason."""
    try:
        importlib.import_module("triton")
    except ImportError as exc:
        return f"triton is not installed ({exc})"
    if not torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1":
        return "triton needs a CUDA device (or TRITON_INTERPRET=1 for the slow interpreter)"
    return None


def available_stats_backends() -> list[str]:
    """Backends usable in this process, fastest first among ``triton``, ``cpp``; ``torch`` last."""
    names = [b for b, r in (("triton", _triton_reason()), ("cpp", _cpp_reason())) if r is None]
    return names + ["torch"]


def resolve_stats_backend(name: str = "auto") -> str:
    """Map ``auto | torch | cpp | triton`` to a usable backend name.

    ``auto`` picks triton on a CUDA machine with triton, else cpp when the extension imports,
    else torch (the interpreter never counts for ``auto``). An explicitly requested backend
    that cannot run raises :class:`~tripled_fast.errors.BackendUnavailable` with the reason.
    """
    if name == "auto":
        if torch.cuda.is_available() and _triton_reason() is None:
            return "triton"
        return "cpp" if _cpp_reason() is None else "torch"
    if name == "torch":
        return "torch"
    if name == "cpp":
        reason = _cpp_reason()
    elif name == "triton":
        reason = _triton_reason()
    else:
        raise ValueError(f"stats backend: expected one of auto, torch, cpp, triton, got {name!r}")
    if reason is not None:
        raise BackendUnavailable(f"stats backend {name!r} unavailable: {reason}")
    return name


def _tile_stats_cpp(img: np.ndarray, coords: np.ndarray, size: int, f: int,
                    num_threads: int) -> dict[str, np.ndarray]:
    table = _load_cpp().tile_stats(np.ascontiguousarray(img), coords, int(size), int(f),
                                   int(num_threads))
    return {k: np.ascontiguousarray(table[:, i]) for i, k in enumerate(STAT_NAMES)}


def _tile_stats_triton(img: np.ndarray, coords: np.ndarray, size: int,
                       f: int) -> dict[str, np.ndarray]:
    from tripled_fast.kernels.stats import tile_stats_triton

    device = "cuda" if torch.cuda.is_available() else "cpu"
    res = tile_stats_triton(torch.from_numpy(np.ascontiguousarray(img)).to(device),
                            torch.from_numpy(coords).to(device), int(size), int(f))
    return {k: res[k].cpu().numpy() for k in STAT_NAMES}


def tile_stats(img: np.ndarray, coords: np.ndarray, size: int, *, interp_scale: int = 2,
               backend: str = "auto", num_threads: int = 0) -> dict[str, np.ndarray]:
    """Statistics of the tiles ``coords`` of one image with the chosen backend.

    Args:
        img: uint8 ``H x W x C`` (C in {1, 3}; ``H x W`` accepted as gray).
        coords: integer ``(N, 2)`` tile top-left ``(y, x)``, inside the image.
        size: tile side; right / bottom edge tiles are clipped to the image.
        interp_scale: factor ``f`` in [2, 16] of the ``interp_err`` down/up round trip.
        backend: ``auto | torch | cpp | triton`` (see :func:`resolve_stats_backend`).
        num_threads: OpenMP threads of the cpp backend (0 = the OpenMP default).
    Returns:
        ``{name: float32 (N,)}`` for every name in :data:`STAT_NAMES`.
    """
    img = _check_image(img)
    coords = _check_tiles(coords, size, interp_scale, img.shape[0], img.shape[1])
    name = resolve_stats_backend(backend)
    if len(coords) == 0:
        return {k: np.zeros(0, np.float32) for k in STAT_NAMES}
    if name == "cpp":
        return _tile_stats_cpp(img, coords, size, interp_scale, num_threads)
    if name == "triton":
        return _tile_stats_triton(img, coords, size, interp_scale)
    return tile_stats_reference(img, coords, size, interp_scale)


def iter_tile_stats(items: Iterable[tuple[np.ndarray, np.ndarray]], size: int, *,
                    interp_scale: int = 2, backend: str = "auto",
                    num_threads: int = 0) -> Iterator[dict[str, np.ndarray]]:
    """Streaming form of :func:`tile_stats` over many images.

    The backend is resolved once; images are consumed lazily, so ``items`` can be a generator
    that decodes one image at a time.

    Args:
        items: iterable of ``(img uint8 H x W x C, coords (N_i, 2))``.
    Yields:
        one ``{name: float32 (N_i,)}`` per item, in order.
    """
    name = resolve_stats_backend(backend)
    for img, coords in items:
        yield tile_stats(img, coords, size, interp_scale=interp_scale, backend=name,
                         num_threads=num_threads)
