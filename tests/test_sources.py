"""Source discovery (4 kinds), strict errors, pair loading and the hold-out split."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tripled_fast.config import SourceConfig
from tripled_fast.data.degrade import apply_degradation
from tripled_fast.data.sources import (
    ImagePair,
    collect_pairs,
    list_images,
    load_pair,
    pair_rng,
    split_holdout,
)
from tripled_fast.errors import DataError

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def img(path: Path, h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """Write a seeded random image (PNG/JPEG by extension) and return its pixels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)
    fmt = "JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG"
    Image.fromarray(a[..., 0] if c == 1 else a).save(path, format=fmt)
    return a


def raises_data_error(sources: list[SourceConfig]) -> str:
    with pytest.raises(DataError) as info:
        collect_pairs(sources)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


# --------------------------------------------------------------------------- kinds
def test_paired_with_filename_tmpl(tmp_path: Path) -> None:
    gt, lq = tmp_path / "DIV2K" / "HR", tmp_path / "DIV2K" / "LR"
    for i, rel in enumerate(["b.PNG", "a.png", "sub/c.png"]):
        img(gt / rel, 16, 16, seed=i)
        stem, ext = os.path.splitext(rel)
        img(lq / f"{stem}x2{ext}", 8, 8, seed=10 + i)
    (gt / "notes.txt").write_text("ignored")
    img(gt / ".hidden.png", 4, 4)                 # hidden: skipped
    img(lq / "extra.png", 8, 8)                   # no GT claims it: ignored here, warned by check
    pairs = collect_pairs([SourceConfig(kind="paired", gt=str(gt), lq=str(lq), filename_tmpl="{}x2", scale=2)])
    assert [p.image_id for p in pairs] == ["DIV2K/a", "DIV2K/b", "DIV2K/sub/c"]   # name: parent of 'HR'
    assert [p.lq_path for p in pairs] == [lq / "ax2.png", lq / "bx2.PNG", lq / "sub/cx2.png"]
    assert pairs[0] == ImagePair("DIV2K/a", "DIV2K", "sr", gt / "a.png", lq / "ax2.png", "", 2)


def test_paired_partner_with_other_extension_and_missing(tmp_path: Path) -> None:
    gt, lq = tmp_path / "gt", tmp_path / "lq"
    img(gt / "a.png", 8, 8)
    img(lq / "a.jpg", 8, 8)
    (pair,) = collect_pairs([SourceConfig(kind="paired", gt=str(gt), lq=str(lq), name="x")])
    assert pair.lq_path == lq / "a.jpg"
    img(gt / "b.png", 8, 8)
    msg = raises_data_error([SourceConfig(kind="paired", gt=str(gt), lq=str(lq), name="x")])
    assert msg == f"{gt / 'b.png'}: no LQ partner (expected {lq / 'b.png'})"
    # max_images keeps the first sorted images; images past the limit need no partner
    (only_a,) = collect_pairs([SourceConfig(kind="paired", gt=str(gt), lq=str(lq), name="x", max_images=1)])
    assert only_a.image_id == "x/a"


def test_kair_sorted_order_and_count(tmp_path: Path) -> None:
    root = tmp_path / "trainsets" / "flickr"
    for i in range(3):
        img(root / "H" / f"img_{i}_HR.png", 12, 12, seed=i)
        img(root / "L" / f"img_{i}_LR.png", 4, 4, seed=i)
    pairs = collect_pairs([SourceConfig(kind="kair", gt=str(root), scale=3)])   # H/L found inside gt
    assert [p.image_id for p in pairs] == [f"flickr/img_{i}_HR" for i in range(3)]
    assert [p.lq_path.name for p in pairs] == [f"img_{i}_LR.png" for i in range(3)]
    assert pairs[0].source == "flickr"
    img(root / "L" / "img_3_LR.png", 4, 4)
    msg = raises_data_error([SourceConfig(kind="kair", gt=str(root / "H"), lq=str(root / "L"), scale=3)])
    assert msg == f"{root / 'L'}: 4 LQ images for 3 GT images in {root / 'H'} (kair pairs files in sorted order)"


