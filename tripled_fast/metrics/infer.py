"""Whole-image and tiled inference for restoration networks.

``tiled_forward`` runs a network over overlapping tiles and blends the results, so large test
images fit in memory. With ``blend="trim"`` (default) each tile contributes only its interior:
``overlap // 2`` input pixels next to an edge shared with a neighbouring tile are discarded, and
pixels still covered by several tiles are averaged. For a fully convolutional network whose
receptive-field radius is at most ``overlap // 2`` the result then equals the whole-image forward
(up to float rounding). ``blend="mean"`` averages full tiles uniformly (KAIR's ``test_split``
behaviour) — seams are softer for networks with larger receptive fields but not exact.

Models may declare ``size_multiple`` (e.g. 8 for a 3-level U-Net): the input is reflect-padded
at the bottom / right to a multiple and the output cropped back.
"""
from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["tiled_forward", "pad_to_multiple", "tile_starts"]


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, int, int]:
    """Pad ``N x C x H x W`` at the bottom / right so H and W are multiples of ``multiple``.

    Reflect padding where the pad is smaller than the side, replicate otherwise.
    Returns ``(padded, pad_h, pad_w)``.
    """
    if multiple < 1:
        raise ValueError(f"size_multiple: expected a positive integer, got {multiple}")
    h, w = x.shape[-2:]
    ph = (-h) % multiple
    pw = (-w) % multiple
    if ph == 0 and pw == 0:
        return x, 0, 0
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), ph, pw


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of side ``tile`` covering ``length`` with at least ``overlap`` overlap.

    The last tile is aligned to the end; ``tile >= length`` gives ``[0]``.
    """
    if tile >= length:
        return [0]
    stride = tile - overlap
    if stride < 1:
        raise ValueError(f"tile_overlap: expected < tile ({tile}), got {overlap}")
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return starts


def _forward_checked(model: nn.Module, x: torch.Tensor, scale: int) -> torch.Tensor:
    out = model(x)
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        raise ValueError("model: expected the forward to return an N x C x H x W tensor")
    want = (x.shape[0], x.shape[-2] * scale, x.shape[-1] * scale)
    got = (out.shape[0], out.shape[-2], out.shape[-1])
    if got != want:
        raise ValueError(
            f"scale={scale}: model output N/H/W {got} does not match input x scale {want}"
        )
    return out


def tiled_forward(
    model: nn.Module,
    x: torch.Tensor,
    *,
    scale: int = 1,
    tile: int | None = None,
    overlap: int = 16,
    blend: Literal["trim", "mean"] = "trim",
) -> torch.Tensor:
    """Run ``model`` on ``x`` whole or in overlapping tiles.

    Args:
        model: maps ``N x C x h x w`` to ``N x C' x h*scale x w*scale``; an optional integer
            attribute ``size_multiple`` asks for inputs whose sides are multiples of it.
        x: ``N x C x H x W`` input tensor (any float dtype; on the model's device).
        scale: output / input size ratio (SR factor; 1 for restoration).
        tile: tile side in input pixels (rounded down to a multiple of ``size_multiple``);
            ``None`` runs the whole image. Images smaller than a tile run whole.
        overlap: input pixels shared by neighbouring tiles.
        blend: ``"trim"`` (exact for receptive-field radius <= overlap // 2) or ``"mean"``.
    Returns:
        ``N x C' x H*scale x W*scale`` tensor.
    """
    if x.ndim != 4:
        raise ValueError(f"x: expected an N x C x H x W tensor, got shape {tuple(x.shape)}")
    if scale < 1:
        raise ValueError(f"scale: expected a positive integer, got {scale}")
    if overlap < 0:
        raise ValueError(f"tile_overlap: expected >= 0, got {overlap}")
    if blend not in ("trim", "mean"):
        raise ValueError(f"blend: expected 'trim' or 'mean', got {blend!r}")
    multiple = int(getattr(model, "size_multiple", 1) or 1)
    h, w = x.shape[-2:]
    xp, _, _ = pad_to_multiple(x, multiple)
    hp, wp = xp.shape[-2:]

    if tile is None or (tile >= hp and tile >= wp):
        return _forward_checked(model, xp, scale)[..., : h * scale, : w * scale]

    if tile < 1:
        raise ValueError(f"tile: expected a positive integer or None, got {tile}")
    tile = max(multiple, tile // multiple * multiple)
    th, tw = min(tile, hp), min(tile, wp)
    ys = tile_starts(hp, th, overlap)
    xs = tile_starts(wp, tw, overlap)
    margin = overlap // 2 if blend == "trim" else 0

    out: torch.Tensor | None = None
    weight = torch.zeros((1, 1, hp * scale, wp * scale), dtype=torch.float32, device=x.device)
    for y0 in ys:
        for x0 in xs:
            patch = _forward_checked(model, xp[..., y0 : y0 + th, x0 : x0 + tw], scale)
            if out is None:
                out = torch.zeros(
                    (xp.shape[0], patch.shape[1], hp * scale, wp * scale), dtype=patch.dtype, device=patch.device
                )
            # interior of this tile (edges shared with a neighbour lose `margin` pixels)
            t = margin if y0 > 0 else 0
            b = th - (margin if y0 + th < hp else 0)
            l = margin if x0 > 0 else 0  # noqa: E741
            r = tw - (margin if x0 + tw < wp else 0)
            oy, ox = (y0 + t) * scale, (x0 + l) * scale
            oh, ow = (b - t) * scale, (r - l) * scale
            out[..., oy : oy + oh, ox : ox + ow] += patch[..., t * scale : b * scale, l * scale : r * scale]
            weight[..., oy : oy + oh, ox : ox + ow] += 1.0
    assert out is not None
    out = out / weight.to(out.dtype)
    return out[..., : h * scale, : w * scale]
