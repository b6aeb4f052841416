"""Diagnostic (eighteenth session, 2026-12-07; not in the package): leave-one-out over the
TripleD subset of a validation cell. Trains the cell's subset (coverage kcenter|herding, seed 0's
selection) and each subset with one patch dropped, seeds 0-3, by plain training (the harness's
``tripled-select`` path, not ``tripled``'s one-stage curriculum, whose batch draws differ), and
prints one JSON line per run
(drop: the dropped position, -1 = none). Output of "runs/val/strata_d0 herding 0.005" in
validation/loo_herding_d0.txt. usage: python explore_loo.py RUN_FOLDER COVERAGE BUDGET PART NPARTS
(run PART 0..NPARTS-1 in parallel)
"""
import sys, dataclasses, json
import numpy as np, yaml
import tripled_fast.quality.harness as H
from tripled_fast.data import sources as src
from tripled_fast.train.archs import build_model
from tripled_fast.train.loop import train_model
from tripled_fast.train.packed import PackedPairs, PairPatchDataset
from tripled_fast.metrics.evaluate import evaluate_pairs
out, cov, budget, part, nparts = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
seeds = range(4)
cfg = H.QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
pool, hold = src.split_holdout(src.collect_pairs(cfg.pool), cfg.holdout, cfg.data_seed)
scan = H.scan_pool(cfg, pool, "cpu", log=lambda m: None)
tests = H._load_tests(cfg, hold, scan.color)
pk = PackedPairs(scan.pack)
sel = H.tripled_selection(scan, budget, dataclasses.replace(cfg.select, coverage=cov), 0).selected
jobs = [(-1, s) for s in seeds] + [(j, s) for j in range(len(sel)) for s in seeds]
for k, (j, s) in enumerate(jobs):
    if k % nparts != part: continue
    rows = sel if j < 0 else np.delete(sel, j)
    model = build_model(cfg.train.arch, in_ch=pk.channels, out_ch=pk.channels, scale=scan.scale, seed=s, **cfg.train.arch_kwargs)
    data = PairPatchDataset(pk, rows, augment=cfg.train.augment, crop=cfg.train.crop, seed=s)
    tr = train_model(model, data, cfg.train, seed=s, device="cpu", progress=False)
    ev = evaluate_pairs(tr.model, tests["holdout"], scale=scan.scale, cfg=cfg.eval, device="cpu")
    print(json.dumps({"drop": j, "row": int(sel[j]) if j >= 0 else None, "seed": s, "psnr": float(ev.psnr)}), flush=True)
