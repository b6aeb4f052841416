"""Degradation specs and ops: parsing, MATLAB bicubic parity, seeding, per-op behaviour."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter
from skimage import data as skdata

from tripled_fast.data.degrade import (
    apply_degradation,
    imresize,
    parse_spec,
    spec_scale,
    spec_task,
    spec_to_string,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real 128x128 RGB crop (scikit-image's astronaut, shipped with the wheel)."""
    return np.ascontiguousarray(skdata.astronaut()[100:228, 180:308])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


# --------------------------------------------------------------------------- parsing
def test_parse_string_and_list_forms_agree() -> None:
    text = parse_spec("blur:sigma=1.5+noise:sigma=15+jpeg:quality=40")
    listed = parse_spec([{"type": "blur", "sigma": 1.5}, {"type": "noise", "sigma": 15},
                         {"type": "jpeg", "quality": 40}])
    assert text == listed
    assert [op.name for op in text] == ["blur", "noise", "jpeg"]
    assert text[0].params == {"sigma": 1.5, "ksize": 0}
    assert text[1].params == {"sigma": 15.0, "gray": False}
    assert text[2].params == {"quality": 40}
    assert parse_spec(spec_to_string(text)) == text
    assert parse_spec("bicubic")[0].params == {"scale": 4}
    assert parse_spec("noise:sigma=1e+1")[0].params["sigma"] == 10.0  # '+' in a number is no op split
    assert parse_spec("") == []


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("sharpen:amount=2", "unknown op 'sharpen'"),
        ("noise:sigm=3", "op 'noise' has no parameter 'sigm'"),
        ("noise:sigma=-1", "noise.sigma: expected >= 0"),
        ("noise:sigma=abc", "noise.sigma: expected a number"),
        ("jpeg:quality=0", "jpeg.quality: expected in 1..100"),
        ("jpeg:quality=40.5", "jpeg.quality: expected an integer"),
        ("blur:ksize=4", "blur.ksize: expected an odd integer >= 1"),
        ("noise:sigma", "expected key=value"),
        ("noise:sigma=1,sigma=2", "noise.sigma given twice"),
        ("noise:gray=maybe", "noise.gray: expected true/false"),
        ([{"sigma": 3}], "with a 'type' key"),
    ],
)
def test_parse_errors_name_the_problem(spec: object, fragment: str) -> None:
    with pytest.raises(ValueError, match="degradation spec") as info:
        parse_spec(spec)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_spec_scale_and_task() -> None:
    assert spec_scale("blur:sigma=1+bicubic:scale=2+bicubic:scale=2") == 4
    assert spec_scale("noise:sigma=5") == 1
    assert spec_task("rain+noise:sigma=5") == "derain"
    assert spec_task("bicubic:scale=3") == "sr"
    assert spec_task("") == "restore"


