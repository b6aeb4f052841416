"""End to end: the whole run on a tiny seeded multi-task dataset, its outputs, and resumption."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tripled_fast import manifest as mf
from tripled_fast.config import RunConfig
from tripled_fast.pipeline import distill


def _photos(folder, names, size=96):
    import skimage.data

    folder.mkdir(parents=True)
    for n in names:
        img = getattr(skimage.data, n)()
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, 2)
        Image.fromarray(img[:size, :size, :3]).save(folder / f"{n}.png")
    return folder


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    train = _photos(root / "train", ["astronaut", "coffee", "rocket", "brick", "grass", "gravel"])
    test = _photos(root / "test", ["chelsea", "camera"])
    cfg = RunConfig.from_dict({
        "run_dir": str(root / "run"), "seed": 3,
        "data": {"sources": [
            {"kind": "degrade", "gt": str(train), "degrade": "noise:sigma=25", "task": "denoise", "name": "dn"},
            {"kind": "degrade", "gt": str(train), "degrade": "blur:sigma=1.5", "task": "deblur", "name": "db"}],
            "test": [{"kind": "degrade", "gt": str(test), "degrade": "noise:sigma=25", "task": "denoise", "name": "tdn"}]},
        "tiles": {"patch": 32, "stride": 16},
        "features": {"input_size": 64, "batch_size": 64, "backend": "eager"},
        # every stage switched on (alignment and the stage-2 re-ranking are opt-in by default)
        "select": {"budget": 0.1, "stage1_fraction": 0.5},
        "align": {"enabled": True, "steps": 4, "batch_size": 8},
        "train": {"steps": 12, "batch_size": 4, "arch_kwargs": {"depth": 3, "width": 8}, "log_every": 4,
                  "compile": "off"},
    })
    logs: list[str] = []
    res = distill(cfg, progress=False, log=logs.append)
    return cfg, res, logs


def test_run_directory_contents(tiny_run):
    cfg, res, _ = tiny_run
    run = res.run_dir
    for rel in ["manifest.parquet", "features.npy", "report.md", "summary.json", "eval.json", "config.yaml",
                "models/distilled.safetensors", "models/random.safetensors", "models/full.safetensors",
                "subset/meta_info.txt", "figures/complexity_hist.png", "figures/feature_pca.png",
                "figures/training_curves.png", "figures/psnr.png"]:
        assert (run / rel).exists(), rel
    table = mf.read_manifest(run / "manifest.parquet")
    n = table.num_rows
    # 2 sources x 6 images x 25 tiles (96px, patch 32, stride 16 -> 5 x 5)
    assert n == 2 * 6 * 25
    budget = round(0.1 * n)
    stage = mf.column(table, "stage")
    selected = mf.column(table, "selected")
    assert selected.sum() == budget
    assert ((stage == mf.STAGE_ONE) | (stage == mf.STAGE_TWO)).sum() == budget
    assert mf.column(table, "in_random").sum() == budget
    feats = np.load(run / "features.npy")
    assert feats.shape[0] == n and feats.dtype == np.float16 and np.isfinite(feats).all()
    lines = (run / "subset" / "meta_info.txt").read_text().splitlines()
    assert len(lines) == budget and lines[0].endswith("(32,32,3)")
    names = sorted(p.name for p in (run / "subset" / "gt").iterdir())
    assert names == sorted(l.split()[0] for l in lines)
    assert sorted(p.name for p in (run / "subset" / "lq").iterdir()) == names


def test_exported_subset_matches_degradation(tiny_run):
    """An exported LQ/GT pair is the GT crop and its degraded crop (blur or noise changes it)."""
    _, res, _ = tiny_run
    run = res.run_dir
    table = mf.read_manifest(run / "manifest.parquet")
    name = (run / "subset" / "meta_info.txt").read_text().split()[0]
    gt = np.asarray(Image.open(run / "subset" / "gt" / name))
    lq = np.asarray(Image.open(run / "subset" / "lq" / name))
    assert gt.shape == lq.shape == (32, 32, 3)
    diff = np.abs(gt.astype(int) - lq.astype(int)).mean()
    assert 0.5 < diff < 40


def test_eval_and_report(tiny_run):
    cfg, res, _ = tiny_run
    ev = json.loads((res.run_dir / "eval.json").read_text())
    assert ev["tests"] == 2
    assert set(ev["models"]) == {"input", "distilled", "random", "full"}
    for m in ev["models"].values():
        assert 5 < m["psnr"] < 60 and 0 < m["ssim"] <= 1
    report = (res.run_dir / "report.md").read_text()
    assert "| distilled |" in report and "| random |" in report and "| full |" in report
    assert "Frechet feature distance" in report
    assert res.summary["budget"] == round(0.1 * 300)


def test_rerun_resumes_every_stage(tiny_run):
    cfg, res, _ = tiny_run
    before = (res.run_dir / "manifest.parquet").read_bytes()
    logs: list[str] = []
    distill(cfg, progress=False, log=logs.append)
    cached = [l for l in logs if l.endswith("cached")]
    assert len(cached) >= 10, logs
    assert (res.run_dir / "manifest.parquet").read_bytes() == before


def test_library_dataset_is_the_exported_subset(tiny_run):
    from tripled_fast import DistilledDataset

    _, res, _ = tiny_run
    ds = DistilledDataset(res.run_dir, augment=False)
    assert len(ds) == res.summary["budget"]
    lines = (res.run_dir / "subset" / "meta_info.txt").read_text().split()
    item = ds[0]
    name = f"{int(item['patch_id']):08d}.png"
    assert name in lines
    gt = np.asarray(Image.open(res.run_dir / "subset" / "gt" / name)).astype(np.float32) / 255
    np.testing.assert_allclose(item["gt"].permute(1, 2, 0).numpy(), gt, atol=1e-6)


def test_image_cap_counts_the_degraded_copies_of_a_photo_together(tiny_run, tmp_path):
    """``select.image_cap`` in the pipeline: the source is the GT file, so the two degraded copies
    of a photo are one photo. Scope ``pool``: one share across both tasks, ceil(30 x 50 / 300) = 5
    of the 30 picks per photo. Scope ``task`` (the default): a share of each task's 15 picks,
    ceil(15 x 25 / 150) = 3 per photo and task. (No stage 2 here: its loss re-ranking in training
    picks among candidates without the cap.)"""
    import dataclasses
    import shutil

    from tripled_fast.select.budget import select_subset

    cfg, res, _ = tiny_run
    picks = {}
    for scope in ("pool", "task"):
        run = tmp_path / scope
        shutil.copytree(res.run_dir, run)
        select = dataclasses.replace(cfg.select, image_cap=True, image_cap_scope=scope, stage1_fraction=1.0,
                                     pool_share=1.0)
        logs: list[str] = []
        distill(dataclasses.replace(cfg, run_dir=str(run), select=select), progress=False, log=logs.append)
        assert "tiles: cached" in logs and "select: cached" not in logs
        table = mf.read_manifest(run / "manifest.parquet")
        gt = np.asarray(mf.column(table, "gt_path"))
        task = np.asarray(mf.column(table, "task"))
        picks[scope] = np.asarray(mf.column(table, "selected"))
    photos, per_photo = np.unique(gt, return_counts=True)
    tasks = np.unique(task)
    assert photos.size == 6 and (per_photo == 50).all() and tasks.size == 2
    assert [int((picks["pool"] & (gt == p)).sum()) for p in photos] == [5] * 6
    per_cell = [int((picks["task"] & (gt == p) & (task == t)).sum()) for p in photos for t in tasks]
    assert max(per_cell) == 3 and sum(per_cell) == 30
    assert [int((picks["task"] & (task == t)).sum()) for t in tasks] == [15, 15]
    # the same selection without the cap puts more than 5 picks on some photo
    plain = select_subset(task=task, complexity=mf.column(table, "complexity"),
                          uncertainty=mf.column(table, "uncertainty"), features=np.load(run / "features.npy"),
                          assign=mf.column(table, "cluster"), seed=cfg.seed, image=gt,
                          cfg=dataclasses.replace(select, image_cap=False))
    assert max(int((gt[plain.selected] == p).sum()) for p in photos) > 5


def test_pool_share_selects_from_the_seeds_share_of_the_pool(tiny_run, tmp_path):
    """``select.pool_share`` in the pipeline: the budget (30 of 300 patches) is chosen from the run
    seed's 240-patch share only, and the features, scores and tiles stages are reused."""
    import dataclasses
    import shutil

    from tripled_fast.select.budget import select_subset
    from tripled_fast.select.share import share_rows

    cfg, res, _ = tiny_run
    run = tmp_path / "share"
    shutil.copytree(res.run_dir, run)
    select = dataclasses.replace(cfg.select, pool_share=0.8, stage1_fraction=1.0)
    logs: list[str] = []
    distill(dataclasses.replace(cfg, run_dir=str(run), select=select), progress=False, log=logs.append)
    assert "tiles: cached" in logs and "select: cached" not in logs
    assert ("select: 30 of 300 patches (10.00 %), chosen from the seed's 240-patch share "
            "(select.pool_share 0.8): stage 1 30, stage 2 0 chosen later from 0 candidates") in logs
    table = mf.read_manifest(run / "manifest.parquet")
    picked = np.flatnonzero(np.asarray(mf.column(table, "selected")))
    share = share_rows(table.num_rows, 0.8, cfg.seed)
    assert picked.size == 30 and share.size == 240 and np.isin(picked, share).all()
    whole = select_subset(task=mf.column(table, "task"), complexity=mf.column(table, "complexity"),
                          uncertainty=mf.column(table, "uncertainty"), features=np.load(run / "features.npy"),
                          assign=mf.column(table, "cluster"), seed=cfg.seed,
                          image=np.asarray(mf.column(table, "gt_path")),
                          cfg=dataclasses.replace(select, pool_share=1.0))
    assert not np.isin(whole.selected, share).all()  # the whole-pool choice used rows outside the share


