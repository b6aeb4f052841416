"""Two-stage curriculum (top-loss rerank, one schedule) and the library-use dataset / sampler."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F

from tripled_fast.config import TrainConfig
from tripled_fast.train.archs import build_model
from tripled_fast.train.curriculum import CurriculumPlan, score_rows, top_loss, train_curriculum
from tripled_fast.train.dataset import CurriculumSampler, DistilledDataset
from tripled_fast.train.loop import load_train_state, lr_at, warmup_steps
from tripled_fast.train.packed import PairPatchDataset, write_pack

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mixed_pack(prefix: Path, n: int = 40, side: int = 12, seed: int = 0) -> None:
    """Gray patches whose noise level grows with the row index (later rows are 'harder')."""
    rng = np.random.default_rng(seed)
    grid = torch.from_numpy(rng.uniform(40, 215, (n, 1, 3, 3)).astype(np.float32))
    gt = F.interpolate(grid, size=(side, side), mode="bilinear", align_corners=True)[:, 0].numpy()
    sigma = np.linspace(2, 40, n)[:, None, None]
    lq = gt + sigma * rng.standard_normal(gt.shape)
    to_u8 = lambda a: np.clip(np.round(a), 0, 255).astype(np.uint8)[..., None]  # noqa: E731
    write_pack(prefix, to_u8(gt), to_u8(lq), np.arange(1000, 1000 + n, dtype=np.int64))


def tiny_model(seed: int = 0) -> torch.nn.Module:
    return build_model("dncnn", in_ch=1, out_ch=1, depth=3, width=8, bn=False, seed=seed)


def cfg(**kw) -> TrainConfig:
    base = dict(steps=16, batch_size=4, lr=3e-3, min_lr=1e-5, ema=0.9, compile="off", log_every=4,
                checkpoint_every=0, warmup_steps=2, stage1_steps=0.5, crop=8)
    base.update(kw)
    return TrainConfig(**base)


PLAN = CurriculumPlan(stage1=np.arange(0, 12), stage2_candidates=np.arange(12, 40, 2), stage2_quota=5)


def brute_force_top(model: torch.nn.Module, ds: PairPatchDataset, cands: np.ndarray, quota: int) -> np.ndarray:
    """One candidate at a time, whole patch, straight from the memmap."""
    losses = []
    model.eval()
    with torch.no_grad():
        for r in cands:
            lq = torch.from_numpy(ds.pack.lq[r].transpose(2, 0, 1).astype(np.float32) / 255)[None]
            gt = torch.from_numpy(ds.pack.gt[r].transpose(2, 0, 1).astype(np.float32) / 255)[None]
            losses.append(float((model(lq) - gt).abs().mean()))
    order = sorted(range(len(cands)), key=lambda i: -losses[i])[:quota]
    return np.sort(cands[order])


# --------------------------------------------------------------------------- rerank pieces
def test_top_loss_keeps_the_highest_losses_in_candidate_order() -> None:
    cands = np.array([7, 3, 9, 1, 5])
    assert top_loss(cands, np.array([0.1, 0.9, 0.5, 0.7, 0.2]), 3).tolist() == [3, 9, 1]
    assert top_loss(cands, np.array([0.5, 0.5, 0.1, 0.5, 0.0]), 2).tolist() == [7, 3]  # ties: earlier first
    assert top_loss(cands, np.zeros(5), 0).tolist() == []


def test_batched_scores_match_single_sample_losses(tmp_path: Path) -> None:
    mixed_pack(tmp_path / "p")
    ds = PairPatchDataset(tmp_path / "p", crop=8)  # scoring ignores crop and augmentation
    model = tiny_model(3).eval()
    rows = np.array([5, 30, 2, 17, 39, 0, 22])
    got = score_rows(model, ds, rows, batch_size=3)
    with torch.no_grad():
        for r, v in zip(rows, got):
            lq = torch.from_numpy(ds.pack.lq[r].transpose(2, 0, 1).astype(np.float32) / 255)[None]
            gt = torch.from_numpy(ds.pack.gt[r].transpose(2, 0, 1).astype(np.float32) / 255)[None]
            assert v == pytest.approx(float((model(lq) - gt).abs().mean()), rel=1e-5)


def test_plan_validation() -> None:
    with pytest.raises(ValueError, match="quota"):
        CurriculumPlan(np.arange(3), np.arange(3, 6), 4)
    with pytest.raises(ValueError, match="stage1"):
        CurriculumPlan(np.array([], dtype=np.int64), np.arange(3), 1)
    with pytest.raises(ValueError, match=r"rows must lie in \[0, 10\)"):
        CurriculumPlan(np.arange(3), np.arange(8, 12), 1).check_rows(10)


# --------------------------------------------------------------------------- the curriculum
def test_curriculum_reranks_with_the_stage1_model_and_trains_the_union(tmp_path: Path) -> None:
    mixed_pack(tmp_path / "p")
    ds = PairPatchDataset(tmp_path / "p", crop=8, seed=0)
    seen: list[tuple[bool, list[int]]] = []
    orig = ds.batch

    def spy(rows, rng, **kw):
        seen.append((kw.get("crop", True), np.asarray(rows).tolist()))
        return orig(rows, rng, **kw)

    ds.batch = spy  # type: ignore[method-assign]
    c = cfg()
    state = tmp_path / "state.safetensors"
    # stop exactly at the switch: the state holds the model the rerank must use
    part = train_curriculum(tiny_model(), ds, PLAN, c, seed=0, progress=False, state_path=state, stop_at=8)
    assert part.train_result.step == 8 and part.stage2_chosen.size == 0
    groups, _ = load_train_state(state)
    stage1_model = tiny_model()
    stage1_model.load_state_dict(groups["model"])
    expect = brute_force_top(stage1_model, ds, PLAN.stage2_candidates, PLAN.stage2_quota)

    res = train_curriculum(tiny_model(), ds, PLAN, c, seed=0, progress=False, state_path=state)
    assert res.stage1_steps == 8 and res.train_result.step == c.steps == res.train_result.history[-1]["step"]
    assert res.stage2_chosen.tolist() == expect.tolist() and len(res.stage2_chosen) == PLAN.stage2_quota
    assert res.stage2_patch_ids.tolist() == (1000 + expect).tolist()

    train_batches = [rows for cropped, rows in seen if cropped]
    assert len(train_batches) == 16
    stage1 = set(PLAN.stage1.tolist())
    assert all(set(b) <= stage1 for b in train_batches[:8])
    union = stage1 | set(expect.tolist())
    stage2_rows = set().union(*map(set, train_batches[8:]))
    assert stage2_rows <= union and stage2_rows & set(expect.tolist())
    # one cosine over all 16 steps, continuing across the switch
    lrs = {h["step"]: h["lr"] for h in res.train_result.history}
    for s in (12, 16):
        assert lrs[s] == pytest.approx(lr_at(s - 1, 16, c.lr, c.min_lr, warmup_steps(c)))

    # the same run without interruption gives the same choice and weights
    full = train_curriculum(tiny_model(), tmp_path / "p", PLAN, c, seed=0, progress=False)
    assert full.stage2_chosen.tolist() == expect.tolist()
    a, b = full.train_result.model.state_dict(), res.train_result.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_curriculum_prefers_the_noisiest_candidates_after_training(tmp_path: Path) -> None:
    """Candidates' noise grows with the row: a denoiser trained in stage 1 finds the late ones hardest."""
    mixed_pack(tmp_path / "p")
    res = train_curriculum(tiny_model(), tmp_path / "p", PLAN, cfg(steps=30, stage1_steps=0.6), seed=1,
                           progress=False)
    assert res.stage2_chosen.min() >= 28  # the 5 highest-noise of the 14 candidates (28..38)