def test_meta_info(tmp_path: Path) -> None:
    gt, lq = tmp_path / "DF2K" / "gt", tmp_path / "DF2K" / "lq"
    for rel in ["0001_s001.png", "0001_s002.png", "sub/0002_s001.png"]:
        img(gt / rel, 8, 8)
        img(lq / rel, 8, 8)
    meta = tmp_path / "meta_info.txt"
    meta.write_text("# BasicSR meta info\n0001_s002.png (8,8,3)\n\nsub/0002_s001.png (8,8,3)\n0001_s001.png\n")
    pairs = collect_pairs([SourceConfig(kind="meta_info", gt=str(gt), lq=str(lq), meta_info=str(meta))])
    assert [p.image_id for p in pairs] == ["DF2K/0001_s002", "DF2K/sub/0002_s001", "DF2K/0001_s001"]  # file order
    assert all(p.lq_path == lq / p.gt_path.relative_to(gt) for p in pairs)

    # synthesised when lq is empty
    syn = collect_pairs([SourceConfig(kind="meta_info", gt=str(gt), meta_info=str(meta), degrade="noise:sigma=5")])
    assert syn[0].lq_path is None and syn[0].degrade == "noise:sigma=5.0,gray=false" and syn[0].task == "denoise"

    (tmp_path / "outside.png").write_bytes((gt / "0001_s001.png").read_bytes())
    for line, fragment in [
        (f"{tmp_path / 'outside.png'} (8,8,3)", f"absolute path '{tmp_path / 'outside.png'}' not allowed (paths are relative to {gt})"),
        ("../../outside.png", f"path '../../outside.png' leaves the GT folder {gt}"),
        ("0001_s001.png\n0001_s001.png", "'0001_s001.png' listed twice (first on line 2)"),
    ]:
        meta.write_text("# header\n" + line + "\n")
        msg = raises_data_error([SourceConfig(kind="meta_info", gt=str(gt), lq=str(lq), meta_info=str(meta))])
        lineno = 2 + line.count("\n")
        assert msg == f"{meta}:{lineno}: {fragment}", msg
    meta.write_text("missing.png\n")
    msg = raises_data_error([SourceConfig(kind="meta_info", gt=str(gt), lq=str(lq), meta_info=str(meta))])
    assert msg == f"{gt / 'missing.png'}: listed in {meta} line 1 but not found"


