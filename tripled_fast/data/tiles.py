"""Patch grids over GT images and aligned LQ/GT crops.

Coordinates are GT pixel coordinates ``(y, x)`` of a patch's top-left corner. For SR pairs
(``scale > 1``) every coordinate, the patch side and the stride are multiples of ``scale``, so
the LQ patch is ``lq[y // s : (y + size) // s, x // s : (x + size) // s]`` exactly.
"""
from __future__ import annotations

from typing import Optional

import numpy as np


def default_stride(patch: int, scale: int = 1) -> int:
    """``patch // 2`` rounded down to a multiple of ``scale`` (at least ``scale``)."""
    return max(scale, (patch // 2) // scale * scale)


def _axis_starts(n: int, patch: int, stride: int, scale: int) -> np.ndarray:
    """Start positions along one axis: a regular grid plus the last start snapped to the edge."""
    usable = n // scale * scale  # SR: only the mod-crop region has an LQ partner
    if usable < patch:
        return np.zeros(0, dtype=np.int64)
    last = usable - patch        # a multiple of scale because usable and patch are
    starts = np.arange(0, last + 1, stride, dtype=np.int64)
    if starts[-1] != last:
        starts = np.append(starts, last)
    return starts


def tile_grid(h: int, w: int, patch: int, stride: Optional[int] = None, scale: int = 1) -> np.ndarray:
    """Top-left corners of ``patch x patch`` tiles covering an ``h x w`` image.

    Returns an ``(N, 2)`` int32 array of ``(y, x)`` in row-major order: the regular grid with
    step ``stride`` (default :func:`default_stride`) plus a last row / column snapped to the
    image edge, so every pixel of the ``(h // scale * scale) x (w // scale * scale)`` region is
    covered. All coordinates are multiples of ``scale``. Empty ``(0, 2)`` when the image is
    smaller than one patch. ValueError when ``patch`` or ``stride`` is not a positive multiple
    of ``scale`` or ``stride > patch`` (which would leave gaps).
    """
    for name, value in (("h", h), ("w", w)):
        if int(value) != value or value < 0:
            raise ValueError(f"tile_grid: {name} must be a non-negative integer, got {value!r}")
    if scale < 1:
        raise ValueError(f"tile_grid: scale must be >= 1, got {scale}")
    if patch < 1 or patch % scale:
        raise ValueError(f"tile_grid: patch must be a positive multiple of scale={scale}, got {patch}")
    if stride is None:
        stride = default_stride(patch, scale)
    if stride < 1 or stride % scale:
        raise ValueError(f"tile_grid: stride must be a positive multiple of scale={scale}, got {stride}")
    if stride > patch:
        raise ValueError(f"tile_grid: stride {stride} must be <= patch {patch} so the tiles cover the image")
    ys = _axis_starts(int(h), patch, stride, scale)
    xs = _axis_starts(int(w), patch, stride, scale)
    if ys.size == 0 or xs.size == 0:
        return np.zeros((0, 2), dtype=np.int32)
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"), axis=-1).reshape(-1, 2)
    return grid.astype(np.int32)


def crop_pair(
    lq: np.ndarray, gt: np.ndarray, y: int, x: int, size: int, scale: int
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops: GT ``size x size`` at ``(y, x)`` and LQ ``size/scale`` at ``(y/scale, x/scale)``.

    ``lq``: ``h x w x C``, ``gt``: ``(h*scale) x (w*scale) x C`` (GT may extend past
    ``scale x`` LQ by a mod-crop margin). Returns views. ValueError when ``y``, ``x`` or ``size``
    is not a multiple of ``scale`` or the crop leaves either image.
    """
    if y % scale or x % scale or size % scale or size < scale:
        raise ValueError(
            f"crop_pair: y={y}, x={x}, size={size} must be multiples of scale={scale} (size > 0)"
        )
    if y < 0 or x < 0 or y + size > gt.shape[0] or x + size > gt.shape[1]:
        raise ValueError(f"crop_pair: GT crop ({y}, {x}, size {size}) leaves the {gt.shape[:2]} image")
    ly, lx, ls = y // scale, x // scale, size // scale
    if ly + ls > lq.shape[0] or lx + ls > lq.shape[1]:
        raise ValueError(f"crop_pair: LQ crop ({ly}, {lx}, size {ls}) leaves the {lq.shape[:2]} image")
    return lq[ly : ly + ls, lx : lx + ls], gt[y : y + size, x : x + size]


def extract_patches(img: np.ndarray, coords: np.ndarray, size: int) -> np.ndarray:
    """Stack ``size x size`` crops of ``img`` (``H x W x C``) at ``coords`` ``(N, 2)`` of (y, x).

    Returns a new ``N x size x size x C`` array of ``img``'s dtype. ValueError when a crop leaves
    the image.
    """
    if img.ndim != 3:
        raise ValueError(f"extract_patches: expected an H x W x C image, got shape {img.shape}")
    coords = np.asarray(coords, dtype=np.int64).reshape(-1, 2)
    n = coords.shape[0]
    if n == 0:
        return np.zeros((0, size, size, img.shape[2]), dtype=img.dtype)
    ys, xs = coords[:, 0], coords[:, 1]
    if ys.min() < 0 or xs.min() < 0 or ys.max() + size > img.shape[0] or xs.max() + size > img.shape[1]:
        raise ValueError(
            f"extract_patches: a {size}x{size} crop at the given coords leaves the {img.shape[:2]} image"
        )
    # sliding-window view (no copy) indexed at the requested corners
    windows = np.lib.stride_tricks.sliding_window_view(img, (size, size), axis=(0, 1))
    # windows: (H-size+1) x (W-size+1) x C x size x size
    return np.ascontiguousarray(windows[ys, xs].transpose(0, 2, 3, 1))