# --------------------------------------------------------------------------- library use
def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    mixed_pack(run / "pack" / "distilled", n=10)
    ids = np.arange(1000, 1010, dtype=np.int64)
    stage = np.array([1, 1, 1, 1, 2, 3, 2, 3, 1, 0], dtype=np.int8)
    table = pa.table({"patch_id": pa.array(np.arange(990, 1010, dtype=np.int64)),
                      "stage": pa.array(np.concatenate([np.zeros(10, np.int8), stage]))})
    pq.write_table(table, run / "manifest.parquet")
    assert ids.tolist() == np.load(run / "pack" / "distilled_ids.npy").tolist()
    return run


def test_distilled_dataset_filters_stages_from_the_manifest(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    all_ = DistilledDataset(run, subset="distilled", stage=None, augment=False)
    s1 = DistilledDataset(run, subset="distilled", stage=1, augment=False)
    s2 = DistilledDataset(run, subset="distilled", augment=False)  # default stage 2: the final subset
    assert len(all_) == 10
    assert s1.rows.tolist() == [0, 1, 2, 3, 8]
    assert s2.rows.tolist() == [0, 1, 2, 3, 5, 7, 8]
    assert all_.stage1_positions.tolist() == [0, 1, 2, 3, 8]
    assert all_.stage2_positions.tolist() == [0, 1, 2, 3, 5, 7, 8]
    item = s2[4]
    assert item["patch_id"] == 1005 and item["index"] == 5
    with pytest.raises(ValueError, match="subset"):
        DistilledDataset(run, subset="best")
    with pytest.raises(FileNotFoundError, match="random_gt.npy"):
        DistilledDataset(run, subset="random")


def test_curriculum_sampler_orders_stages_and_varies_repeat_visits(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    ds = DistilledDataset(run, subset="distilled", stage=None, crop=8, seed=0)
    sampler = CurriculumSampler(ds, stage1_steps=0.25, total_steps=8, batch_size=4, seed=0)
    idx = list(sampler)
    assert len(idx) == len(sampler) == 32
    first, rest = [i % 10 for i in idx[:8]], [i % 10 for i in idx[8:]]
    assert set(first) <= {0, 1, 2, 3, 8} and sorted(first[:5]) == [0, 1, 2, 3, 8]
    assert set(rest) == {0, 1, 2, 3, 5, 7, 8}
    assert idx == list(CurriculumSampler(ds, 2, 8, 4, seed=0))  # deterministic; fraction == steps
    assert idx != list(CurriculumSampler(ds, 2, 8, 4, seed=1))
    # a patch's repeated visits are distinct virtual indices with their own crops
    visits = [i for i in idx if i % 10 == 0]
    assert len(set(visits)) == len(visits) >= 4
    crops = {ds[i]["gt"].numpy().tobytes() for i in visits}
    assert len(crops) >= len(visits) - 1
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=sampler)
    batches = list(loader)
    assert len(batches) == 8 and batches[0]["gt"].shape == (4, 1, 8, 8)
    with pytest.raises(ValueError, match="stage-one"):
        CurriculumSampler(_no_stage1(ds), 2, 8, 4)


def _no_stage1(ds: DistilledDataset) -> DistilledDataset:
    ds.stage1_positions = np.empty(0, dtype=np.int64)
    return ds