def test_degrade_kind_defaults(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    for i in range(5):
        img(clean / f"{i:02d}.png", 20, 20, seed=i)
    noise, sr = collect_pairs([
        SourceConfig(kind="degrade", gt=str(clean), degrade="noise:sigma=15", max_images=1),
        SourceConfig(kind="degrade", gt=str(clean), degrade="blur:sigma=1+bicubic:scale=2", max_images=1),
    ])
    assert (noise.source, noise.task, noise.scale, noise.image_id) == ("denoise", "denoise", 1, "denoise/00")
    assert (sr.source, sr.task, sr.scale) == ("deblur", "deblur", 2)      # task tag from the first op
    assert sr.degrade == "blur:sigma=1.0,ksize=0+bicubic:scale=2"
    named = collect_pairs([SourceConfig(kind="degrade", gt=str(clean), degrade="rain", name="r", task="derain")])
    assert len(named) == 5 and named[-1].image_id == "r/04"


@pytest.mark.parametrize(
    "cfg, expected",
    [
        (dict(kind="degrade", degrade="bicubic:scale=4", scale=2),
         "{label}: scale 2 conflicts with the degrade spec's bicubic scale 4"),
        (dict(kind="degrade", degrade="noise:sigma=-3"),
         "{label}: degradation spec 'noise:sigma=-3': noise.sigma: expected >= 0, got '-3'"),
        (dict(kind="degrade"), "{label}: kind 'degrade' without lq needs a degrade spec (e.g. 'noise:sigma=25')"),
        (dict(kind="paired", lq="x", degrade="noise"), None),
        (dict(kind="zip"), "{label}: unknown kind 'zip' (expected one of paired, kair, meta_info, degrade)"),
        (dict(kind="degrade", degrade="noise", max_images=0), "{label}: max_images must be >= 1, got 0"),
    ],
)
def test_config_errors(tmp_path: Path, cfg: dict, expected: str | None) -> None:
    img(tmp_path / "gt" / "a.png", 8, 8)
    msg = raises_data_error([SourceConfig(gt=str(tmp_path / "gt"), **cfg)])
    if expected is None:
        assert msg.startswith("sources[0]: degrade is only used when the LQ is synthesised")
    else:
        assert msg == expected.format(label="sources[0]")


def test_folder_errors_and_duplicates(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert raises_data_error([SourceConfig(gt=str(missing), degrade="noise")]) == f"{missing}: GT folder not found"
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("x")
    assert raises_data_error([SourceConfig(gt=str(empty), degrade="noise")]) == (
        f"{empty}: GT folder has no image files (.png .jpg .jpeg .bmp .tif .tiff .webp)"
    )
    dup = tmp_path / "dup"
    img(dup / "a.png", 8, 8)
    img(dup / "a.jpg", 8, 8)
    assert raises_data_error([SourceConfig(gt=str(dup), degrade="noise")]) == (
        f"{dup / 'a.png'}: duplicated image name 'a' (also a.jpg)"
    )
    ok = tmp_path / "ok"
    img(ok / "a.png", 8, 8)
    msg = raises_data_error([SourceConfig(gt=str(ok), degrade="noise"), SourceConfig(gt=str(ok), degrade="noise:sigma=50")])
    assert msg == "sources[1]: source name 'denoise' is already used by sources[0] (set a distinct name:)"


def test_symlink_loop_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "pool"
    img(root / "a.png", 8, 8)
    img(root / "deep" / "b.png", 8, 8)
    os.symlink(root, root / "deep" / "loop")          # a folder link back to the root
    os.symlink(root / "a.png", root / "alias.png")    # file links are regular entries
    assert list_images(root) == ["a.png", "alias.png", "deep/b.png"]


# --------------------------------------------------------------------------- loading
def test_load_pair_synthesised_is_seeded_and_mod_cropped(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    gt_pixels = img(clean / "x.png", 67, 50, seed=3)
    img(clean / "y.png", 67, 50, seed=3)               # same pixels, different id
    px, py = collect_pairs([SourceConfig(gt=str(clean), degrade="noise:sigma=10+bicubic:scale=4")])
    lq, gt = load_pair(px, seed=1)
    assert gt.shape == (64, 48, 3) and lq.shape == (16, 12, 3) and lq.dtype == np.uint8
    assert np.array_equal(gt, gt_pixels[:64, :48])
    expected = apply_degradation(gt_pixels[:64, :48], px.degrade, pair_rng(1, px.image_id))
    assert np.array_equal(lq, expected)
    assert np.array_equal(load_pair(px, seed=1)[0], lq)
    assert not np.array_equal(load_pair(px, seed=2)[0], lq)
    assert not np.array_equal(load_pair(py, seed=1)[0], lq)
    gray_lq, gray_gt = load_pair(px, seed=1, color="gray")
    assert gray_lq.shape == (16, 12, 1) and gray_gt.shape == (64, 48, 1)


def test_pair_seed_is_stable_across_processes() -> None:
    """pair_rng must not depend on Python's per-process str hash randomisation."""
    code = ("from tripled_fast.data.sources import pair_rng; "
            "print(pair_rng(3, 'src/img_001').integers(0, 2**62))")
    outs = set()
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONHASHSEED=hashseed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout.strip())
    assert len(outs) == 1 and outs.pop() == str(pair_rng(3, "src/img_001").integers(0, 2**62))


def test_load_pair_on_disk_sizes(tmp_path: Path) -> None:
    gt, lq = tmp_path / "gt", tmp_path / "lq"
    g = img(gt / "a.png", 33, 34)                       # 2x LQ 16x17 plus a mod-crop margin
    l_ = img(lq / "a.png", 16, 17, c=1)                 # gray LQ, colour GT -> both RGB
    img(gt / "b.png", 40, 34)
    img(lq / "b.png", 16, 17)
    a, b = collect_pairs([SourceConfig(kind="paired", gt=str(gt), lq=str(lq), scale=2)])
    lq_a, gt_a = load_pair(a)
    assert gt_a.shape == (32, 34, 3) and np.array_equal(gt_a, g[:32])
    assert lq_a.shape == (16, 17, 3) and np.array_equal(lq_a, np.repeat(l_, 3, axis=2))
    with pytest.raises(DataError) as info:
        load_pair(b)
    assert str(info.value) == (f"{gt / 'b.png'} (40x34) and {lq / 'b.png'} (16x17): GT must be 2x the LQ size "
                               f"(expected 32x34)")


def test_load_pair_real_set5() -> None:
    hr = SHARED / "sr" / "Set5" / "HR"
    if not hr.is_dir():
        pytest.skip("../shared/data/sr/Set5 not present")
    pairs = collect_pairs([SourceConfig(kind="paired", gt=str(hr), lq=str(hr.parent / "LR_bicubic_X4"),
                                        filename_tmpl="{}x4", scale=4)])
    assert [p.image_id for p in pairs] == ["Set5/baby", "Set5/bird", "Set5/butterfly", "Set5/head", "Set5/woman"]
    lq, gt = load_pair(pairs[4])                         # woman: 344x228 HR, 86x57 LR
    assert lq.shape == (86, 57, 3) and gt.shape == (344, 228, 3)


# --------------------------------------------------------------------------- hold-out
def test_split_holdout_grouped_stable(tmp_path: Path) -> None:
    clean = tmp_path / "pool"
    for i in range(20):
        img(clean / f"{i:02d}.png", 4, 4, seed=i)
    pairs = collect_pairs([SourceConfig(gt=str(clean), degrade="noise:sigma=25"),
                           SourceConfig(gt=str(clean), degrade="rain")])           # 2 views of each GT
    train, test = split_holdout(pairs, 0.2, seed=0)
    assert len(train) + len(test) == 40 and len(test) == 8
    assert not {p.gt_path for p in train} & {p.gt_path for p in test}
    shuffled = list(pairs)
    random.Random(1).shuffle(shuffled)
    train2, test2 = split_holdout(shuffled, 0.2, seed=0)
    assert {p.image_id for p in test2} == {p.image_id for p in test}
    assert {p.image_id for p in split_holdout(pairs, 0.2, seed=1)[1]} != {p.image_id for p in test}
    assert split_holdout(pairs, 0.0, seed=0) == (pairs, [])
    assert len(split_holdout(pairs[:2], 0.01, seed=0)[1]) == 1   # at least one group when fraction > 0
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        split_holdout(pairs, 1.0, seed=0)
