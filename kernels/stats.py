"""Fused per-tile statistics in one Triton kernel (GPU backend of ``tripled_fast.scoring.stats``).

The definitions are those of :mod:`tripled_fast.scoring.stats` (mean, var, entropy,
grad_energy, lap_var, interp_err of the Y8 luminance of each clipped tile, replicate padding).

Kernel layout: a persistent grid of ``slots`` programs walks the tiles (``tile = slot, slot +
slots, ...``). Per tile a program

1. reads the tile's uint8 pixels once (row strips), computes Y8, accumulates the 256-bin
   histogram (``tl.histogram``) and writes Y8 to the slot's private scratch (``size x size``
   uint8, cache resident; stands in for shared memory, which Triton does not expose);
2. sums the ``f x f`` blocks of the crop into a second scratch (int32);
3. walks the strips again over the scratch: 3x3 Sobel and 4-neighbour Laplacian with clamped
   (replicate) indices, and the bilinear up-sample of the block sums with integer weights;
4. writes the six statistics and the histogram.

Everything up to the final divisions is integer arithmetic: ``4 f^4 * up(down(Y))`` is an
integer (bilinear weights are multiples of ``1 / 2f``, the box average of ``1 / f^2``), so
the interpolation error is exact before its last division; the entropy uses float32 logs.
The ``@triton.jit`` code lives in :mod:`._triton_jit` (loaded, with triton, at first launch).
"""
from __future__ import annotations

import torch

from . import load_jit

STAT_NAMES: tuple[str, ...] = ("mean", "var", "entropy", "grad_energy", "lap_var", "interp_err")
_STRIP_ELEMS = 2048          # elements per row strip (registers per program stay bounded)
_SCRATCH_BYTES = 256 << 20   # cap on the per-slot scratch of all slots together


def _next_pow2(v: int) -> int:
    return 1 << max(0, int(v) - 1).bit_length()


def _num_slots(n_tiles: int, size: int, device: torch.device) -> int:
    if device.type == "cuda":
        sms = torch.cuda.get_device_properties(device).multi_processor_count
        slots = min(4 * sms, max(sms, _SCRATCH_BYTES // (5 * size * size)))
    else:  # interpreter: programs run one after another, a few slots suffice
        slots = 4
    return max(1, min(n_tiles, slots))


def tile_stats_triton(img: torch.Tensor, coords: torch.Tensor, size: int, interp_scale: int = 2,
                      *, return_hist: bool = False) -> dict[str, torch.Tensor]:
    """Per-tile statistics of one image with the fused Triton kernel.

    Args:
        img: uint8 ``(H, W, C)`` tensor, C in {1, 3}, on a CUDA device (or CPU under
            ``TRITON_INTERPRET=1``).
        coords: integer ``(N, 2)`` tile top-left ``(y, x)`` inside the image, same device.
        size: tile side; right / bottom edge tiles are clipped.
        interp_scale: factor ``f`` in [2, 16] of the interp_err down/up round trip.
        return_hist: also return ``"hist"``, the int32 ``(N, 256)`` Y8 histograms.
    Returns:
        ``{name: float32 (N,)}`` for the six statistics (plus ``"hist"`` when asked).
    """
    if img.dtype != torch.uint8 or img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ValueError(f"img: expected a uint8 tensor (H, W, C) with C in {{1, 3}}, got "
                         f"{img.dtype} {tuple(img.shape)}")
    if coords.ndim != 2 or coords.shape[1] != 2 or coords.dtype.is_floating_point:
        raise ValueError(f"coords: expected an integer tensor (N, 2), got {coords.dtype} "
                         f"{tuple(coords.shape)}")
    if coords.device != img.device:
        raise ValueError(f"coords: expected device {img.device}, got {coords.device}")
    size, f = int(size), int(interp_scale)
    if size < 1:
        raise ValueError(f"size: expected a positive tile side, got {size}")
    if not 2 <= f <= 16:
        raise ValueError(f"interp_scale: expected an integer in [2, 16], got {f}")
    h, w, c = (int(s) for s in img.shape)
    n = int(coords.shape[0])
    dev = img.device
    out = torch.empty(n, 6, dtype=torch.float32, device=dev)
    hist = torch.empty(n, 256, dtype=torch.int32, device=dev)
    if n > 0:
        if bool(((coords[:, 0] < 0) | (coords[:, 0] >= h) | (coords[:, 1] < 0)
                 | (coords[:, 1] >= w)).any()):
            raise ValueError(f"coords: every tile must start inside the {h} x {w} image")
        kernel = load_jit("_tile_stats_kernel")
        img = img.contiguous()
        coords32 = coords.to(torch.int32).contiguous()
        slots = _num_slots(n, size, dev)
        sd = size // f
        ybuf = torch.empty(slots * size * size, dtype=torch.uint8, device=dev)
        sbuf = torch.empty(max(1, slots * sd * sd), dtype=torch.int32, device=dev)
        bw = _next_pow2(size)
        bwd = _next_pow2(max(sd, 1))
        kernel[(slots,)](
            img, coords32, out, hist, ybuf, sbuf, n, h, w, size,
            C=c, F=f, BR=max(1, _STRIP_ELEMS // bw), BW=bw,
            BRD=max(1, _STRIP_ELEMS // bwd), BWD=bwd)
    cols = out.t().contiguous()
    res = {k: cols[i] for i, k in enumerate(STAT_NAMES)}
    if return_hist:
        res["hist"] = hist
    return res

