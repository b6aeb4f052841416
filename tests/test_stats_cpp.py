"""C++ / OpenMP backend (tripled_fast._cstats) against the float64 torch reference."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tripled_fast.scoring import stats as S

cstats = pytest.importorskip("tripled_fast._cstats",
                             reason="C++ extension not built (pip install -e .)")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BABY = DATA / "sr" / "Set5" / "HR" / "baby.png"


def ragged_coords(h: int, w: int, size: int, stride: int) -> np.ndarray:
    """A stride grid that runs past the right / bottom edges (clipped tiles) plus corners."""
    ys, xs = np.arange(0, h, stride), np.arange(0, w, stride)
    grid = np.stack(np.meshgrid(ys, xs, indexing="ij"), -1).reshape(-1, 2)
    extra = np.array([[h - 1, w - 1], [h - 1, 0], [0, w - 1], [h - size // 2 - 1, 3]])
    return np.concatenate([grid, np.clip(extra, 0, None)]).astype(np.int32)


def assert_close_to_reference(img: np.ndarray, coords: np.ndarray, size: int, f: int,
                              **kw: int) -> None:
    coords = np.ascontiguousarray(coords, np.int32)
    ref = S.tile_stats_reference(img, coords, size, f)
    got = S.tile_stats(img, coords, size, interp_scale=f, backend="cpp", **kw)
    for k in S.STAT_NAMES:
        assert got[k].dtype == np.float32 and got[k].shape == (len(coords),)
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-6,
                                   err_msg=f"{k} size {size} f {f}")
    # the histogram behind mean / var / entropy is exact
    y8 = S.luminance_u8(img)
    hist = cstats.tile_histograms(np.ascontiguousarray(img), coords, size)
    for i, (y, x) in enumerate(coords):
        expect = np.bincount(y8[y:y + size, x:x + size].ravel(), minlength=256)
        np.testing.assert_array_equal(hist[i], expect, err_msg=f"hist tile {i}")


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size,f", [(16, 2), (33, 2), (48, 3), (20, 4), (37, 16), (5, 3),
                                    (1, 2)])
def test_cpp_matches_reference_random(channels: int, size: int, f: int) -> None:
    rng = np.random.default_rng(100 * size + f + channels)
    img = rng.integers(0, 256, (71, 58, channels), dtype=np.uint8)
    assert_close_to_reference(img, ragged_coords(71, 58, size, max(1, size * 2 // 3)), size, f)


def test_cpp_matches_reference_smooth_image() -> None:
    """Smooth gradients give tiny interp_err / lap_var: a test of exactness, not only of
    agreement on large numbers."""
    yy, xx = np.mgrid[0:64, 0:80]
    img = np.clip(60 + 0.7 * yy + 0.9 * xx + 5 * np.sin(xx / 9.0), 0, 255).astype(np.uint8)
    img = np.repeat(img[:, :, None], 3, axis=2)
    assert_close_to_reference(img, ragged_coords(64, 80, 24, 11), 24, 2)
    assert_close_to_reference(img, ragged_coords(64, 80, 24, 11), 24, 3)


def test_cpp_matches_reference_real_image() -> None:
    if not BABY.is_file():
        pytest.skip(f"{BABY} not present")
    from PIL import Image

    img = np.asarray(Image.open(BABY).convert("RGB"))
    h, w = img.shape[:2]
    coords = ragged_coords(h, w, 96, 72)
    assert_close_to_reference(img, coords, 96, 2)
    assert_close_to_reference(np.ascontiguousarray(img[:, :, :1]), coords[::3], 96, 4)


def test_cpp_threads_and_layouts_agree() -> None:
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)
    coords = ragged_coords(90, 70, 24, 10)
    one = S.tile_stats(img, coords, 24, backend="cpp", num_threads=1)
    two = S.tile_stats(img, coords, 24, backend="cpp", num_threads=2)
    # a non-contiguous view and int64 coords go through the wrapper's conversion
    wide = np.zeros((90, 140, 3), np.uint8)
    wide[:, ::2] = img
    view = S.tile_stats(wide[:, ::2], coords.astype(np.int64), 24, backend="cpp")
    for k in S.STAT_NAMES:
        np.testing.assert_array_equal(one[k], two[k])
        np.testing.assert_array_equal(one[k], view[k])


def test_cpp_tile_is_processed_alone() -> None:
    rng = np.random.default_rng(8)
    img = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    noise = rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)
    noise[7:27, 9:29] = img[7:27, 9:29]
    a = S.tile_stats(img, [[7, 9]], 20, backend="cpp")
    b = S.tile_stats(noise, [[7, 9]], 20, backend="cpp")
    for k in S.STAT_NAMES:
        assert a[k][0] == b[k][0], k


def test_cpp_rejects_bad_input_directly() -> None:
    img = np.zeros((10, 10, 3), np.uint8)
    ok = np.array([[0, 0]], np.int32)
    with pytest.raises(ValueError, match="tiles must start inside"):
        cstats.tile_stats(img, np.array([[0, 10]], np.int32), 4, 2, 0)
    with pytest.raises(ValueError, match="interp_scale"):
        cstats.tile_stats(img, ok, 4, 17, 0)
    with pytest.raises(ValueError, match="C in"):
        cstats.tile_stats(np.zeros((10, 10, 4), np.uint8), ok, 4, 2, 0)
    with pytest.raises(TypeError):                       # wrong dtype is refused by nanobind
        cstats.tile_stats(img.astype(np.float32), ok, 4, 2, 0)
    assert cstats.tile_stats(img, np.zeros((0, 2), np.int32), 4, 2, 0).shape == (0, 6)
    assert cstats.STAT_NAMES == S.STAT_NAMES


def test_cpp_shared_luminance_plane_gives_identical_results() -> None:
    # dense overlapping RGB tiles take the shared-Y8-plane path, a sparse subset the per-tile
    # path; the same tiles must give bit-identical statistics and histograms either way
    rng = np.random.default_rng(11)
    img = rng.integers(0, 256, (150, 173, 3), dtype=np.uint8)
    dense = ragged_coords(150, 173, 32, 16)
    sparse = np.ascontiguousarray(dense[::15])
    assert len(sparse) * 32 * 32 * 2 < 150 * 173 <= len(dense) * 32 * 32 * 2
    for f in (2, 3):
        d = cstats.tile_stats(img, dense, 32, f, 2)
        s = cstats.tile_stats(img, sparse, 32, f, 1)
        np.testing.assert_array_equal(d[::15], s)
    gray = S.luminance_u8(img)[:, :, None].copy()
    np.testing.assert_array_equal(cstats.tile_stats(img, dense, 32, 2, 1), cstats.tile_stats(gray, dense, 32, 2, 1))
    np.testing.assert_array_equal(cstats.tile_histograms(img, dense, 32)[::15], cstats.tile_histograms(img, sparse, 32))


# ---- grid path: tiles on a cell grid share per-cell sums (f == 2); bit-identical to per tile
def _per_tile(img: np.ndarray, coords: np.ndarray, size: int) -> np.ndarray:
    """Each tile alone (a single tile never takes the grid path)."""
    return np.concatenate([cstats.tile_stats(img, coords[i:i + 1], size, 2, 1) for i in range(len(coords))])


@pytest.mark.parametrize("h,w,size,stride,channels", [
    (150, 173, 32, 16, 3),   # the pipeline's stride = size / 2, snapped edge tiles take the per-tile path
    (97, 130, 16, 8, 1),
    (200, 260, 64, 32, 3),
    (90, 90, 24, 12, 3),     # cell 12
    (120, 100, 40, 8, 3),    # cell 8, each tile spans 5 x 5 cells
])
def test_cpp_grid_path_is_bit_identical_to_per_tile(h: int, w: int, size: int, stride: int,
                                                    channels: int) -> None:
    from tripled_fast.data.tiles import tile_grid

    rng = np.random.default_rng(h * w + size)
    img = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    coords = np.ascontiguousarray(tile_grid(h, w, size, stride), np.int32)
    cell = cstats.grid_cell(img, coords, size, 2)
    assert cell == stride, "the dense grid must take the grid path with the stride as cell"
    assert cstats.grid_cell(img, coords, size, 3) == 0, "f != 2 stays per tile"
    dense = cstats.tile_stats(img, coords, size, 2, 2)
    np.testing.assert_array_equal(dense, _per_tile(img, coords, size))
    ref = S.tile_stats_reference(img, coords, size, 2)
    for i, k in enumerate(S.STAT_NAMES):
        np.testing.assert_allclose(dense[:, i], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_cpp_grid_path_extreme_and_real_images() -> None:
    """Flat, saturated, checkerboard (largest |E| and Sobel) and a real photo: exact equality."""
    from tripled_fast.data.tiles import tile_grid

    h, w, size = 96, 128, 32
    yy, xx = np.mgrid[0:h, 0:w]
    checker = np.where((yy + xx) % 2 == 0, 255, 0).astype(np.uint8)
    images = [np.zeros((h, w, 1), np.uint8), np.full((h, w, 3), 255, np.uint8),
              checker[:, :, None], np.repeat(checker[:, :, None], 3, axis=2)]
    if BABY.exists():
        from tripled_fast.data.decode import decode_image
        images.append(np.ascontiguousarray(decode_image(BABY)[:200, :232]))
    for img in images:
        coords = np.ascontiguousarray(tile_grid(img.shape[0], img.shape[1], size, size // 2), np.int32)
        assert cstats.grid_cell(img, coords, size, 2) == size // 2
        dense = cstats.tile_stats(img, coords, size, 2, 0)
        np.testing.assert_array_equal(dense, _per_tile(img, coords, size))
        ref = S.tile_stats_reference(img, coords, size, 2)
        for i, k in enumerate(S.STAT_NAMES):
            np.testing.assert_allclose(dense[:, i], ref[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_cpp_grid_path_on_a_sub_region() -> None:
    """Tiles covering only part of the image (a band, away from the origin) take the grid path
    over their bounding box; the snapped edge tiles of that band too (bands at the right)."""
    from tripled_fast.data.tiles import tile_grid

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (300, 250, 3), dtype=np.uint8)
    coords = np.ascontiguousarray(tile_grid(300, 250, 32, 16), np.int32)
    band = np.ascontiguousarray(coords[(coords[:, 0] >= 48) & (coords[:, 0] <= 160)])
    assert cstats.grid_cell(img, band, 32, 2) == 16
    dense = cstats.tile_stats(img, band, 32, 2, 2)
    np.testing.assert_array_equal(dense, _per_tile(img, band, 32))
    corner = np.ascontiguousarray(coords[(coords[:, 0] >= 200) & (coords[:, 1] >= 150)])  # includes y = H - 32
    assert cstats.grid_cell(img, corner, 32, 2) == 16
    np.testing.assert_array_equal(cstats.tile_stats(img, corner, 32, 2, 1), _per_tile(img, corner, 32))


# (h, w, size, stride, channels): cell sides 16 / 32 / 64 (AVX2 first/last-row loop) and 24 / 12
# (portable one), widths that leave a tail after the 32-pixel luminance steps, more cell boundaries
# than one 16-lane step (and not a multiple of 8), a band away from the origin
SIMD_CASES = [(130, 200, 32, 16, 3), (97, 1001, 32, 16, 3), (150, 777, 64, 32, 3), (120, 601, 48, 24, 3),
              (70, 515, 24, 12, 1), (260, 1090, 128, 64, 3)]


@pytest.mark.parametrize("h,w,size,stride,channels", SIMD_CASES)
def test_cpp_portable_loop_equals_simd_path(tmp_path, h: int, w: int, size: int, stride: int,
                                            channels: int) -> None:
    """TRIPLED_FAST_NO_SIMD=1 switches the AVX2 loops (luminance plane, grid rows, cell boundaries,
    first / last rows) off: the same bits, and the same as every tile alone."""
    import os
    import subprocess
    import sys

    from tripled_fast.data.tiles import tile_grid

    rng = np.random.default_rng(h + w + size)
    img = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    img[: h // 3, : w // 3] //= 8  # a dark corner: narrow histograms there
    coords = np.ascontiguousarray(tile_grid(h, w, size, stride), np.int32)
    band = np.ascontiguousarray(coords[(coords[:, 0] >= stride) & (coords[:, 1] >= 3 * stride)])
    assert cstats.grid_cell(img, coords, size, 2) == stride
    np.save(tmp_path / "img.npy", img)
    for name, c in (("all", coords), ("band", band)):
        np.save(tmp_path / f"{name}.npy", c)
    code = ("import numpy as np, sys; import tripled_fast._cstats as c; d, s = sys.argv[1], int(sys.argv[2]); "
            "img = np.load(d + '/img.npy'); "
            "[np.save(d + f'/out_{n}.npy', c.tile_stats(img, np.load(d + f'/{n}.npy'), s, 2, 1)) for n in ('all', 'band')]")
    env = dict(os.environ, TRIPLED_FAST_NO_SIMD="1")
    subprocess.run([sys.executable, "-c", code, str(tmp_path), str(size)], check=True, env=env)
    for name, c in (("all", coords), ("band", band)):
        simd = cstats.tile_stats(img, c, size, 2, 1)
        np.testing.assert_array_equal(np.load(tmp_path / f"out_{name}.npy"), simd, err_msg=name)
        pick = np.arange(0, len(c), 5)  # every fifth tile alone (per-tile path, its own luminance)
        np.testing.assert_array_equal(simd[pick], _per_tile(img, c[pick], size), err_msg=name)


def test_cpp_luminance_plane_is_exact_on_extreme_colours() -> None:
    """The luminance plane (AVX2 or portable) against the integer formula, through tile means:
    pure and mixed extreme colours plus random ones, tiles of one colour each."""
    rng = np.random.default_rng(11)
    corners = np.array([[r, g, b] for r in (0, 1, 254, 255) for g in (0, 1, 254, 255) for b in (0, 1, 254, 255)])
    colours = np.concatenate([corners, rng.integers(0, 256, (256 - len(corners), 3))]).astype(np.uint8)
    tile = 4
    img = np.repeat(np.repeat(colours.reshape(16, 16, 3), tile, 0), tile, 1)  # 64 x 64, 4 x 4 tiles
    img = np.ascontiguousarray(np.concatenate([img, img[:, :7]], 1))        # width 71: a scalar tail
    ys, xs = np.mgrid[0:64:tile, 0:64:tile]
    coords = np.ascontiguousarray(np.stack([ys.ravel(), xs.ravel()], 1), np.int32)
    got = cstats.tile_stats(img, coords, tile, 2, 1)
    c = colours.astype(np.int64)
    expect = (77 * c[:, 0] + 150 * c[:, 1] + 29 * c[:, 2] + 128) >> 8
    np.testing.assert_array_equal(got[:, 0], expect.astype(np.float32))
    np.testing.assert_array_equal(got[:, 1], 0.0)
