"""k-center-greedy min-distance update, fused in one Triton kernel.

One greedy step adds ``center`` to the selected set and lowers every point's distance to its
nearest selected center: ``min_dist = min(min_dist, ||x - x[center]||^2)``. The kernel reads
each row of ``x`` once, chunked over the feature dimension, and updates ``min_dist`` in place.
"""
from __future__ import annotations

import torch

from . import load_jit

_BLOCK_N = 32
_BLOCK_D = 128


def _check(x: torch.Tensor, min_dist: torch.Tensor, center: int) -> int:
    if x.ndim != 2 or x.dtype != torch.float32:
        raise ValueError(f"x: expected a float32 tensor (N, D), got {x.dtype} {tuple(x.shape)}")
    n = x.shape[0]
    if min_dist.shape != (n,) or min_dist.dtype != torch.float32:
        raise ValueError(f"min_dist: expected float32 ({n},), got {min_dist.dtype} "
                         f"{tuple(min_dist.shape)}")
    if min_dist.device != x.device:
        raise ValueError(f"min_dist: expected device {x.device}, got {min_dist.device}")
    center = int(center)
    if not 0 <= center < n:
        raise ValueError(f"center: expected an index in [0, {n}), got {center}")
    return center


def kcenter_update_reference(x: torch.Tensor, min_dist: torch.Tensor,
                             center: int) -> torch.Tensor:
    """Torch reference: returns ``min(min_dist, ||x - x[center]||^2)`` (a new tensor).

    Args:
        x: float32 ``(N, D)``; min_dist: float32 ``(N,)``; center: row index.
    """
    center = _check(x, min_dist, center)
    d = ((x - x[center]) ** 2).sum(1)
    return torch.minimum(min_dist, d)


def kcenter_update(x: torch.Tensor, min_dist: torch.Tensor, center: int) -> torch.Tensor:
    """In-place fused update ``min_dist = min(min_dist, ||x - x[center]||^2)``.

    Args:
        x: float32 ``(N, D)`` on a CUDA device (or CPU under ``TRITON_INTERPRET=1``), rows
            with unit stride along D.
        min_dist: float32 ``(N,)`` on the same device, updated in place.
        center: index of the newly selected row.
    Returns:
        ``min_dist`` (the same tensor).
    """
    center = _check(x, min_dist, center)
    if x.stride(1) != 1:
        x = x.contiguous()
    if not min_dist.is_contiguous():
        raise ValueError("min_dist: expected a contiguous tensor (it is updated in place)")
    n, d = x.shape
    if n == 0:
        return min_dist
    kernel = load_jit("_kcenter_update_kernel")
    grid = ((n + _BLOCK_N - 1) // _BLOCK_N,)
    kernel[grid](x, min_dist, center, n, d, x.stride(0), BLOCK_N=_BLOCK_N, BLOCK_D=_BLOCK_D)
    return min_dist

