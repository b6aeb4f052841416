"""Diagnostic (fifteenth session, 2026-12-07; not in the package): how TripleD's and random's
subsets of the (a) pool (and, since the sixteenth session, k-center's) spread over the pool's complexity distribution, and whether TripleD's
subset changes with the seed. Reads the scan cached in a report folder of the (a) grid (any
network: the selection does not depend on training) and prints, per budget and seed, the mean
complexity rank of the picks (the pool's ranks are uniform on [0, 1]), the share of picks in the
pool's top and bottom complexity quartiles, the number of source photos, and how many of seed
0's TripleD picks the other seeds share.
usage: python explore_complexity_skew.py runs/quality/denoise_w32d10
"""
import sys

import numpy as np
import yaml

import tripled_fast.quality.harness as H
from tripled_fast.data import sources as src
from tripled_fast.select.budget import resolve_budget

out = sys.argv[1]
cfg = H.QualityConfig.from_dict(yaml.safe_load(open(f"{out}/config.yaml")))
pool, _ = src.split_holdout(src.collect_pairs(cfg.pool), cfg.holdout, cfg.data_seed)
scan = H.scan_pool(cfg, pool, "cpu", log=lambda m: None)
c = scan.complexity
q25, q75 = np.percentile(c, [25, 75])
print(f"pool: {scan.n} patches, complexity rank mean {c.mean():.3f}, quartiles {q25:.3f} / {q75:.3f}")
print("| budget | seed | subset | patches | mean complexity rank | in top quartile | in bottom quartile | photos |")
print("|---|---|---|---|---|---|---|---|")
for b in (0.001, 0.0025):
    n = resolve_budget(b, scan.n)
    picks = {}
    for s in range(4):
        picks[s] = H.tripled_selection(scan, b, cfg.select, s).selected
        for name, rows in (("tripled", picks[s]), ("random", H.baseline_rows("random", scan, n, s)),
                           ("kcenter", H.baseline_rows("kcenter", scan, n, s))):
            print(f"| {100 * b:g} % | {s} | {name} | {n} | {c[rows].mean():.3f} | {(c[rows] > q75).mean():.2f} "
                  f"| {(c[rows] < q25).mean():.2f} | {len(set(scan.image[rows]))} |")
    shared = [len(set(picks[0].tolist()) & set(picks[s].tolist())) for s in (1, 2, 3)]
    print(f"\n{100 * b:g} %: TripleD picks shared with seed 0 by seeds 1-3: {shared} of {n}\n")
