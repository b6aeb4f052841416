"""Decoding: Pillow mode handling, EXIF, 16-bit, corrupt files, and DALI-CPU parity."""
from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage import data as skdata

from tripled_fast.data.decode import (
    decode_batch,
    decode_image,
    image_size,
    probe_image,
    resolve_decoder,
    to_color,
)
from tripled_fast.errors import BackendUnavailable, DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def write_png16(path: Path, a: np.ndarray) -> None:
    """Write a 16-bit PNG (gray: H x W x 1, RGB: H x W x 3) with a minimal hand-made encoder."""
    h, w, c = a.shape
    color_type = {1: 0, 3: 2}[c]
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
                     + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[::8, ::8])  # 64 x 64 x 3 real photo


def y8(img: np.ndarray) -> np.ndarray:
    r, g, b = (img[..., i].astype(np.int64) for i in range(3))
    return ((77 * r + 150 * g + 29 * b + 128) >> 8).astype(np.uint8)


# --------------------------------------------------------------------------- modes
def test_gray_and_rgb_png(tmp_path: Path, rgb: np.ndarray) -> None:
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    c = decode_image(tmp_path / "c.png")
    g = decode_image(tmp_path / "g.png")
    assert c.dtype == np.uint8 and np.array_equal(c, rgb)
    assert g.shape == (64, 64, 1) and np.array_equal(g[..., 0], rgb[..., 0])
    assert np.array_equal(decode_image(tmp_path / "c.png", "gray")[..., 0], y8(rgb))
    assert np.array_equal(decode_image(tmp_path / "g.png", "rgb"), np.repeat(g, 3, axis=2))
    assert np.array_equal(to_color(c, "auto"), c)


def test_alpha_palette_cmyk_become_rgb(tmp_path: Path, rgb: np.ndarray) -> None:
    alpha = np.linspace(0, 255, 64 * 64).reshape(64, 64).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.png")
    assert np.array_equal(decode_image(tmp_path / "rgba.png"), rgb)           # alpha dropped, not blended

    Image.fromarray(np.dstack([rgb[..., 0], alpha])).save(tmp_path / "la.png")
    la = decode_image(tmp_path / "la.png")
    assert la.shape == (64, 64, 1) and np.array_equal(la[..., 0], rgb[..., 0])

    pal = Image.fromarray(rgb).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    lut = np.array(pal.getpalette()[: 16 * 3], np.uint8).reshape(16, 3)
    assert np.array_equal(decode_image(tmp_path / "p.png"), lut[np.asarray(pal)])

    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    cmyk = decode_image(tmp_path / "cmyk.jpg")
    assert cmyk.shape == (64, 64, 3)
    assert np.abs(cmyk.astype(int) - rgb).mean() < 6.0