def test_align_lq_auto_re_degrades_the_aligned_gt(tiny_run, tmp_path):
    """``align.lq=auto`` (the default) on a synthesised pool: the aligned pack's LQ is each pair's
    own spec applied to its aligned GT patch (patch id and run seed key the noise); ``transform``
    gives the aligner's output on the old LQ instead, with the same aligned GT."""
    import dataclasses
    import shutil

    from tripled_fast.align.resynth import resynthesise_lq
    from tripled_fast.train.packed import PackedPairs

    cfg, res, _ = tiny_run
    assert cfg.align.lq == "auto"
    pack = PackedPairs(res.run_dir / "pack" / "aligned")
    ids = np.asarray(pack.ids)
    specs = np.asarray(mf.column(mf.read_manifest(res.run_dir / "manifest.parquet"), "degrade"))[ids]
    assert set(specs) == {"noise:sigma=25.0,gray=false", "blur:sigma=1.5,ksize=0"}  # canonical forms
    want = resynthesise_lq(np.asarray(pack.gt), list(specs), [int(i) for i in ids], seed=cfg.seed)
    np.testing.assert_array_equal(np.asarray(pack.lq), want)
    noisy = specs == "noise:sigma=25.0,gray=false"
    resid = np.asarray(pack.lq)[noisy].astype(np.float64) - np.asarray(pack.gt)[noisy]
    assert 20.0 < resid.std() < 26.0  # sigma 25 minus the clipping at black / white

    run = tmp_path / "transform"
    shutil.copytree(res.run_dir, run)
    logs: list[str] = []
    distill(dataclasses.replace(cfg, run_dir=str(run), align=dataclasses.replace(cfg.align, lq="transform")),
            progress=False, log=logs.append)
    assert "pack: cached" in logs and "align: cached" not in logs
    other = PackedPairs(run / "pack" / "aligned")
    np.testing.assert_array_equal(np.asarray(other.ids), ids)
    np.testing.assert_array_equal(np.asarray(other.gt), np.asarray(pack.gt))  # same aligner, same GT
    assert not np.array_equal(np.asarray(other.lq), want)
