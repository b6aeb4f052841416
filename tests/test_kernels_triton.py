"""Triton kernels (tripled_fast.kernels) against the torch references, run on CPU tensors under
the Triton interpreter.

TRITON_INTERPRET must be set before triton is imported, so the kernels run in a child Python
process (this file's ``__main__``) that writes its outputs to an .npz; the tests compare them
in this process with the float64 reference. Other test files are unaffected.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BABY = REPO.parent / "shared" / "data" / "sr" / "Set5" / "HR" / "baby.png"

# (name, channels, height, width, size, interp_scale, seed)
RANDOM_CASES = [
    ("rgb_s33_f2", 3, 45, 38, 33, 2, 1),
    ("gray_s33_f3", 1, 45, 38, 33, 3, 2),
    ("rgb_s20_f4", 3, 30, 41, 20, 4, 3),
    ("gray_s16_f2", 1, 24, 24, 16, 2, 4),
    ("rgb_s5_f3", 3, 9, 11, 5, 3, 5),
]
KCENTER_SHAPES = [(200, 300, 6), (37, 1, 3), (70, 128, 4)]   # (N, D, steps)


def random_case(channels: int, h: int, w: int, size: int, seed: int
                ) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    coords = np.array([[0, 0], [h // 4, w // 3], [h - size // 2 - 1, 2],
                       [3, w - size // 3 - 1], [h - 1, w - 1], [h - 2, 0]])
    return img, np.clip(coords, 0, None).astype(np.int32)


def real_case() -> tuple[np.ndarray, np.ndarray] | None:
    if not BABY.is_file():
        return None
    from PIL import Image

    img = np.asarray(Image.open(BABY).convert("RGB"))
    h, w = img.shape[:2]
    coords = np.array([[200, 300], [37, 411], [h - 40, 100], [64, w - 50], [h - 30, w - 70]],
                      np.int32)
    return img, coords


def kcenter_data(n: int, d: int) -> np.ndarray:
    return np.random.default_rng(n * 1000 + d).standard_normal((n, d)).astype(np.float32)


def kcenter_room_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """300 points in 5 groups, rooms summing to the 12 picks (one group closed from the start)."""
    x = kcenter_data(300, 16)
    return x, np.arange(300) % 5, np.array([3, 0, 4, 2, 3])


# --------------------------------------------------------------------------- child process
def _child(out_path: str) -> None:
    """Runs under TRITON_INTERPRET=1: every kernel output the tests check, into one .npz."""
    import torch

    from tripled_fast.kernels import kcenter_update, tile_stats_triton
    from tripled_fast.scoring.stats import resolve_stats_backend, tile_stats

    out: dict[str, np.ndarray] = {}
    cases = [(name, *random_case(c, h, w, s, seed), s, f)
             for name, c, h, w, s, f, seed in RANDOM_CASES]
    real = real_case()
    if real is not None:
        cases.append(("real_rgb_s96_f2", *real, 96, 2))
        cases.append(("real_gray_s64_f3", np.ascontiguousarray(real[0][:, :, 1:2]), real[1],
                      64, 3))
    for name, img, coords, size, f in cases:
        res = tile_stats_triton(torch.from_numpy(img), torch.from_numpy(coords), size, f,
                                return_hist=True)
        for k, v in res.items():
            out[f"{name}/{k}"] = v.numpy()
    # the public dispatcher reaches the same kernel when asked for triton explicitly
    out["backend"] = np.array(resolve_stats_backend("triton"))
    img, coords = random_case(3, 45, 38, 33, 1)
    for k, v in tile_stats(img, coords, 33, interp_scale=2, backend="triton").items():
        out[f"api/{k}"] = v
    # greedy k-center: pick argmax of min_dist after every fused update
    for n, d, steps in KCENTER_SHAPES:
        x = torch.from_numpy(kcenter_data(n, d))
        dist = torch.full((n,), float("inf"))
        centers = [0]
        for _ in range(steps):
            kcenter_update(x, dist, centers[-1])
            centers.append(int(torch.argmax(dist)))
        out[f"kc{n}x{d}/dist"] = dist.numpy()
        out[f"kc{n}x{d}/centers"] = np.array(centers)
    # the selection's public k-center on the triton backend, with a per-group room (the default
    # select.image_cap hands one room per photo): closing a full group indexes the device tensor
    from tripled_fast.select.kcenter import kcenter_greedy

    x, groups, room = kcenter_room_case()
    out["kc_room/picks"] = kcenter_greedy(x, 12, seed=0, backend="triton", groups=groups, room=room)
    np.savez(out_path, **out)


# --------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def triton_out(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed")
    path = tmp_path_factory.mktemp("triton") / "out.npz"
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    res = subprocess.run([sys.executable, __file__, str(path)], env=env, capture_output=True,
                         text=True, timeout=600, cwd=REPO)
    assert res.returncode == 0, res.stderr[-4000:]
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def _check_stats(out: dict[str, np.ndarray], name: str, img: np.ndarray, coords: np.ndarray,
                 size: int, f: int) -> None:
    from tripled_fast.scoring.stats import STAT_NAMES, luminance_u8, tile_stats_reference

    ref = tile_stats_reference(img, coords, size, f)
    y8 = luminance_u8(img)
    for i, (y, x) in enumerate(coords):
        expect = np.bincount(y8[y:y + size, x:x + size].ravel(), minlength=256)
        np.testing.assert_array_equal(out[f"{name}/hist"][i], expect, err_msg=f"{name} {i}")
    for k in STAT_NAMES:
        got = out[f"{name}/{k}"]
        assert got.dtype == np.float32 and got.shape == (len(coords),)
        # entropy: exact histogram, float32 logarithms; the rest: exact integer sums
        rtol = 2e-6 if k == "entropy" else 1e-5
        np.testing.assert_allclose(got, ref[k], rtol=rtol, atol=1e-6, err_msg=f"{name} {k}")


@pytest.mark.parametrize("case", RANDOM_CASES, ids=[c[0] for c in RANDOM_CASES])
def test_triton_stats_random(triton_out: dict[str, np.ndarray], case: tuple) -> None:
    name, c, h, w, size, f, seed = case
    _check_stats(triton_out, name, *random_case(c, h, w, size, seed), size, f)


def test_triton_stats_real_image(triton_out: dict[str, np.ndarray]) -> None:
    real = real_case()
    if real is None:
        pytest.skip(f"{BABY} not present")
    img, coords = real
    _check_stats(triton_out, "real_rgb_s96_f2", img, coords, 96, 2)
    _check_stats(triton_out, "real_gray_s64_f3", np.ascontiguousarray(img[:, :, 1:2]), coords,
                 64, 3)


def test_triton_through_public_api(triton_out: dict[str, np.ndarray]) -> None:
    from tripled_fast.scoring.stats import STAT_NAMES

    assert str(triton_out["backend"]) == "triton"
    for k in STAT_NAMES:
        np.testing.assert_array_equal(triton_out[f"api/{k}"], triton_out[f"rgb_s33_f2/{k}"])


@pytest.mark.parametrize("shape", KCENTER_SHAPES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_kcenter_update_matches_reference(triton_out: dict[str, np.ndarray],
                                          shape: tuple[int, int, int]) -> None:
    import torch

    from tripled_fast.kernels.kcenter import kcenter_update_reference

    n, d, steps = shape
    x = torch.from_numpy(kcenter_data(n, d))
    dist = torch.full((n,), float("inf"))
    centers = [0]
    for _ in range(steps):
        dist = kcenter_update_reference(x, dist, centers[-1])
        centers.append(int(torch.argmax(dist)))
    np.testing.assert_array_equal(triton_out[f"kc{n}x{d}/centers"], centers)
    got = triton_out[f"kc{n}x{d}/dist"]
    np.testing.assert_allclose(got, dist.numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(got[centers[:-1]] == 0.0)               # chosen centers are at distance 0


def test_kcenter_reference_and_validation() -> None:
    import torch

    from tripled_fast.kernels.kcenter import kcenter_update_reference

    x = torch.tensor([[0.0, 0.0], [3.0, 4.0], [1.0, 1.0]])
    d = kcenter_update_reference(x, torch.tensor([10.0, 10.0, 1.0]), 1)
    assert d.tolist() == [10.0, 0.0, 1.0]                 # 25 > 10 keeps 10; 5 > 1 keeps 1
    with pytest.raises(ValueError, match="center"):
        kcenter_update_reference(x, torch.zeros(3), 3)
    with pytest.raises(ValueError, match="min_dist"):
        kcenter_update_reference(x, torch.zeros(2), 0)
    with pytest.raises(ValueError, match="float32"):
        kcenter_update_reference(x.double(), torch.zeros(3), 0)


def test_kcenter_greedy_room_on_triton_matches_numpy(triton_out: dict[str, np.ndarray]) -> None:
    from tripled_fast.select.kcenter import kcenter_greedy

    x, groups, room = kcenter_room_case()
    ref = kcenter_greedy(x, 12, seed=0, backend="numpy", groups=groups, room=room)
    got = triton_out["kc_room/picks"]
    assert got.tolist() == ref.tolist()
    assert np.bincount(groups[got], minlength=5).tolist() == room.tolist()


if __name__ == "__main__":
    _child(sys.argv[1])
