"""Diagnostic (eighteenth session, 2026-12-07; not in the package): how much of seed 0's default
TripleD subset seeds 1-3 share, with and without pool_jitter, per budget. Output in
validation/jitter_overlap.txt (it fixed pool_jitter 0.2 before any run of run_jitter_val.sh).
usage: python explore_jitter_overlap.py RUN_FOLDER BUDGETS [JITTERS]   e.g. runs/val/strata_d0 0.005,0.01
"""
import sys, dataclasses
import numpy as np, yaml
import tripled_fast.quality.harness as H
from tripled_fast.data import sources as src
from tripled_fast.select.budget import resolve_budget
out = sys.argv[1]; budgets = [float(b) for b in sys.argv[2].split(",")]
cfg = H.QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
pool, _ = src.split_holdout(src.collect_pairs(cfg.pool), cfg.holdout, cfg.data_seed)
scan = H.scan_pool(cfg, pool, "cpu", log=lambda m: None)
sc = dataclasses.replace(cfg.select, coverage="kcenter")
for b in budgets:
    n = resolve_budget(b, scan.n)
    for j in [float(v) for v in (sys.argv[3] if len(sys.argv) > 3 else "0,0.1,0.2,0.3").split(",")]:
        picks = [set(H.tripled_selection(scan, b, sc, s, jitter=j).selected.tolist()) for s in range(4)]
        sh = np.mean([len(picks[0] & picks[s]) / n for s in (1, 2, 3)])
        print(out, b, n, "jitter", j, "shared with seed 0: %.2f" % sh, flush=True)
