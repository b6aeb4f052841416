"""Packed pairs: atomic writers, memory-mapped reader, scale-aware crops and seeded augmentation."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from tripled_fast.train.packed import PackedPairs, PackWriter, PairPatchDataset, pack_paths, write_pack


def _pairs(n: int = 12, side: int = 16, scale: int = 2, c: int = 3, seed: int = 0):
    """GT with unique-ish pixels; LQ = GT subsampled at stride ``scale`` (exact pair relation)."""
    rng = np.random.default_rng(seed)
    gt = rng.integers(0, 256, (n, side, side, c), dtype=np.uint8)
    lq = np.ascontiguousarray(gt[:, ::scale, ::scale])
    return gt, lq, np.arange(100, 100 + n, dtype=np.int64)


def test_write_pack_roundtrip_is_memmapped_and_leaves_no_temporaries(tmp_path: Path) -> None:
    gt, lq, ids = _pairs()
    write_pack(tmp_path / "pack" / "distilled", gt, lq, ids.astype(np.int32))
    assert sorted(p.name for p in (tmp_path / "pack").iterdir()) == [
        "distilled_gt.npy", "distilled_ids.npy", "distilled_lq.npy"]
    p = PackedPairs(tmp_path / "pack" / "distilled")
    assert isinstance(p.gt, np.memmap) and isinstance(p.lq, np.memmap)
    assert len(p) == 12 and p.scale == 2 and p.channels == 3
    assert np.array_equal(p.gt, gt) and np.array_equal(p.lq, lq)
    assert p.ids.dtype == np.int64 and np.array_equal(p.ids, ids)


def test_write_pack_rejects_bad_inputs(tmp_path: Path) -> None:
    gt, lq, ids = _pairs()
    with pytest.raises(ValueError, match="uint8"):
        write_pack(tmp_path / "a", gt.astype(np.float32), lq, ids)
    with pytest.raises(ValueError, match="row counts differ"):
        write_pack(tmp_path / "a", gt, lq[:-1], ids)
    with pytest.raises(ValueError, match="integer multiple"):
        write_pack(tmp_path / "a", gt, np.ascontiguousarray(gt[:, :7, :7]), ids)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileNotFoundError, match="pack file not found"):
        PackedPairs(tmp_path / "a")


def test_pack_writer_streams_chunks_and_is_all_or_nothing(tmp_path: Path) -> None:
    gt, lq, ids = _pairs(n=10)
    with PackWriter(tmp_path / "full", 10, gt.shape[1:], lq.shape[1:]) as w:
        for a in range(0, 10, 4):
            w.append(gt[a : a + 4], lq[a : a + 4], ids[a : a + 4])
    p = PackedPairs(tmp_path / "full")
    assert np.array_equal(p.gt, gt) and np.array_equal(p.lq, lq) and np.array_equal(p.ids, ids)

    with pytest.raises(ValueError, match="3 rows written, 10 declared"):
        with PackWriter(tmp_path / "short", 10, gt.shape[1:], lq.shape[1:]) as w:
            w.append(gt[:3], lq[:3], ids[:3])
    with pytest.raises(RuntimeError):
        with PackWriter(tmp_path / "boom", 10, gt.shape[1:], lq.shape[1:]) as w:
            w.append(gt[:3], lq[:3], ids[:3])
            raise RuntimeError("killed")
    with pytest.raises(ValueError, match="exceed the declared 2"):
        with PackWriter(tmp_path / "over", 2, gt.shape[1:], lq.shape[1:]) as w:
            w.append(gt[:3], lq[:3], ids[:3])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in pack_paths(tmp_path / "full").values())


def _check_pair(lq: torch.Tensor, gt: torch.Tensor, scale: int) -> None:
    """The pack relation ``lq = gt[::s, ::s]`` maps, under flips / transposes of both sides, to
    ``lq = gt[a::s, b::s]`` for one fixed corner (a, b) of the s x s cells; a misaligned crop
    or an unpaired flip breaks it."""
    u_lq = torch.round(lq * 255)
    u_gt = torch.round(gt * 255)
    ok = [torch.equal(u_gt[..., a::scale, b::scale], u_lq) for a in range(scale) for b in range(scale)]
    assert any(ok)


def test_crop_is_scale_aware_and_augmentation_is_paired(tmp_path: Path) -> None:
    gt, lq, ids = _pairs(n=6, side=24, scale=3, c=1)
    write_pack(tmp_path / "p", gt, lq, ids)
    ds = PairPatchDataset(tmp_path / "p", crop=12, seed=3)
    for i in range(len(ds)):
        item = ds[i]
        assert item["lq"].shape == (1, 4, 4) and item["gt"].shape == (1, 12, 12)
        assert item["index"] == i and item["patch_id"] == 100 + i
        _check_pair(item["lq"], item["gt"], 3)
        # the GT crop is one of the 8 dihedral images of an aligned window of the stored patch
        g = np.round(item["gt"][0].numpy() * 255).astype(np.uint8)
        found = False
        for t in range(0, 24 - 12 + 1, 3):
            for l in range(0, 24 - 12 + 1, 3):
                win = gt[i, t : t + 12, l : l + 12, 0]
                variants = [win, win[:, ::-1], win[::-1], win[::-1, ::-1]]
                variants += [v.T for v in variants]
                found |= any(np.array_equal(g, v) for v in variants)
        assert found
    lq_b, gt_b = ds.batch(np.arange(6), np.random.default_rng(0))
    assert lq_b.shape == (6, 1, 4, 4) and gt_b.shape == (6, 1, 12, 12) and lq_b.is_contiguous()
    for j in range(6):
        _check_pair(lq_b[j], gt_b[j], 3)
    with pytest.raises(ValueError, match="multiple of scale 3"):
        PairPatchDataset(tmp_path / "p", crop=10)


def test_items_are_seeded_by_seed_epoch_index_only(tmp_path: Path) -> None:
    gt, lq, ids = _pairs(n=8, side=16, scale=1)
    write_pack(tmp_path / "p", gt, lq, ids)
    np_state, torch_state = np.random.get_state()[1].copy(), torch.get_rng_state()
    a = PairPatchDataset(tmp_path / "p", crop=8, seed=5)
    b = PairPatchDataset(tmp_path / "p", crop=8, seed=5)
    for i in (0, 3, 7):
        assert torch.equal(a[i]["gt"], b[i]["gt"]) and torch.equal(a[i]["lq"], b[i]["lq"])
    # virtual index i + n is item i of the next epoch
    b.set_epoch(1)
    assert all(torch.equal(a[i + 8]["gt"], b[i]["gt"]) for i in range(8))
    assert sum(not torch.equal(a[i]["gt"], b[i]["gt"]) for i in range(8)) >= 6
    # a dataset item equals a one-row batch drawn with the documented generator
    lq1, gt1 = a.batch(np.array([3]), np.random.default_rng((5, 0, 3)))
    assert torch.equal(gt1[0], a[3]["gt"]) and torch.equal(lq1[0], a[3]["lq"])
    assert np.array_equal(np.random.get_state()[1], np_state) and torch.equal(torch.get_rng_state(), torch_state)


def test_augmentation_draws_all_eight_dihedral_transforms_uniformly(tmp_path: Path) -> None:
    base = np.arange(16, dtype=np.uint8).reshape(1, 4, 4, 1)  # all pixels distinct
    write_pack(tmp_path / "p", base, base, np.array([0]))
    ds = PairPatchDataset(tmp_path / "p", seed=0)
    w = base[0, :, :, 0]
    variants = [w, w[:, ::-1], w[::-1], w[::-1, ::-1]]
    variants += [v.T for v in variants]
    keys = [v.tobytes() for v in variants]
    assert len(set(keys)) == 8
    counts: Counter[int] = Counter()
    for e in range(1600):  # virtual indices: item 0 in 1600 epochs
        g = np.round(ds[e]["gt"][0].numpy() * 255).astype(np.uint8)
        counts[keys.index(g.tobytes())] += 1
    assert len(counts) == 8 and all(140 <= c <= 260 for c in counts.values()), counts  # mean 200, sd ~13
    lq_b, gt_b = ds.batch(np.zeros(400, dtype=np.int64), np.random.default_rng(1))
    batch_keys = {np.round(g[0].numpy() * 255).astype(np.uint8).tobytes() for g in gt_b}
    assert batch_keys == set(keys)
    off = PairPatchDataset(tmp_path / "p", augment=False)
    assert np.array_equal(np.round(off[5]["gt"][0].numpy() * 255), w)


def test_dataloader_collates_basicsr_dicts(tmp_path: Path) -> None:
    gt, lq, ids = _pairs(n=5, side=8, scale=2)
    write_pack(tmp_path / "p", gt, lq, ids)
    ds = PairPatchDataset(tmp_path / "p", indices=np.array([4, 1, 2]), augment=False)
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert batch["gt"].shape == (3, 3, 8, 8) and batch["lq"].shape == (3, 3, 4, 4)
    assert batch["gt"].dtype == torch.float32
    assert batch["index"].tolist() == [4, 1, 2] and batch["patch_id"].tolist() == [104, 101, 102]
    expect = torch.from_numpy(gt[4].transpose(2, 0, 1).astype(np.float32) / 255)
    assert torch.equal(batch["gt"][0], expect)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 5\)"):
        PairPatchDataset(tmp_path / "p", indices=np.array([5]))
