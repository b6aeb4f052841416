"""What the alignment does to a selected subset's pairs, for align.lq = transform / resynth.

On the (a) validation split of run_align_lq.sh (its cached scan), the default selection at one
budget and seed is aligned with align.pixel_weight 10 (default) and 100, and the script prints
how far the aligner moved the GT (RMS grey levels), the noise level of the LQ the model would
train on (std of LQ - GT, grey levels; the pool's is sigma 25 before clipping) under transform
and under resynth, and the subset-vs-full Frechet feature distance before / after.

usage: python explore_align_lq.py [BUDGET] [SEED]   (defaults 0.0025 0; run from the repo root)
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np

from tripled_fast.align.aligner import align_subset
from tripled_fast.align.resynth import aligned_lq
from tripled_fast.data.sources import collect_pairs, split_holdout
from tripled_fast.features.backbones import load_backbone
from tripled_fast.features.extract import BackboneEmbed
from tripled_fast.quality.harness import read_report_config, scan_pool, tripled_selection
from tripled_fast.train.packed import PackedPairs


def main() -> None:
    budget = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0025
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    cfg = read_report_config("runs/val/dn_align/base")
    pool, _ = split_holdout(collect_pairs(cfg.pool), cfg.holdout, cfg.data_seed)
    scan = scan_pool(cfg, pool, "cpu", log=lambda s: None)
    rows = tripled_selection(scan, budget, cfg.select, seed).selected
    pack = PackedPairs(scan.pack)
    gt, lq = np.asarray(pack.gt[rows]), np.asarray(pack.lq[rows])
    specs, keys = [str(d) for d in scan.degrade[rows]], [int(r) for r in rows]
    bb, info = load_backbone(cfg.features, seed=cfg.data_seed)
    sigma = lambda a, b: float((a.astype(np.float64) - b).std())
    print(f"budget {budget:g} ({len(rows)} patches), seed {seed}; original pairs: LQ - GT std {sigma(lq, gt):.2f}")
    for pw in (10.0, 100.0):
        acfg = dataclasses.replace(cfg.align, enabled=True, pixel_weight=pw, on=cfg.features.on)
        res = align_subset(gt, lq, BackboneEmbed(bb, info), scan.features, acfg, seed=seed, progress=False)
        rs = aligned_lq("resynth", res.gt, res.lq, specs, keys, seed=seed)
        print(f"pixel_weight {pw:g}: GT moved {np.sqrt(np.mean((res.gt.astype(np.float64) - gt) ** 2)):.2f} RMS, "
              f"mean {float(res.gt.mean() - gt.mean()):+.2f}; LQ - GT std: transform {sigma(res.lq, res.gt):.2f}, "
              f"resynth {sigma(rs, res.gt):.2f}; Frechet {res.fd_before:.3f} -> {res.fd_after:.3f}")


if __name__ == "__main__":
    main()
