"""A small NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022).

Building blocks, following the paper's description:

* :class:`LayerNorm2d` - layer normalisation over the channel axis at every pixel.
* :class:`SimpleGate` - split the channels in two halves and multiply them (replaces GELU).
* simplified channel attention (SCA) - global average pool, a 1x1 conv, multiply.
* :class:`NAFBlock` - ``LN -> 1x1 (x2) -> 3x3 depthwise -> SimpleGate -> SCA -> 1x1`` plus a
  feed-forward ``LN -> 1x1 (x2) -> SimpleGate -> 1x1``, both residual with learnt per-channel
  scales initialised at zero (so a fresh block is the identity).

:class:`NAFNet` is a U-Net of NAFBlocks (2x2 stride-2 conv down, 1x1 conv + PixelShuffle up,
additive skips) with a global residual. For ``scale > 1`` the U-Net runs at the LQ resolution, a
``conv + PixelShuffle(scale)`` tail upsamples, and the global skip is the bilinearly upsampled
input.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.Module):
    """Per-pixel layer norm over channels: ``(N, C, H, W) -> (N, C, H, W)``."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(1, keepdim=True)
        var = (x - mu).pow(2).mean(1, keepdim=True)
        y = (x - mu) * torch.rsqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SimpleGate(nn.Module):
    """``(N, 2C, H, W) -> (N, C, H, W)``: the product of the two channel halves."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b


class NAFBlock(nn.Module):
    """One NAFNet block, ``(N, C, H, W) -> (N, C, H, W)``."""

    def __init__(self, c: int, dw_expand: int = 2, ffn_expand: int = 2) -> None:
        super().__init__()
        dw = c * dw_expand
        ffn = c * ffn_expand
        self.norm1 = LayerNorm2d(c)
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw)
        self.gate = SimpleGate()
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.gate(self.conv2(self.conv1(self.norm1(inp))))
        x = self.conv3(x * self.sca(x))
        y = inp + x * self.beta
        x = self.conv5(self.gate(self.conv4(self.norm2(y))))
        return y + x * self.gamma


def _stack(c: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[NAFBlock(c) for _ in range(n)])


class NAFNet(nn.Module):
    """NAFNet U-Net.

    Args:
        in_ch, out_ch: channel counts (global residual when equal).
        width: channels at full resolution (doubled at each level).
        enc_blocks: NAFBlocks per encoder level; its length is the number of levels L.
        middle_blocks: NAFBlocks at the bottleneck.
        dec_blocks: NAFBlocks per decoder level (same length as ``enc_blocks``).
        scale: integer upscaling factor (PixelShuffle tail when > 1).

    Shapes: ``(N, in_ch, H, W) -> (N, out_ch, H * scale, W * scale)``; inputs whose sides are
    not multiples of :attr:`size_multiple` (``2 ** L``) are reflect-padded and cropped back.
    """

    def __init__(
        self,
        in_ch: int = 3,
        out_ch: int | None = None,
        *,
        width: int = 16,
        enc_blocks: Sequence[int] = (1, 1, 2),
        middle_blocks: int = 2,
        dec_blocks: Sequence[int] = (1, 1, 1),
        scale: int = 1,
    ) -> None:
        super().__init__()
        out_ch = in_ch if out_ch is None else out_ch
        enc_blocks, dec_blocks = list(enc_blocks), list(dec_blocks)
        if len(enc_blocks) != len(dec_blocks):
            raise ValueError(
                f"NAFNet: enc_blocks and dec_blocks need the same length, got {enc_blocks} and {dec_blocks}"
            )
        if width < 2 or width % 2:
            raise ValueError(f"NAFNet width: expected an even number >= 2, got {width}")
        if scale < 1:
            raise ValueError(f"NAFNet scale: expected an integer >= 1, got {scale}")
        if min(enc_blocks + dec_blocks + [middle_blocks], default=0) < 0:
            raise ValueError("NAFNet: block counts must be >= 0")
        self.in_ch, self.out_ch, self.scale, self.width = in_ch, out_ch, scale, width
        self.size_multiple = 2 ** len(enc_blocks)
        self.residual = in_ch == out_ch
        self.intro = nn.Conv2d(in_ch, width, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        c = width
        for n in enc_blocks:
            self.encoders.append(_stack(c, n))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = _stack(c, middle_blocks)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in dec_blocks:
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(_stack(c, n))
        if scale == 1:
            self.ending = nn.Conv2d(width, out_ch, 3, padding=1)
        else:
            self.ending = nn.Sequential(
                nn.Conv2d(width, out_ch * scale * scale, 3, padding=1), nn.PixelShuffle(scale)
            )

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        h, w = inp.shape[-2:]
        m = self.size_multiple
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            mode = "reflect" if (ph < h and pw < w) else "replicate"
            x = F.pad(inp, (0, pw, 0, ph), mode=mode)
        else:
            x = inp
        x = self.intro(x)
        skips = []
        for enc, down in zip(self.encoders, self.downs):
            x = enc(x)
            skips.append(x)
            x = down(x)
        x = self.middle(x)
        for dec, up, skip in zip(self.decoders, self.ups, reversed(skips)):
            x = dec(up(x) + skip)
        x = self.ending(x)
        x = x[..., : h * self.scale, : w * self.scale]
        if self.residual:
            base = inp if self.scale == 1 else F.interpolate(
                inp, scale_factor=self.scale, mode="bilinear", align_corners=False
            )
            x = x + base
        return x
