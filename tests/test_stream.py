"""Prefetching decoder: order, bounded read-ahead, identical pixels, errors naming the file."""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tripled_fast.data.decode import decode_image
from tripled_fast.data.stream import prefetch_images
from tripled_fast.errors import DataError


def _write_images(folder: Path, n: int, seed: int = 0) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        h, w = 20 + 3 * i, 31 - i
        arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        p = folder / f"img_{i:02d}.png"
        if i % 3 == 2:
            Image.fromarray(arr[:, :, 0], "L").save(p)
        else:
            Image.fromarray(arr).save(p)
        paths.append(p)
    return paths


@pytest.mark.parametrize("color", ["auto", "gray", "rgb"])
def test_order_and_pixels_match_serial_decode(tmp_path: Path, color: str) -> None:
    paths = _write_images(tmp_path, 9)
    items = [(f"id{i}", p) for i, p in enumerate(paths)][::-1]  # a non-sorted order is kept
    got = list(prefetch_images(iter(items), color=color, decoder="pil", workers=3, max_in_flight=3))
    assert [k for k, _ in got] == [k for k, _ in items]
    for (_, img), (_, p) in zip(got, items):
        ref = decode_image(p, color)
        assert img.dtype == np.uint8 and img.shape == ref.shape
        np.testing.assert_array_equal(img, ref)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_in_flight_images_are_bounded(tmp_path: Path, k: int) -> None:
    n = 12
    started: list[int] = []
    lock = threading.Lock()

    def slow_decode(path: str) -> np.ndarray:
        with lock:
            started.append(int(Path(path).stem))
        return np.full((4, 4, 1), int(Path(path).stem), np.uint8)

    items = ((i, tmp_path / f"{i}.png") for i in range(n))
    seen = 0
    for key, img in prefetch_images(items, workers=4, max_in_flight=k, decode_fn=slow_decode):
        seen += 1
        assert key == seen - 1 and int(img[0, 0, 0]) == key
        # the image held by the caller plus the ones decoded / decoding ahead never exceed k
        with lock:
            assert len(started) - (seen - 1) <= k
    assert seen == n and sorted(started) == list(range(n))


def test_decode_false_opens_nothing(tmp_path: Path) -> None:
    items = [("a", tmp_path / "missing.png"), ("b", tmp_path / "also_missing.png")]
    assert list(prefetch_images(items, decode=False)) == [("a", None), ("b", None)]


def test_error_names_the_file_after_earlier_images(tmp_path: Path) -> None:
    paths = _write_images(tmp_path, 4)
    bad = tmp_path / "broken.png"
    bad.write_bytes(paths[0].read_bytes()[:60])  # truncated PNG
    items = [(0, paths[0]), (1, paths[1]), (2, bad), (3, paths[3])]
    it = prefetch_images(items, workers=2, max_in_flight=4)
    assert next(it)[0] == 0 and next(it)[0] == 1
    with pytest.raises(DataError, match="broken.png"):
        next(it)


def test_foreign_exception_becomes_data_error(tmp_path: Path) -> None:
    def boom(path: str) -> np.ndarray:
        raise RuntimeError("decoder exploded")

    with pytest.raises(DataError, match=r"x\.png: cannot decode image \(decoder exploded\)"):
        list(prefetch_images([(0, tmp_path / "x.png")], decode_fn=boom))


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        prefetch_images([], max_in_flight=0)
    with pytest.raises(ValueError, match="workers"):
        prefetch_images([], workers=0)


def test_early_close_stops_reading(tmp_path: Path) -> None:
    calls: list[str] = []

    def fn(path: str) -> np.ndarray:
        calls.append(path)
        return np.zeros((2, 2, 1), np.uint8)

    it = prefetch_images(((i, f"{i}.png") for i in range(100)), workers=1, max_in_flight=3, decode_fn=fn)
    next(it)
    it.close()
    assert len(calls) <= 3


@pytest.mark.skipif(importlib.util.find_spec("nvidia.dali") is None if importlib.util.find_spec("nvidia") else True,
                    reason="nvidia.dali not installed")
def test_dali_stream_matches_pillow_png(tmp_path: Path) -> None:
    paths = _write_images(tmp_path, 5, seed=3)
    items = [(p.stem, p) for p in paths]
    got = list(prefetch_images(items, decoder="dali", max_in_flight=4))
    assert [k for k, _ in got] == [p.stem for p in paths]
    for (_, img), p in zip(got, paths):
        np.testing.assert_array_equal(img, decode_image(p))
