"""Torch reference of the tile statistics against an independent numpy / scipy implementation,
plus the public API of tripled_fast.scoring.stats (validation, backend resolution, streaming)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.ndimage as ndi
from skimage.measure import block_reduce
from skimage.transform import resize

from tripled_fast.errors import BackendUnavailable
from tripled_fast.scoring import stats as S

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BABY = DATA / "sr" / "Set5" / "HR" / "baby.png"


def numpy_tile_stats(y8: np.ndarray, y: int, x: int, size: int, f: int) -> dict[str, float]:
    """Independent per-tile implementation: scipy.ndimage stencils, np.histogram, skimage
    block_reduce (box down) + resize(order=1, mode="edge") (half-pixel bilinear up)."""
    t = y8[y:y + size, x:x + size].astype(np.float64)
    h, w = t.shape
    hist = np.histogram(t, bins=256, range=(0, 256))[0]
    p = hist[hist > 0] / t.size
    gx = ndi.sobel(t, axis=1, mode="nearest")
    gy = ndi.sobel(t, axis=0, mode="nearest")
    lap = ndi.laplace(t, mode="nearest")
    hc, wc = h // f * f, w // f * f
    if hc and wc:
        crop = t[:hc, :wc]
        up = resize(block_reduce(crop, (f, f), np.mean), (hc, wc), order=1, mode="edge",
                    anti_aliasing=False)
        interp = float(((crop - up) ** 2).mean())
    else:
        interp = 0.0
    return {"mean": t.mean(), "var": t.var(), "entropy": float(-(p * np.log2(p)).sum()),
            "grad_energy": float((gx ** 2 + gy ** 2).mean()), "lap_var": float(lap.var()),
            "interp_err": interp}


def edge_coords(h: int, w: int, size: int) -> np.ndarray:
    """Interior, ragged right / bottom / corner tiles and 1-pixel slivers."""
    return np.array([[0, 0], [h // 3, w // 4], [h - max(1, size // 2), 1],
                     [2, w - max(1, size // 3)],
                     [h - 3, w - 5], [h - 1, w - 1], [h - 1, 0], [0, w - 2]], np.int32)


def assert_matches_numpy(img: np.ndarray, coords: np.ndarray, size: int, f: int) -> None:
    ref = S.tile_stats_reference(img, coords, size, f)
    y8 = S.luminance_u8(img)
    for i, (y, x) in enumerate(coords):
        expect = numpy_tile_stats(y8, int(y), int(x), size, f)
        for k in S.STAT_NAMES:
            np.testing.assert_allclose(ref[k][i], expect[k], rtol=1e-6, atol=1e-9,
                                       err_msg=f"{k} tile {i} ({y}, {x}) size {size} f {f}")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size,f", [(33, 2), (48, 3), (20, 4), (5, 2), (1, 2)])
def test_reference_matches_numpy_on_random_images(channels: int, size: int, f: int) -> None:
    rng = np.random.default_rng(size * 10 + channels)
    img = rng.integers(0, 256, (61, 47, channels), dtype=np.uint8)
    assert_matches_numpy(img, edge_coords(61, 47, size), size, f)


def test_reference_matches_numpy_on_real_image() -> None:
    if not BABY.is_file():
        pytest.skip(f"{BABY} not present")
    from PIL import Image

    img = np.asarray(Image.open(BABY).convert("RGB"))
    h, w = img.shape[:2]
    coords = np.concatenate([edge_coords(h, w, 96), [[200, 300], [37, 411]]]).astype(np.int32)
    assert_matches_numpy(img, coords, 96, 2)
    assert_matches_numpy(img[:, :, 1:2].copy(), coords[:4], 96, 3)


def test_luminance_is_integer_bt601() -> None:
    rgb = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0]],
                    [[0, 0, 255], [10, 20, 30], [1, 1, 1], [128, 64, 200]]], np.uint8)
    y = S.luminance_u8(rgb)
    expect = [[(77 * r + 150 * g + 29 * b + 128) >> 8 for r, g, b in row.tolist()]
              for row in rgb.astype(np.int64)]
    np.testing.assert_array_equal(y, np.array(expect, np.uint8))
    assert y[0, 0] == 255 and y[0, 1] == 0 and y[0, 2] == 77  # (77*255 + 128) >> 8
    gray = rgb[:, :, :1].copy()
    np.testing.assert_array_equal(S.luminance_u8(gray), gray[:, :, 0])
    np.testing.assert_array_equal(S.luminance_u8(gray[:, :, 0]), gray[:, :, 0])


def test_known_values_on_constructed_tiles() -> None:
    # constant tile: zero everything but the mean
    const = np.full((8, 8, 1), 100, np.uint8)
    r = S.tile_stats_reference(const, [[0, 0]], 8, 2)
    assert r["mean"][0] == 100 and r["var"][0] == 0 and r["entropy"][0] == 0
    assert r["grad_energy"][0] == 0 and r["lap_var"][0] == 0 and r["interp_err"][0] == 0
    # two-level tile, half 0 half 255: entropy exactly 1 bit, var = 127.5^2
    img = np.zeros((4, 4, 1), np.uint8)
    img[:, 2:] = 255
    r = S.tile_stats_reference(img, [[0, 0]], 4, 2)
    assert r["entropy"][0] == 1.0 and r["var"][0] == np.float32(127.5 ** 2)
    # Sobel Gx on a vertical step with replicate padding: columns 1 and 2 see 4 * 255
    assert r["grad_energy"][0] == np.float32((4 * 255) ** 2 * 8 / 16)


def test_tile_is_processed_alone() -> None:
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    other[10:26, 12:28] = img[10:26, 12:28]             # same tile, different neighbours
    a = S.tile_stats_reference(img, [[10, 12]], 16, 2)
    b = S.tile_stats_reference(other, [[10, 12]], 16, 2)
    c = S.tile_stats_reference(np.ascontiguousarray(img[10:26, 12:28]), [[0, 0]], 16, 2)
    for k in S.STAT_NAMES:
        assert a[k][0] == b[k][0] == c[k][0], k


def test_reference_chunks_equal_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    coords = np.stack(np.meshgrid(np.arange(0, 50, 7), np.arange(0, 50, 9), indexing="ij"),
                      -1).reshape(-1, 2)
    whole = S.tile_stats_reference(img, coords, 12, 2)
    monkeypatch.setattr(S, "_REF_CHUNK_PIXELS", 300)     # two tiles per chunk
    chunked = S.tile_stats_reference(img, coords, 12, 2)
    for k in S.STAT_NAMES:
        np.testing.assert_array_equal(whole[k], chunked[k])


def test_validation_messages() -> None:
    img = np.zeros((10, 12, 3), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        S.tile_stats(img.astype(np.float32), [[0, 0]], 4, backend="torch")
    with pytest.raises(ValueError, match="C in"):
        S.tile_stats(np.zeros((4, 4, 2), np.uint8), [[0, 0]], 4, backend="torch")
    with pytest.raises(ValueError, match=r"coords\[1\] = \(10, 0\)"):
        S.tile_stats(img, [[0, 0], [10, 0]], 4, backend="torch")
    with pytest.raises(ValueError, match="size"):
        S.tile_stats(img, [[0, 0]], 0, backend="torch")
    with pytest.raises(ValueError, match="interp_scale"):
        S.tile_stats(img, [[0, 0]], 4, interp_scale=1, backend="torch")
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        S.tile_stats(img, [0, 0], 4, backend="torch")
    with pytest.raises(ValueError, match="expected one of auto"):
        S.resolve_stats_backend("cuda")
    empty = S.tile_stats(img, np.zeros((0, 2), np.int32), 4, backend="torch")
    assert set(empty) == set(S.STAT_NAMES) and all(v.shape == (0,) for v in empty.values())


def test_backend_resolution_here() -> None:
    avail = S.available_stats_backends()
    assert avail[-1] == "torch"
    assert S.resolve_stats_backend("torch") == "torch"
    import torch

    if not torch.cuda.is_available():
        assert S.resolve_stats_backend("auto") == ("cpp" if "cpp" in avail else "torch")
    try:
        import tripled_fast._cstats  # noqa: F401
        assert "cpp" in avail and S.resolve_stats_backend("cpp") == "cpp"
    except ImportError:
        with pytest.raises(BackendUnavailable, match="_cstats"):
            S.resolve_stats_backend("cpp")


def test_missing_extension_falls_back_to_torch() -> None:
    """With tripled_fast._cstats unimportable the package still works: auto -> torch, and an
    explicit cpp request names the missing extension (fresh interpreter, no GPU visible)."""
    code = (
        "import sys; sys.modules['tripled_fast._cstats'] = None\n"
        "import numpy as np\n"
        "from tripled_fast.errors import BackendUnavailable\n"
        "from tripled_fast.scoring import stats as S\n"
        "assert S.resolve_stats_backend('auto') == 'torch', S.resolve_stats_backend('auto')\n"
        "assert S.available_stats_backends() == ['torch']\n"
        "try:\n"
        "    S.resolve_stats_backend('cpp'); raise SystemExit('no error')\n"
        "except BackendUnavailable as e:\n"
        "    assert 'tripled_fast._cstats' in str(e) and '\\n' not in str(e), e\n"
        "try:\n"
        "    S.resolve_stats_backend('triton'); raise SystemExit('no error')\n"
        "except BackendUnavailable as e:\n"
        "    assert 'CUDA' in str(e), e\n"
        "r = S.tile_stats(np.full((6, 6, 1), 7, np.uint8), [[0, 0]], 4)\n"
        "assert r['mean'][0] == 7\n"
        "print('ok')\n")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("TRITON_INTERPRET", None)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr[-2000:]


def test_iter_tile_stats_streams_per_image() -> None:
    rng = np.random.default_rng(5)
    imgs = [rng.integers(0, 256, (20 + 3 * i, 30, 3), dtype=np.uint8) for i in range(3)]
    coords = [np.array([[0, 0], [10, 15 + i]], np.int32) for i in range(3)]
    consumed = []

    def gen():
        for img, c in zip(imgs, coords):
            consumed.append(len(consumed))
            yield img, c

    it = S.iter_tile_stats(gen(), 16, interp_scale=2, backend="torch")
    first = next(it)
    assert consumed == [0]                                 # lazy: one image at a time
    rest = list(it)
    for got, img, c in zip([first, *rest], imgs, coords):
        ref = S.tile_stats_reference(img, c, 16, 2)
        for k in S.STAT_NAMES:
            np.testing.assert_array_equal(got[k], ref[k])
