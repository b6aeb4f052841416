"""Restoration networks: registry, shapes, residual structure, KAIR DnCNN weights on Set12.

Parameter counts (printed for reference, checked against closed forms below):
  dncnn gray depth 17 width 64 bn=False (KAIR dncnn_25):  555,137
  dncnn RGB  depth 8  width 32 bn=True:                    57,443
  nafnet RGB width 16 enc (1,1,2) middle 2 dec (1,1,1):    438,387
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tripled_fast.train.archs import ARCHS, DnCNN, NAFNet, build_model, count_parameters, load_kair_dncnn
from tripled_fast.train.archs.nafnet import LayerNorm2d, NAFBlock, SimpleGate

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
KAIR = SHARED / "weights" / "dncnn_25_kair.pth"
SET12 = SHARED / "data" / "denoise" / "Set12"
# DnCNN paper (Zhang et al. 2017, Table 3), sigma = 25: Cameraman, House, Peppers
PAPER_SET12_FIRST3 = (30.18, 33.06, 30.87)


def _dncnn_params(c_in: int, c_out: int, depth: int, width: int, bn: bool) -> int:
    mid = width * width * 9 + (2 * width if bn else width)  # conv (+ bias | + BN affine)
    return (c_in * width * 9 + width) + (depth - 2) * mid + (width * c_out * 9 + c_out)


# --------------------------------------------------------------------------- registry
def test_registry_lists_archs_and_rejects_unknown_names_and_options() -> None:
    assert set(ARCHS) == {"dncnn", "nafnet"}
    with pytest.raises(ValueError, match="dncnn, nafnet"):
        build_model("unet", in_ch=1, out_ch=1)
    with pytest.raises(ValueError, match="'dpeth'"):
        build_model("dncnn", in_ch=1, out_ch=1, dpeth=3)


def test_seeded_build_is_reproducible_and_leaves_global_rng_alone() -> None:
    before = torch.get_rng_state()
    a = build_model("nafnet", in_ch=3, out_ch=3, seed=7, width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
    b = build_model("nafnet", in_ch=3, out_ch=3, seed=7, width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
    c = build_model("nafnet", in_ch=3, out_ch=3, seed=8, width=8, enc_blocks=(1,), dec_blocks=(1,), middle_blocks=1)
    assert torch.equal(torch.get_rng_state(), before)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["intro.weight"], sc["intro.weight"])


def test_parameter_counts_match_closed_forms() -> None:
    assert count_parameters(DnCNN(1, depth=17, width=64, bn=False)) == _dncnn_params(1, 1, 17, 64, False)
    if KAIR.is_file():  # the released file holds exactly that many numbers
        state = torch.load(KAIR, map_location="cpu", weights_only=True)
        assert sum(v.numel() for v in state.values()) == _dncnn_params(1, 1, 17, 64, False)
    assert count_parameters(build_model("dncnn", in_ch=3, out_ch=3, depth=8, width=32)) == _dncnn_params(3, 3, 8, 32, True)


# --------------------------------------------------------------------------- DnCNN
def test_dncnn_is_residual_and_sr_mode_upsamples_bicubically() -> None:
    x = torch.rand(2, 3, 12, 10, generator=torch.Generator().manual_seed(0))
    for scale in (1, 2, 3):
        m = build_model("dncnn", in_ch=3, out_ch=3, scale=scale, depth=4, width=8, seed=0).eval()
        y = m(x)
        assert y.shape == (2, 3, 12 * scale, 10 * scale)
        torch.nn.init.zeros_(m.body[-1].weight)
        torch.nn.init.zeros_(m.body[-1].bias)
        base = x if scale == 1 else F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
        assert torch.equal(m(x), base)
    with pytest.raises(ValueError, match="in_ch == out_ch"):
        DnCNN(1, 3)


def test_dncnn_encoder_decoder_split_reproduces_forward_and_shares_weights() -> None:
    m = build_model("dncnn", in_ch=1, out_ch=1, depth=7, width=16, bn=True, seed=1).eval()
    enc, dec = m.encoder_decoder_split()
    x = torch.rand(1, 1, 20, 20, generator=torch.Generator().manual_seed(1))
    feat = enc(x)
    assert feat.shape == (1, 16, 20, 20) and bool((feat >= 0).all())  # ends after a ReLU
    assert torch.equal(x - dec(feat), m(x))
    assert sum(1 for l in enc if isinstance(l, torch.nn.Conv2d)) == 3
    ids = {id(p) for p in m.parameters()}
    assert {id(p) for p in list(enc.parameters()) + list(dec.parameters())} == ids


# --------------------------------------------------------------------------- NAFNet
def test_nafnet_blocks_match_their_definitions() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 6, 5, 7, generator=g)
    ln = LayerNorm2d(6)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5, generator=g)
        ln.bias.uniform_(-1, 1, generator=g)
    ref = F.layer_norm(x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(ln(x), ref, rtol=1e-5, atol=1e-5)
    assert torch.equal(SimpleGate()(x), x[:, :3] * x[:, 3:])
    blk = NAFBlock(6)
    assert torch.equal(blk(x), x)  # beta = gamma = 0 at init: identity


def test_nafnet_shapes_padding_and_global_residual() -> None:
    x = torch.rand(1, 3, 13, 21, generator=torch.Generator().manual_seed(3))
    for scale in (1, 2):
        m = NAFNet(3, width=8, enc_blocks=(1, 1), middle_blocks=1, dec_blocks=(1, 1), scale=scale).eval()
        assert m.size_multiple == 4
        with torch.no_grad():
            y = m(x)
        assert y.shape == (1, 3, 13 * scale, 21 * scale)
        last = m.ending if scale == 1 else m.ending[0]
        torch.nn.init.zeros_(last.weight)
        torch.nn.init.zeros_(last.bias)
        base = x if scale == 1 else F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
        with torch.no_grad():
            assert torch.equal(m(x), base)
    assert NAFNet(1, width=8, enc_blocks=(1, 1, 1), dec_blocks=(1, 1, 1)).size_multiple == 8
    with pytest.raises(ValueError, match="same length"):
        NAFNet(3, enc_blocks=(1, 1), dec_blocks=(1,))


# --------------------------------------------------------------------------- KAIR weights
def _functional_kair(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Independent reference: KAIR's plain DnCNN straight from its state dict."""
    y = x
    idx = sorted(int(k.split(".")[1]) for k in state if k.endswith(".weight"))
    for j, i in enumerate(idx):
        y = F.conv2d(y, state[f"model.{i}.weight"], state[f"model.{i}.bias"], padding=1)
        if j < len(idx) - 1:
            y = F.relu(y)
    return x - y