def test_16bit_png_is_shifted_to_8bit(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    gray16 = rng.integers(0, 65536, (20, 30, 1)).astype(np.uint16)
    rgb16 = rng.integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    write_png16(tmp_path / "g16.png", gray16)
    write_png16(tmp_path / "c16.png", rgb16)
    assert probe_image(tmp_path / "g16.png").bit_depth == 16
    assert probe_image(tmp_path / "c16.png").bit_depth == 16
    assert np.array_equal(decode_image(tmp_path / "g16.png"), (gray16 >> 8).astype(np.uint8))
    assert np.array_equal(decode_image(tmp_path / "c16.png"), (rgb16 >> 8).astype(np.uint8))
    # the 8-bit values a 16-bit encoder stores as v * 257 come back exactly
    v8 = rng.integers(0, 256, (20, 30, 1)).astype(np.uint16)
    write_png16(tmp_path / "x257.png", v8 * 257)
    assert np.array_equal(decode_image(tmp_path / "x257.png"), v8.astype(np.uint8))


def test_exif_orientation_applied(tmp_path: Path, rgb: np.ndarray) -> None:
    raw = rgb[:, :40]                                   # 64 x 40, not square
    exif = Image.Exif()
    exif[0x0112] = 6                                    # "rotate 90 degrees clockwise to display"
    Image.fromarray(raw).save(tmp_path / "rot.png", exif=exif)
    out = decode_image(tmp_path / "rot.png")
    assert out.shape == (40, 64, 3)
    assert np.array_equal(out, np.rot90(raw, k=-1))     # k=-1: clockwise
    assert image_size(tmp_path / "rot.png") == (40, 64)


# --------------------------------------------------------------------------- bad files
def test_bad_files_raise_one_line_with_path(tmp_path: Path, rgb: np.ndarray) -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    Image.fromarray(rgb).save(tmp_path / "ok.png")
    blob = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(blob[: len(blob) // 2])
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image\n")
    cases = {
        "trunc.png": "cannot decode image (image file is truncated",
        "zero.png": "empty file (0 bytes)",
        "text.png": "not a recognised image file",
        "missing.png": "file not found",
    }
    for name, fragment in cases.items():
        path = tmp_path / name
        with pytest.raises(DataError) as info:
            decode_image(path)
        msg = str(info.value)
        assert msg.startswith(f"{path}: ") and fragment in msg and "\n" not in msg, msg
    with pytest.raises(DataError, match="text.png: not a recognised image file"):
        image_size(tmp_path / "text.png")
    assert image_size(tmp_path / "trunc.png") == (64, 64)   # header-only: size still readable


def test_resolve_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_decoder("pil") == "pil"
    with pytest.raises(ValueError, match="decoder: expected one of"):
        resolve_decoder("opencv")
    monkeypatch.setitem(sys.modules, "nvidia.dali", None)   # makes `import nvidia.dali` fail
    assert resolve_decoder("auto") == "pil"
    with pytest.raises(BackendUnavailable, match="nvidia.dali is not importable"):
        resolve_decoder("dali")


# --------------------------------------------------------------------------- DALI parity
def _real_pngs() -> list[Path]:
    files = sorted((SHARED / "sr" / "Set5" / "HR").glob("*.png"))[:3]
    files += sorted((SHARED / "denoise" / "Set12").glob("*.png"))[:3]
    return files


def test_dali_cpu_png_identical_jpeg_close(tmp_path: Path) -> None:
    pytest.importorskip("nvidia.dali")
    pngs = _real_pngs()
    if len(pngs) < 6:
        pytest.skip("../shared/data Set5/Set12 not present")
    from tripled_fast.data.decode import dali_decode

    # PNG: the DALI pipeline itself (no Pillow fallback) gives identical pixels
    colour, gray = pngs[:3], pngs[3:]
    for files, is_gray in ((colour, False), (gray, True)):
        for path, arr in zip(files, dali_decode([str(p) for p in files], gray=is_gray)):
            arr = arr if arr.ndim == 3 else arr[..., None]
            assert np.array_equal(arr, decode_image(path)), path.name

    # JPEG (4:4:4 and 4:2:0, colour and gray, plus an EXIF-rotated one): tolerance max 2, mean 0.25
    # (both use libjpeg-turbo on the CPU; measured here: identical)
    jpegs = []
    for i, p in enumerate(colour):
        im = Image.open(p)
        for q, sub in ((90, 0), (75, 2)):
            jpegs.append(tmp_path / f"c{i}_{q}.jpg")
            im.save(jpegs[-1], quality=q, subsampling=sub)
    jpegs.append(tmp_path / "g.jpg")
    Image.open(gray[0]).save(jpegs[-1], quality=85)
    exif = Image.Exif()
    exif[0x0112] = 6
    jpegs.append(tmp_path / "rot.jpg")
    Image.open(colour[0]).crop((0, 0, 200, 120)).save(jpegs[-1], quality=95, exif=exif)
    # routed to Pillow inside decode_batch: 16-bit and palette PNGs
    write_png16(tmp_path / "g16.png", np.arange(600, dtype=np.uint16).reshape(20, 30, 1) * 100)
    Image.open(colour[1]).quantize(colors=32).save(tmp_path / "p.png")
    mixed = [*pngs, *jpegs, tmp_path / "g16.png", tmp_path / "p.png"]

    for color in ("auto", "gray"):
        via_dali = decode_batch(mixed, decoder="dali", color=color)
        via_pil = decode_batch(mixed, decoder="pil", color=color)
        for path, a, b in zip(mixed, via_dali, via_pil):
            assert a.shape == b.shape and a.dtype == np.uint8, path.name
            d = np.abs(a.astype(int) - b.astype(int))
            if path.suffix == ".png":
                assert d.max() == 0, path.name
            else:
                assert d.max() <= 2 and d.mean() < 0.25, path.name
    assert decode_batch(mixed[-3:-2], decoder="dali")[0].shape == (200, 120, 3)  # EXIF applied (stored 120 x 200)


def test_dali_corrupt_file_names_the_file(tmp_path: Path) -> None:
    pytest.importorskip("nvidia.dali")
    pngs = _real_pngs()
    if not pngs:
        pytest.skip("../shared/data Set5 not present")
    blob = pngs[0].read_bytes()
    bad = tmp_path / "bad.png"
    bad.write_bytes(blob[: len(blob) // 3])
    with pytest.raises(DataError) as info:
        decode_batch([pngs[1], bad], decoder="dali")
    assert str(info.value).startswith(f"{bad}: cannot decode image") and "\n" not in str(info.value)
