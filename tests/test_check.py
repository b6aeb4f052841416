"""Pre-flight check: broken fixtures give exactly the expected problem lines and levels."""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from tripled_fast.config import DataConfig, SourceConfig, TileConfig
from tripled_fast.data.check import run_check

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTO = np.ascontiguousarray(skdata.astronaut()[::4, ::4])   # 128 x 128 x 3 real photo


def save(path: Path, a: np.ndarray, fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a).save(path, format=fmt)


def save_png16_gray(path: Path, a: np.ndarray) -> None:
    h, w = a.shape
    raw = b"".join(b"\x00" + a[y].astype(">u2").tobytes() for y in range(h))

    def chunk(tag: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", zlib.crc32(tag + payload))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_broken_fixtures_exact_lines(tmp_path: Path) -> None:
    gt, lq = tmp_path / "set" / "HR", tmp_path / "set" / "LR"
    hr, lr = PHOTO[:64, :64], PHOTO[:64:2, :64:2].copy()          # 64x64 GT, 32x32 LQ
    save(gt / "a_ok.png", hr)
    save(lq / "a_ok.png", lr)
    save(gt / "b_trunc.png", hr)
    blob = (gt / "b_trunc.png").read_bytes()
    (gt / "b_trunc.png").write_bytes(blob[: len(blob) // 2])
    save(lq / "b_trunc.png", lr)
    (gt / "c_zero.png").write_bytes(b"")
    save(lq / "c_zero.png", lr)
    (gt / "d_text.png").write_text("hello, not a PNG\n")
    save(lq / "d_text.png", lr)
    save(gt / "e_size.png", PHOTO[:80, :64])                       # 80x64 vs 2 x 32x32
    save(lq / "e_size.png", lr)
    save(gt / "f_nopartner.png", hr)
    save_png16_gray(gt / "g_16bit.png", (np.arange(64 * 64).reshape(64, 64) * 15).astype(np.uint16))
    save(lq / "g_16bit.png", lr[..., :1])
    save(gt / "h_rgba.png", np.dstack([hr, np.full((64, 64), 200, np.uint8)]))
    save(lq / "h_rgba.png", lr)
    save(gt / "i_jpeg.png", hr, fmt="JPEG")                        # JPEG bytes under a .png name
    save(lq / "i_jpeg.png", lr)
    save(gt / "j_small.png", hr[:32, :32])                         # below a 48x48 patch
    save(lq / "j_small.png", lr[:16, :16])
    save(gt / "k_margin.png", PHOTO[:65, :64])                     # 1 px mod-crop margin
    save(lq / "k_margin.png", lr)
    Image.fromarray(hr).quantize(colors=8).save(gt / "l_palette.png")
    save(lq / "l_palette.png", lr)
    save(lq / "z_orphan.png", lr)
    empty = tmp_path / "empty"
    empty.mkdir()

    data = DataConfig(
        sources=[
            SourceConfig(kind="paired", gt=str(gt), lq=str(lq), scale=2),
            SourceConfig(kind="degrade", gt=str(tmp_path / "missing"), degrade="noise"),
            SourceConfig(kind="degrade", gt=str(empty), degrade="rain"),
            SourceConfig(kind="paired", gt=str(gt), lq=str(lq), scale=2, name="set"),
        ],
        test=[SourceConfig(kind="paired", gt=str(gt), lq=str(lq), scale=2, name="heldout")],
    )
    report = run_check(data, TileConfig(patch=48))
    lines = report.format().splitlines()

    G = lambda name: gt / name  # noqa: E731
    expected = [
        f"ERROR {G('f_nopartner.png')}: no LQ partner (expected {lq / 'f_nopartner.png'})",
        f"ERROR {G('b_trunc.png')}: cannot decode image (image file is truncated)",
        f"ERROR {G('c_zero.png')}: empty file (0 bytes)",
        f"ERROR {G('d_text.png')}: not a recognised image file",
        f"ERROR {G('e_size.png')}: size 80x64 does not match LQ {lq / 'e_size.png'} (32x32) at scale 2 "
        f"(expected 64x64)",
        f"WARNING {G('g_16bit.png')}: 16-bit image (converted to 8-bit)",
        f"WARNING {G('h_rgba.png')}: alpha channel (dropped)",
        f"WARNING {G('i_jpeg.png')}: extension .png but the content is JPEG",
        f"ERROR {G('j_small.png')}: image 32x32 is smaller than a 48x48 patch",
        f"WARNING {G('k_margin.png')}: size 65x64 is cropped to 64x64 (2x LQ 32x32)",
        f"WARNING {G('l_palette.png')}: palette image (converted to RGB)",
        f"WARNING {lq / 'z_orphan.png'}: LQ file has no GT partner (ignored)",
        f"WARNING {gt}: mixes 2 grayscale and 17 colour images (converted to rgb)",
        f"ERROR {tmp_path / 'missing'}: GT folder not found",
        f"ERROR {empty}: GT folder has no image files (.png .jpg .jpeg .bmp .tif .tiff .webp)",
        "ERROR data.sources[3]: source name 'set' is already used by data.sources[0] (set a distinct name:)",
        # the test source repeats source 0: its file problems are reported once; the overlap is new
        "WARNING data.test[0]: 11 of its 11 GT images are also in data.sources (test images inside the "
        "training pool)",
    ]
    assert lines[:-1] == expected
    assert lines[-1] == "FAILED: 5 sources, 22 pairs, 9 errors, 8 warnings"
    assert not report.ok and report.n_pairs == 22 and report.n_sources == 5
    assert {p.level for p in report.problems} == {"error", "warning"}
    assert all(p.path and "\n" not in p.message for p in report.problems)


def test_degrade_source_small_after_mod_crop_and_ok_summary(tmp_path: Path) -> None:
    pool = tmp_path / "pool"
    save(pool / "big.png", PHOTO[:70, :66])
    save(pool / "tight.png", PHOTO[:67, :66])                       # mod-crop 4 -> 64x64: still fits
    save(pool / "tiny.png", PHOTO[:63, :100])                       # mod-crop 4 -> 60x100: too small
    data = DataConfig(sources=[SourceConfig(gt=str(pool), degrade="bicubic:scale=4")])
    report = run_check(data, TileConfig(patch=64))
    assert report.format().splitlines() == [
        f"ERROR {pool / 'tiny.png'}: image 60x100 is smaller than a 64x64 patch",
        "FAILED: 1 sources, 3 pairs, 1 errors, 0 warnings",
    ]
    report = run_check(data, TileConfig(patch=62))
    assert report.format().splitlines() == [                       # no size lines on top
        "ERROR data.sources[0]: tiles.patch 62 is not a multiple of scale 4",
        "FAILED: 1 sources, 3 pairs, 1 errors, 0 warnings",
    ]
    report = run_check(DataConfig(sources=[SourceConfig(gt=str(pool), degrade="noise")]), TileConfig(patch=48))
    assert report.ok and report.problems == [] and report.format() == "OK: 1 sources, 3 pairs, 0 errors, 0 warnings"


def test_real_benchmarks_are_clean() -> None:
    set5, set12 = SHARED / "sr" / "Set5", SHARED / "denoise" / "Set12"
    if not (set5.is_dir() and set12.is_dir()):
        pytest.skip("../shared/data Set5 / Set12 not present")
    data = DataConfig(sources=[
        SourceConfig(kind="paired", gt=str(set5 / "HR"), lq=str(set5 / "LR_bicubic_X4"), filename_tmpl="{}x4", scale=4),
        SourceConfig(gt=str(set12), degrade="noise:sigma=25"),
    ])
    report = run_check(data, TileConfig(patch=64))
    assert report.ok and report.problems == [], report.format()
    assert report.n_pairs == 17
