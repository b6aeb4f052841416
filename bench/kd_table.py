"""Markdown table of one or more ``bench/kd.py`` result files: per run, then per variant
(mean, population std over seeds) and each variant's gap to ``alone`` (paired by seed).

Usage::

    PYTHONPATH=. python bench/kd_table.py bench/kd_results_final_a.json bench/kd_results_final_b.json
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    runs, teacher = [], None
    for f in a.files:
        r = json.load(open(f))
        runs += r["runs"]
        teacher = teacher or r.get("teacher")
    lat = lambda d: "-" if d.get("latency_s") is None else f"{d['latency_s']:.3f}"  # noqa: E731
    print("| model | seed | PSNR (dB) | SSIM | params | GFLOPs @256^2 | CPU latency @256^2 (s) | train wall / CPU (s) |")
    print("|---|---|---|---|---|---|---|---|")
    if teacher:
        print(f"| teacher | - | {teacher['psnr']:.3f} | {teacher['ssim']:.4f} | {teacher['params']:,} | "
              f"{teacher['flops'] / 1e9:.2f} | {lat(teacher)} | - |")
    for r in sorted(runs, key=lambda r: (r["variant"] != "alone", r["variant"], r["seed"])):
        print(f"| {r['variant']} | {r['seed']} | {r['psnr']:.3f} | {r['ssim']:.4f} | {r['params']:,} | "
              f"{r['flops'] / 1e9:.2f} | {lat(r)} | {r['train_s']:.0f} / {r.get('train_cpu_s', float('nan')):.0f} |")
    by = defaultdict(dict)
    for r in runs:
        by[r["variant"]][r["seed"]] = r
    print("\n| variant | seeds | PSNR mean | PSNR std | SSIM mean | gap to alone (mean of paired diffs) | paired diff range |")
    print("|---|---|---|---|---|---|---|")
    for v, rs in by.items():
        p = np.array([rs[s]["psnr"] for s in sorted(rs)])
        ss = np.array([rs[s]["ssim"] for s in sorted(rs)])
        gap = rng = "-"
        if v != "alone" and "alone" in by:
            d = [rs[s]["psnr"] - by["alone"][s]["psnr"] for s in sorted(rs) if s in by["alone"]]
            if d:
                gap, rng = f"{np.mean(d):+.3f}", f"{min(d):+.3f} .. {max(d):+.3f}"
        print(f"| {v} | {len(p)} | {p.mean():.3f} | {p.std():.3f} | {ss.mean():.4f} | {gap} | {rng} |")


if __name__ == "__main__":
    main()
