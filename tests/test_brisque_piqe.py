"""BRISQUE / PIQE against independent references (pypiqe, libsvm, PIL, formulas written here)."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from scipy import optimize, special
from scipy.ndimage import gaussian_filter
from scipy.signal import convolve2d

from tripled_fast.errors import DataError
from tripled_fast.metrics.brisque import (
    BRISQUEFeatures,
    BRISQUEScore,
    brisque_features,
    brisque_score,
    imresize_matlab,
    load_brisque_model,
    to_luminance,
)
from tripled_fast.metrics.iqa import iqa_folder
from tripled_fast.metrics.piqe import PIQEFeatures, piqe_score

SET5 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sr" / "Set5"


def _model_or_skip():
    try:
        return load_brisque_model()
    except FileNotFoundError:
        pytest.skip("brisque model files not installed (pip install brisque)")


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    out = np.stack([gaussian_filter(img[..., c].astype(np.float64), sigma) for c in range(img.shape[2])], -1)
    return np.clip(out.round(), 0, 255).astype(np.uint8)


def noisy(img: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    out = img + np.random.default_rng(seed).normal(0, sigma, img.shape)
    return np.clip(out.round(), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------ BRISQUE
def ref_first_scale_features(lum: np.ndarray) -> np.ndarray:
    """Independent: 2-D fspecial window + convolve2d, np.roll products, root-solved shapes."""
    k = np.array([[math.exp(-((i - 3) ** 2 + (j - 3) ** 2) / (2 * (7 / 6) ** 2)) for j in range(7)] for i in range(7)])
    k /= k.sum()
    mu = convolve2d(lum, k, mode="same")
    sd = np.sqrt(np.abs(convolve2d(lum * lum, k, mode="same") - mu * mu))
    s = (lum - mu) / (sd + 1)
    g = special.gamma

    def solve(f, target):
        return optimize.brentq(lambda a: f(a) - target, 0.2, 10.0)

    rho = np.mean(s**2) / np.mean(np.abs(s)) ** 2
    feats = [solve(lambda a: g(1 / a) * g(3 / a) / g(2 / a) ** 2, rho), np.mean(s**2)]
    for shift in [(0, 1), (1, 0), (1, 1), (-1, 1)]:
        p = (s * np.roll(s, shift, axis=(0, 1))).ravel()
        lstd, rstd = np.sqrt(np.mean(p[p < 0] ** 2)), np.sqrt(np.mean(p[p > 0] ** 2))
        gh = lstd / rstd
        rn = np.mean(np.abs(p)) ** 2 / np.mean(p**2) * (gh**3 + 1) * (gh + 1) / (gh**2 + 1) ** 2
        a = solve(lambda a: g(2 / a) ** 2 / (g(1 / a) * g(3 / a)), rn)
        mean = (rstd - lstd) * g(2 / a) / g(1 / a) * math.sqrt(g(1 / a) / g(3 / a))
        feats += [a, mean, lstd**2, rstd**2]
    return np.array(feats)


def test_brisque_features_match_independent_reference() -> None:
    img = skimage.data.astronaut()[100:260, 150:310]
    f = brisque_features(img)
    ref = ref_first_scale_features(to_luminance(img))
    shapes = [0, 2, 6, 10, 14]
    others = [i for i in range(18) if i not in shapes]
    # grid lookup (step 0.001) vs exact root
    assert np.abs(f[shapes] - ref[shapes]).max() < 1.5e-3
    np.testing.assert_allclose(f[others], ref[others], rtol=5e-3, atol=1e-4)
    np.testing.assert_allclose(f[[1, 4, 5, 8, 9, 12, 13, 16, 17]], ref[[1, 4, 5, 8, 9, 12, 13, 16, 17]], rtol=1e-10)


def test_imresize_half_matches_pil_inside_and_keeps_constants() -> None:
    rng = np.random.default_rng(0)
    a = gaussian_filter(rng.random((62, 50)) * 255, 1.0)
    ours = imresize_matlab(a, 0.5)
    assert ours.shape == (31, 25)
    assert imresize_matlab(a[:61], 0.5).shape == (31, 25)  # MATLAB: ceil(61 / 2)
    # PIL's reducing bicubic (a = -0.5, support scaled by 2) equals MATLAB away from borders
    pil = np.asarray(Image.fromarray(a.astype(np.float32)).resize((25, 31), Image.BICUBIC), np.float64)
    np.testing.assert_allclose(ours[3:-3, 3:-3], pil[3:-3, 3:-3], atol=2e-3)
    np.testing.assert_allclose(imresize_matlab(np.full((20, 13), 7.5), 0.5), 7.5, atol=1e-12)


def test_brisque_svr_equals_libsvm() -> None:
    svmutil = pytest.importorskip("libsvm.svmutil")
    model = _model_or_skip()
    from tripled_fast.metrics.brisque import _default_model_dir

    ref = svmutil.svm_load_model(str(_default_model_dir() / "svm.txt"))
    rng = np.random.default_rng(5)
    feats = [brisque_features(skimage.data.camera()[:200, :200])]
    feats += [model.fmin + (model.fmax - model.fmin) * rng.random(36) for _ in range(3)]
    for f in feats:
        x, _ = svmutil.gen_svm_nodearray([float(v) for v in model.scale(f)])
        assert model.predict(f)[0] == pytest.approx(svmutil.libsvm.svm_predict(ref, x), abs=1e-9)


def test_brisque_score_orders_distortions() -> None:
    _model_or_skip()
    if SET5.is_dir():
        img = np.asarray(Image.open(SET5 / "HR" / "butterfly.png").convert("RGB"))
    else:
        img = skimage.data.astronaut()[:256, :256]
    clean = brisque_score(img)
    blurred = [brisque_score(blur(img, s)) for s in (1.0, 2.0)]
    noised = [brisque_score(noisy(img, s, seed=1)) for s in (10.0, 30.0)]
    assert clean < blurred[0] < blurred[1]
    assert clean < noised[0] < noised[1]
    assert blurred[1] > clean + 20 and noised[1] > clean + 20


def test_torch_brisque_features_agree_with_numpy() -> None:
    img = skimage.data.coffee()[:160, :200]
    f = brisque_features(img.astype(np.float64))  # float input: unrounded grey, as in torch
    x = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]
    ft = BRISQUEFeatures(value_range=255.0)(x)[0].numpy()
    shapes = [0, 2, 6, 10, 14, 18, 20, 24, 28, 32]
    means = [3, 7, 11, 15, 21, 25, 29, 33]
    rest = [i for i in range(36) if i not in shapes + means]
    # documented tolerance: shapes 1e-3 (interpolated vs nearest grid point), means 1e-3
    # relative through the shape, variances exact up to float64 rounding
    assert np.abs(ft[shapes] - f[shapes]).max() <= 1e-3
    np.testing.assert_allclose(ft[means], f[means], rtol=2e-3, atol=1e-6)
    np.testing.assert_allclose(ft[rest], f[rest], rtol=1e-9)
    # per-channel mode on feature maps: each channel its own 36 features
    fm = BRISQUEFeatures(value_range=255.0, per_channel=True)(x)
    assert fm.shape == (1, 3, 36)
    f_red = brisque_features(img[..., 0].astype(np.float64))
    assert np.abs(fm[0, 0, [1, 4, 5]].numpy() - f_red[[1, 4, 5]]).max() < 1e-9


def test_torch_brisque_score_differentiable_and_close() -> None:
    model = _model_or_skip()
    img = skimage.data.astronaut()[200:328, 200:328]
    x = (torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None] / 255.0).requires_grad_(True)
    score = BRISQUEScore(model)(x)
    ref = model.predict(brisque_features(img.astype(np.float64)))[0]
    assert score.shape == (1,)
    assert score.item() == pytest.approx(ref, abs=1.0)
    score.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ------------------------------------------------------------------------------ PIQE
def test_piqe_camera_matches_pypiqe_exactly() -> None:
    pypiqe = pytest.importorskip("pypiqe")
    cam = skimage.data.camera()
    score, act, notice, noise = piqe_score(cam)
    ref_score, ref_notice, ref_noise, ref_act = pypiqe.piqe(cam)
    assert ref_score == pytest.approx(40.137, abs=5e-4)  # the value documented for this machine
    assert score == pytest.approx(ref_score, abs=1e-9)
    assert np.array_equal(act, ref_act) and np.array_equal(notice, ref_notice) and np.array_equal(noise, ref_noise)
    assert act.shape == cam.shape and act.dtype == bool


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "brick"])
def test_piqe_against_pypiqe(name: str) -> None:
    pypiqe = pytest.importorskip("pypiqe")
    img = getattr(skimage.data, name)()
    ref = pypiqe.piqe(np.ascontiguousarray(img[..., ::-1]) if img.ndim == 3 else img)[0]
    # pypiqe-compatible preprocessing: identical numbers
    assert piqe_score(img, compat="pypiqe")[0] == pytest.approx(ref, abs=1e-9)
    # MATLAB preprocessing: within 0.5 where only the grey conversion differs
    # (sides multiple of 16 and maximum 255); coffee / brick also differ in padding / stretching
    if name == "astronaut":
        assert piqe_score(img)[0] == pytest.approx(ref, abs=0.5)


def test_piqe_orders_distortions_and_constant_image() -> None:
    img = skimage.data.astronaut()[:256, :256]
    clean = piqe_score(img)[0]
    assert piqe_score(noisy(img, 25.0, seed=2))[0] > clean + 10
    assert piqe_score(np.full((40, 40, 3), 90, np.uint8))[0] == 100.0  # no active block


def test_piqe_features_soft_to_hard() -> None:
    cam = skimage.data.camera()
    x = torch.from_numpy(cam.astype(np.float64))[None, None]
    maps = PIQEFeatures(value_range=255.0, temperature=1e-6)(x)
    score, act, notice, noise = piqe_score(cam)
    assert maps.activity.shape == (1, 1, 32, 32)
    assert maps.score.item() == pytest.approx(score, abs=0.05)
    hard = [act[::16, ::16], notice[::16, ::16], noise[::16, ::16]]
    soft = [maps.activity[0, 0] > 0.5, (maps.activity * maps.noticeable)[0, 0] > 0.5, (maps.activity * maps.noise)[0, 0] > 0.5]
    for h, s in zip(hard, soft):
        assert (h == s.numpy()).mean() >= 0.99


def test_piqe_features_gradient_matches_finite_differences() -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.rand((1, 1, 32, 48), generator=gen, dtype=torch.float64, requires_grad=True)
    mod = PIQEFeatures(temperature=0.5)
    mod(x).score.sum().backward()
    eps = 1e-6
    for _ in range(3):  # directional derivatives
        v = torch.randn(x.shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            fd = (mod(x + eps * v).score - mod(x - eps * v).score).sum() / (2 * eps)
        assert (x.grad * v).sum().item() == pytest.approx(fd.item(), rel=1e-5, abs=1e-7)


# ------------------------------------------------------------------------------ folder
def test_iqa_folder(tmp_path: Path) -> None:
    _model_or_skip()
    imgs = {"b.png": skimage.data.camera()[:96, :128], "a.png": skimage.data.astronaut()[:80, :112]}
    for name, arr in imgs.items():
        Image.fromarray(arr).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    rows = iqa_folder(tmp_path)
    assert [r["name"] for r in rows] == ["a.png", "b.png"]
    for r in rows:
        arr = imgs[r["name"]]
        assert r["brisque"] == pytest.approx(brisque_score(arr), abs=1e-9)
        assert r["piqe"] == pytest.approx(piqe_score(arr)[0], abs=1e-9)
        assert (r["height"], r["width"]) == arr.shape[:2]
    assert list(iqa_folder(tmp_path, metrics=("piqe",))[0]) == ["name", "path", "height", "width", "piqe"]
    with pytest.raises(ValueError, match="unknown 'niqe'"):
        iqa_folder(tmp_path, metrics=("niqe",))
    with pytest.raises(DataError, match="no image files"):
        iqa_folder(_empty(tmp_path))


def _empty(tmp_path: Path) -> Path:
    d = tmp_path / "empty"
    d.mkdir()
    return d