def _set12(n: int | None) -> list[np.ndarray]:
    from PIL import Image

    if not SET12.is_dir() or not KAIR.is_file():
        pytest.skip("shared Set12 data or KAIR DnCNN weights not present")
    files = sorted(SET12.glob("*.png"))[:n]
    return [np.asarray(Image.open(f).convert("L")).astype(np.float64) for f in files]


def _denoise_psnr(model: torch.nn.Module, gts: list[np.ndarray]) -> tuple[list[float], list[float]]:
    """DnCNN protocol: gt + 25 N(0,1) from default_rng(i), unclipped float input, uint8 output."""
    out_p, in_p = [], []
    for i, gt in enumerate(gts):
        noisy = gt + 25.0 * np.random.default_rng(i).standard_normal(gt.shape)
        with torch.no_grad():
            out = model(torch.from_numpy(noisy / 255.0).float()[None, None])[0, 0].double().numpy()
        out = np.clip(np.round(out * 255.0), 0, 255)
        out_p.append(10 * np.log10(255.0**2 / np.mean((out - gt) ** 2)))
        in_p.append(10 * np.log10(255.0**2 / np.mean((noisy - gt) ** 2)))
    return out_p, in_p


def test_kair_dncnn_matches_functional_reference_and_denoises_set12() -> None:
    gts = _set12(3)
    model = load_kair_dncnn(KAIR)
    assert (model.depth, model.width, model.in_ch, model.bn) == (17, 64, 1, False)
    state = torch.load(KAIR, map_location="cpu", weights_only=True)
    x = torch.from_numpy(gts[0][64:128, 64:128] / 255.0).float()[None, None]
    with torch.no_grad():
        torch.testing.assert_close(model(x), _functional_kair(state, x), rtol=0, atol=1e-5)
    psnr, noisy_psnr = _denoise_psnr(model, gts)
    assert np.allclose(noisy_psnr, 20 * np.log10(255 / 25), atol=0.1)  # the noise really is sigma 25
    assert np.mean(psnr) > 29.5
    assert np.allclose(psnr, PAPER_SET12_FIRST3, atol=0.2), psnr


@pytest.mark.slow
def test_kair_dncnn_full_set12_reference_psnr() -> None:
    """ENVIRONMENT.md reference: 30.45 dB (paper 30.44). About 30 s on 2 cores."""
    psnr, _ = _denoise_psnr(load_kair_dncnn(KAIR), _set12(None))
    assert len(psnr) == 12
    assert abs(np.mean(psnr) - 30.45) <= 0.02, np.mean(psnr)


def test_load_kair_rejects_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_kair_dncnn(tmp_path / "nope.pth")