# --------------------------------------------------------------------------- bicubic
def test_matlab_bicubic_matches_set5_lr() -> None:
    """The shipped Set5 LR_bicubic_X4 images were made by MATLAB imresize(HR, 1/4, 'bicubic')."""
    hr_dir, lr_dir = SHARED / "sr" / "Set5" / "HR", SHARED / "sr" / "Set5" / "LR_bicubic_X4"
    files = sorted(hr_dir.glob("*.png")) if hr_dir.is_dir() else []
    if not files:
        pytest.skip("../shared/data/sr/Set5 not present")
    for hr_path in files:
        hr = np.asarray(Image.open(hr_path).convert("RGB"))
        hr = hr[: hr.shape[0] // 4 * 4, : hr.shape[1] // 4 * 4]   # BasicSR mod_crop
        lr = np.asarray(Image.open(lr_dir / f"{hr_path.stem}x4.png").convert("RGB"))
        ours = apply_degradation(hr, "bicubic:scale=4", np.random.default_rng(0))
        assert ours.shape == lr.shape, hr_path.name
        assert _psnr(ours, lr) > 45.0, hr_path.name
        # measured here: bit-exact on all five images
        assert np.abs(ours.astype(int) - lr.astype(int)).max() <= 1, hr_path.name


def test_imresize_reproduces_a_linear_ramp() -> None:
    """Keys' cubic (a=-0.5) reproduces linear functions; MATLAB maps output j to u=4j+1.5 (0-based)."""
    ramp = np.tile(np.arange(64, dtype=np.float64)[None, :, None], (8, 1, 1))
    out = imresize(ramp, 0.25)
    assert out.shape == (2, 16, 1)
    expected = 4 * np.arange(16) + 1.5
    np.testing.assert_allclose(out[0, 2:-2, 0], expected[2:-2], atol=1e-9)  # interior (no border mirror)


def test_bicubic_output_size_is_ceil(photo: np.ndarray) -> None:
    out = apply_degradation(photo[:127, :126], "bicubic:scale=4", np.random.default_rng(0))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8


# --------------------------------------------------------------------------- seeding
@pytest.mark.parametrize(
    "spec", ["noise:sigma=10", "lowlight:factor=0.5,gamma=1.2,noise=5", "haze:beta=1.5", "rain:density=0.01"]
)
def test_seeding(photo: np.ndarray, spec: str) -> None:
    a = apply_degradation(photo, spec, np.random.default_rng(7))
    b = apply_degradation(photo, spec, np.random.default_rng(7))
    c = apply_degradation(photo, spec, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


# --------------------------------------------------------------------------- per-op behaviour
def test_noise_std_matches_sigma() -> None:
    img = np.full((256, 256, 3), 128, np.uint8)
    for sigma in (5.0, 15.0, 25.0):
        out = apply_degradation(img, f"noise:sigma={sigma}", np.random.default_rng(1))
        diff = out.astype(np.float64) - 128.0
        expected = math.sqrt(sigma**2 + 1.0 / 12.0)  # rounding to integers adds 1/12 variance
        assert abs(diff.std() - expected) / expected < 0.02
        assert abs(diff.mean()) < 0.2
        # independent per channel
        assert abs(np.corrcoef(diff[..., 0].ravel(), diff[..., 1].ravel())[0, 1]) < 0.02


def test_gray_noise_is_shared_across_channels() -> None:
    img = np.full((64, 64, 3), 100, np.uint8)
    out = apply_degradation(img, "noise:sigma=10,gray=true", np.random.default_rng(0))
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    assert out.std() > 9.0


def test_blur_equals_scipy_gaussian(photo: np.ndarray) -> None:
    """ksize 2*ceil(3 sigma)+1 with reflect-101 borders == scipy gaussian_filter(mode='mirror')."""
    sigma = 1.5
    out = apply_degradation(photo, f"blur:sigma={sigma}", np.random.default_rng(0))
    ref = gaussian_filter(photo.astype(np.float64), sigma=(sigma, sigma, 0), mode="mirror",
                          truncate=math.ceil(3 * sigma) / sigma)
    ref = np.floor(np.clip(ref, 0, 255) + 0.5).astype(np.uint8)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert np.mean(out != ref) < 0.001
    # blurring removes high frequencies: the Laplacian energy drops
    lap = lambda x: np.abs(np.diff(x.astype(float), 2, axis=0)).mean()  # noqa: E731
    assert lap(out) < 0.6 * lap(photo)


def test_jpeg_quality_orders_error(photo: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    q90 = apply_degradation(photo, "jpeg:quality=90", rng)
    q10 = apply_degradation(photo, "jpeg:quality=10", rng)
    assert q90.shape == photo.shape and q90.dtype == np.uint8
    assert 22.0 < _psnr(q10, photo) < _psnr(q90, photo) - 5.0 < 50.0
    gray = photo[..., :1].copy()
    assert apply_degradation(gray, "jpeg:quality=50", rng).shape == gray.shape


def test_lowlight_formula() -> None:
    img = np.full((8, 8, 3), 200, np.uint8)
    out = apply_degradation(img, "lowlight:factor=0.4,gamma=1.5", np.random.default_rng(0))
    expected = math.floor(((0.4 * 200 / 255) ** 1.5) * 255 + 0.5)
    assert np.all(out == expected)


def test_haze_is_atmospheric_scattering() -> None:
    rng = np.random.default_rng(3)
    # an image equal to the atmospheric light is a fixed point of I t + A (1 - t)
    airlight = np.full((64, 64, 3), 204, np.uint8)   # 0.8 * 255
    assert np.abs(apply_degradation(airlight, "haze:beta=2,A=0.8", rng).astype(int) - 204).max() <= 1
    black = np.zeros((64, 64, 3), np.uint8)
    out = apply_degradation(black, "haze:beta=2,A=0.8", rng).astype(np.float64) / 255
    # out = A (1 - exp(-beta d)), d in [0, 1]
    assert out.min() >= -1e-9 and out.max() <= 0.8 * (1 - math.exp(-2.0)) + 1 / 255
    assert out[:16].mean() > out[-16:].mean()  # far (top) is hazier
    assert np.array_equal(out[..., 0], out[..., 1])


def test_rain_adds_oriented_streaks(photo: np.ndarray) -> None:
    rng = np.random.default_rng(5)
    assert np.array_equal(apply_degradation(photo, "rain:density=0", rng), photo)
    out = apply_degradation(photo, "rain:density=0.01,length=15,angle=0,intensity=0.8", rng)
    diff = out.astype(int) - photo.astype(int)
    assert diff.min() >= 0 and out.shape == photo.shape
    assert 0.05 < np.mean(diff > 0) < 0.9
    # streaks are vertical at angle=0: the layer correlates along rows much more than across
    layer = diff[..., 0].astype(float) - diff[..., 0].mean()
    vert = (layer[3:] * layer[:-3]).mean()
    horiz = (layer[:, 3:] * layer[:, :-3]).mean()
    assert vert > 3 * abs(horiz)


@pytest.mark.parametrize(
    "spec, lo, hi",
    [
        ("noise:sigma=15", 9.0, 12.5),        # E|N(0, 15)| = 11.97, less where clipped
        ("blur:sigma=1", 1.0, 15.0),
        ("jpeg:quality=30", 1.0, 10.0),
        ("lowlight", 60.0, 140.0),
        ("haze", 20.0, 120.0),
        ("rain", 1.0, 40.0),
    ],
)
def test_ops_preserve_shape_and_change_boundedly(photo: np.ndarray, spec: str, lo: float, hi: float) -> None:
    out = apply_degradation(photo, spec, np.random.default_rng(11))
    assert out.shape == photo.shape and out.dtype == np.uint8
    mad = np.abs(out.astype(float) - photo).mean()
    assert lo < mad < hi, mad
    gray = photo[..., 1:2].copy()
    out_g = apply_degradation(gray, spec, np.random.default_rng(11))
    assert out_g.shape == gray.shape and out_g.dtype == np.uint8


def test_rejects_non_uint8(photo: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected a uint8 H x W x C image"):
        apply_degradation(photo.astype(np.float32), "noise", np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8 H x W x C"):
        apply_degradation(photo[..., 0], "noise", np.random.default_rng(0))
