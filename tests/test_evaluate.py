"""evaluate_pairs: BasicSR protocol on identity / upsampling models and a real DnCNN."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from tripled_fast.config import EvalConfig
from tripled_fast.metrics.evaluate import evaluate_pairs, resolve_crop_border, tensor2img
from tripled_fast.metrics.psnr_ssim import calculate_psnr, calculate_ssim

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SET5 = SHARED / "data" / "sr" / "Set5"


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class NearestUp(nn.Module):
    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")


def degraded_pairs(n: int = 3) -> list[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    out = []
    for i in range(n):
        gt = rng.integers(0, 256, size=(30 + 7 * i, 41, 3), dtype=np.uint8)
        lq = np.clip(gt + rng.normal(0, 15, gt.shape).round(), 0, 255).astype(np.uint8)
        out.append((f"img{i}", lq, gt))
    return out


def test_identity_model_psnr_equals_lq_psnr() -> None:
    pairs = degraded_pairs()
    cfg = EvalConfig()
    model = Identity().train()
    res = evaluate_pairs(model, pairs, scale=1, cfg=cfg)
    assert model.training  # mode restored
    assert res.crop_border == 0
    expected = [calculate_psnr(lq, gt, 0) for _, lq, gt in pairs]
    assert [r["psnr"] for r in res.rows] == expected  # exact: uint8 -> [0,1] -> uint8 is lossless
    assert res.psnr == pytest.approx(float(np.mean(expected)), abs=1e-12)
    assert res.ssim == pytest.approx(float(np.mean([calculate_ssim(lq, gt, 0) for _, lq, gt in pairs])), abs=1e-12)
    d = res.to_dict()
    assert d["count"] == 3 and [r["name"] for r in d["images"]] == ["img0", "img1", "img2"]


def test_tiled_y_channel_and_max_images() -> None:
    pairs = degraded_pairs()
    cfg = EvalConfig(crop_border=2, test_y_channel=True, tile=16, tile_overlap=4, max_images=2)
    res = evaluate_pairs(Identity(), pairs, scale=1, cfg=cfg)
    assert len(res.rows) == 2
    for row, (_, lq, gt) in zip(res.rows, pairs):
        assert row["psnr"] == calculate_psnr(lq, gt, 2, test_y_channel=True)


def test_sr_default_crop_border_and_gt_mod_crop() -> None:
    if not SET5.is_dir():
        pytest.skip(f"real data not found at {SET5}")
    pairs = []
    for name in ["bird", "woman"]:
        hr = np.asarray(Image.open(SET5 / "HR" / f"{name}.png").convert("RGB"))
        lr = np.asarray(Image.open(SET5 / "LR_bicubic_X4" / f"{name}x4.png").convert("RGB"))
        pairs.append((name, lr, hr))
    res = evaluate_pairs(NearestUp(4), pairs, scale=4, cfg=EvalConfig(test_y_channel=True))
    assert res.crop_border == 4
    for row, (_, lr, hr) in zip(res.rows, pairs):
        up = lr.repeat(4, 0).repeat(4, 1)
        h, w = up.shape[:2]
        assert row["psnr"] == calculate_psnr(up, hr[:h, :w], 4, test_y_channel=True)
        assert 20.0 < row["psnr"] < 35.0


def test_tensor2img_rounds_like_basicsr() -> None:
    t = torch.tensor([[[[-0.1, 0.0, 0.5 / 255, 1.5 / 255, 1.0, 1.2]]]])
    # clamp, x255, round half to even (0.5 -> 0, 1.5 -> 2)
    assert tensor2img(t)[0, :, 0].tolist() == [0, 0, 0, 2, 255, 255]


def test_errors_and_crop_rule() -> None:
    assert resolve_crop_border(EvalConfig(), 4) == 4
    assert resolve_crop_border(EvalConfig(), 1) == 0
    assert resolve_crop_border(EvalConfig(crop_border=0), 4) == 0
    _, lq, gt = degraded_pairs(1)[0]
    with pytest.raises(ValueError, match="does not match GT"):
        evaluate_pairs(Identity(), [("x", lq, gt[:-2])], scale=1, cfg=EvalConfig())
    with pytest.raises(ValueError, match="channels"):
        evaluate_pairs(Identity(), [("x", lq[..., :1], gt)], scale=1, cfg=EvalConfig())


# ---------------------------------------------------------------- real pretrained model (slow)
class DnCNN(nn.Module):
    """KAIR's plain DnCNN (17 convs, BN merged): output = input - residual."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1, 64, 3, padding=1), nn.ReLU()]
        for _ in range(15):
            layers += [nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()]
        layers.append(nn.Conv2d(64, 1, 3, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.model(x)


def test_dncnn_real_image_tiled_equals_whole() -> None:
    folder = SHARED / "data" / "denoise" / "Set12"
    weights = SHARED / "weights" / "dncnn_25_kair.pth"
    if not folder.is_dir() or not weights.is_file():
        pytest.skip("Set12 / DnCNN weights not found")
    torch.manual_seed(0)  # module init only; every weight is then overwritten
    net = DnCNN()
    net.load_state_dict(torch.load(weights, weights_only=True))
    gt = np.asarray(Image.open(folder / "01.png").convert("L"))[64:144, 64:144, None]
    noisy = gt.astype(np.float64) + np.random.default_rng(0).normal(0, 25, gt.shape)
    pairs = [("01", np.clip(noisy.round(), 0, 255).astype(np.uint8), gt)]
    whole = evaluate_pairs(net, pairs, scale=1, cfg=EvalConfig())
    # receptive-field radius 17 <= overlap // 2 = 20: tiling is exact up to float rounding
    tiled = evaluate_pairs(net, pairs, scale=1, cfg=EvalConfig(tile=64, tile_overlap=40))
    noisy_psnr = calculate_psnr(pairs[0][1], gt, 0)
    assert 20.0 < noisy_psnr < 22.0  # sigma 25 (20.2 dB before clipping to [0, 255])
    assert whole.psnr > noisy_psnr + 5.0  # the pretrained sigma-25 DnCNN gains 6.3 dB on this crop
    assert tiled.psnr == pytest.approx(whole.psnr, abs=2e-3)
