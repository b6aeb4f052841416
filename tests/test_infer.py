"""Tiled inference equals the whole-image forward for fully convolutional nets."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from tripled_fast.metrics.infer import pad_to_multiple, tile_starts, tiled_forward


def conv_net(layers: int, c_in: int = 3, c_out: int = 3, seed: int = 0) -> nn.Module:
    """Receptive-field radius = layers (3x3 convs)."""
    g = torch.Generator().manual_seed(seed)
    mods: list[nn.Module] = []
    c = c_in
    for i in range(layers):
        co = c_out if i == layers - 1 else 8
        conv = nn.Conv2d(c, co, 3, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=g) * 0.3)
            conv.bias.copy_(torch.randn(conv.bias.shape, generator=g) * 0.1)
        mods.append(conv)
        if i < layers - 1:
            mods.append(nn.ReLU())
        c = co
    return nn.Sequential(*mods).eval()


class SRNet(nn.Module):
    """Conv body (radius 3) + pixel shuffle x scale."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.body = conv_net(3, 3, 3 * scale * scale, seed=1)
        self.up = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.body(x))


class NeedsMultiple(nn.Module):
    """Down-up net that only accepts sides divisible by 8 (like a 3-level U-Net)."""

    size_multiple = 8

    def __init__(self) -> None:
        super().__init__()
        self.conv = conv_net(2, seed=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise RuntimeError(f"size {tuple(x.shape[-2:])} not divisible by 8")
        y = nn.functional.avg_pool2d(self.conv(x), 8)
        return nn.functional.interpolate(y, scale_factor=8, mode="nearest")


def test_tile_starts_cover_with_overlap() -> None:
    assert tile_starts(100, 40, 16) == [0, 24, 48, 60]
    assert tile_starts(30, 40, 16) == [0]
    with pytest.raises(ValueError, match="tile_overlap"):
        tile_starts(100, 16, 16)


@torch.no_grad()
@pytest.mark.parametrize("shape,tile", [((2, 3, 70, 53), 32), ((1, 3, 41, 97), 24), ((1, 3, 20, 20), 64)])
def test_tiled_equals_whole_image(shape: tuple[int, ...], tile: int) -> None:
    net = conv_net(4)  # radius 4 <= overlap // 2 = 8
    x = torch.rand(shape, generator=torch.Generator().manual_seed(3))
    whole = net(x)
    tiled = tiled_forward(net, x, tile=tile, overlap=16)
    assert tiled.shape == whole.shape
    assert torch.allclose(tiled, whole, atol=1e-5, rtol=0)


@torch.no_grad()
def test_tiled_sr_scale() -> None:
    net = SRNet(scale=3)
    x = torch.rand((1, 3, 45, 38), generator=torch.Generator().manual_seed(4))
    whole = net(x)
    tiled = tiled_forward(net, x, scale=3, tile=20, overlap=8)
    assert tiled.shape == (1, 3, 135, 114)
    assert torch.allclose(tiled, whole, atol=1e-5, rtol=0)


@torch.no_grad()
def test_mean_blend_differs_at_seams_but_close_inside() -> None:
    net = conv_net(4)
    x = torch.rand((1, 3, 64, 64), generator=torch.Generator().manual_seed(5))
    whole = net(x)
    mean = tiled_forward(net, x, tile=32, overlap=16, blend="mean")
    # uniform averaging mixes in tile-border pixels: not exact, exact far from every seam
    assert (mean - whole).abs().max() > 1e-3
    assert torch.allclose(mean[..., :12, :12], whole[..., :12, :12], atol=1e-5)


@torch.no_grad()
def test_size_multiple_padding() -> None:
    net = NeedsMultiple()
    x = torch.rand((1, 3, 37, 50), generator=torch.Generator().manual_seed(6))
    padded, ph, pw = pad_to_multiple(x, 8)
    assert (ph, pw) == (3, 6) and padded.shape[-2:] == (40, 56)
    # reflect padding: row 37 mirrors row 35
    assert torch.equal(padded[..., 37, :50], x[..., 35, :])
    expected = net(padded)[..., :37, :50]
    out = tiled_forward(net, x)
    assert out.shape == x.shape
    assert torch.equal(out, expected)
    # tiles are rounded to a multiple of 8 too, so tiling never feeds the net a bad size
    tiled = tiled_forward(net, x, tile=30, overlap=8)
    assert tiled.shape == x.shape


def test_errors() -> None:
    net = conv_net(1)
    with pytest.raises(ValueError, match="N x C x H x W"):
        tiled_forward(net, torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="scale=2"):
        tiled_forward(net, torch.zeros(1, 3, 8, 8), scale=2)
