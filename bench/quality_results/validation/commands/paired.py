"""TripleD - random paired by seed at the two smallest budgets of every committed test grid.

A supplement to the Targets table of bench/QUALITY.md (fourteenth session, 2026-12-07): it reads
the committed runs.json files only, through tripled_fast.quality.report.paired_differences (the
function the harness now uses for table.md), and prints one markdown row per grid, test and
budget. Per-degradation tests (CBSD68/denoise, ...) are left out; the overall test is kept.
The second table does the same on the validation splits, where the issue asks the default to
be at least as good as random at every budget: the default's TripleD runs paired with the random
runs of the same split, settings and seeds (kept in another folder where the default was run
later; a baseline's run key leaves out the select section, so they are the same random runs).
usage: python bench/quality_results/validation/commands/paired.py
"""
from __future__ import annotations

import glob
import json
from pathlib import Path

from tripled_fast.quality.report import paired_differences

ROOT = Path(__file__).resolve().parents[2]  # bench/quality_results
GRIDS = [  # (folder, label) - the Targets table's current-default rows, in its order
    ("denoise_cap", "(a) denoising"), ("allinone_naf_capt", "(b) all-in-one"), ("sr4_cap", "(c) x4 SR"),
    ("realsr_cap", "(d) RealSR"), ("denoise_s3200_cap", "(a) denoising, 3200 steps"),
    ("sr4_s1600_cap", "(c) x4 SR, 1600 steps"), ("realsr_s1600", "(d) RealSR, 1600 steps"),
    ("allinone_naf_s800", "(b) all-in-one, 800 steps"), ("allinone_naf_s1600", "(b) all-in-one, 1600 steps"),
    ("allinone_naf_s800_cbsd68all", "(b) 800 steps, all 68 CBSD68 photos (rebuilt environment)"),
    ("allinone_naf_s1600_cbsd68all", "(b) 1600 steps, all 68 CBSD68 photos"),
    ("allinone_naf_s1600_cbsd68all_rebuild", "(b) 1600 steps, all 68 CBSD68 photos, rebuilt environment"),
    ("denoise_w32d10", "(a) denoising, DnCNN depth 10 width 32, 1600 steps"),
]


VAL = ROOT / "validation"
VAL_SPLITS = [  # (label, TripleD default folder, random folder, budgets or None for all) under validation/
    ("(a) Train400 holdout, 800 steps", "dn_cap", "dn_default", None),
    ("(a) Train400 holdout, 3200 steps (cap off)", "dn_s3200", "dn_s3200", None),
    ("(c) BSD100 holdout", "sr4_cap", "sr4_v025", {0.0025}),
    ("(c) BSD100 holdout", "sr4_cap", "sr4_default", {0.005, 0.01}),
    ("(c) BSD100 holdout, 1600 steps (cap off)", "sr4_s1600", "sr4_s1600", None),
    ("(b) Urban100 holdout, 400 steps", "allinone_naf_capt", "allinone_naf", None),
    ("(b) Urban100 holdout, 800 steps", "allinone_naf_s800", "allinone_naf_s800", None),
    ("(b) Urban100 holdout, 1600 steps", "allinone_naf_s1600", "allinone_naf_s1600", None),
    ("(d) RealSR fold f0", "rsr_f0_cap", "rsr_f0", None), ("(d) RealSR fold f1", "rsr_f1", "rsr_f1", None),
    ("(d) RealSR fold f2", "rsr_f2", "rsr_f2", None), ("(d) RealSR fold f3", "rsr_f3_cap", "rsr_f3", None),
    ("(a) Train400 holdout, DnCNN depth 10 width 32, 1600 steps", "dn_w32d10", "dn_w32d10", None),
    # sixteenth session: random and the default re-run beside quotas=strata (run_strata_val.sh), Intel Xeon
    ("(a) Train400 holdout, 800 steps, re-run", "strata_a", "strata_a", None),
    ("(c) BSD100 holdout, re-run", "strata_c", "strata_c", None),
    ("(d) RealSR fold f0, re-run", "strata_d0", "strata_d0", None), ("(d) RealSR fold f1, re-run", "strata_d1", "strata_d1", None),
    ("(d) RealSR fold f2, re-run", "strata_d2", "strata_d2", None), ("(d) RealSR fold f3, re-run", "strata_d3", "strata_d3", None),
    ("(b) Urban100 holdout, 400 steps, re-run", "strata_b", "strata_b", None),
    # seventeenth session: a second (a) split, 40 other held-out photos (run_herding_dn.sh x1 / x2)
    ("(a) Train400 holdout, data_seed 1, 800 steps", "herd_a_ds1", "herd_a_ds1", None),
]


def _records(folder: str, method: str) -> list[dict]:
    runs = [json.loads(Path(f).read_text()) for f in sorted(glob.glob(str(VAL / folder / "runs" / "*.json")))]
    return [r for r in runs if r["method"] == method]


def _row(label: str, test: str, b: float, c: dict) -> str:
    if c["ci"] is None:  # one common seed: no interval
        return f"| {label} | {test} | {100 * b:g} % | 1 | {c['mean']:+.2f} | - | {c['wins']}/1 | - |"
    lo, hi = c["ci"]
    verdict = "yes, above" if lo > 0 else ("yes, below" if hi < 0 else "no")
    return (f"| {label} | {test} | {100 * b:g} % | {c['n']} | {c['mean']:+.2f} +- {c['std']:.2f} "
            f"| [{lo:+.3f}, {hi:+.3f}] | {c['wins']}/{c['n']} | {verdict} |")


def main() -> None:
    print("| grid | test | budget | seeds | TripleD - random, paired | 95 % interval | TripleD higher | excludes 0? |")
    print("|---|---|---|---|---|---|---|---|")
    for folder, label in GRIDS:
        runs = json.loads((ROOT / folder / "runs.json").read_text())
        paired = paired_differences(runs, method="tripled", baseline="random")
        for test, cells in paired.items():
            if "/" in test and not test.endswith("/HR"):   # CBSD68/denoise etc.; Set5/HR is a test name
                continue
            for b in sorted(cells)[:2]:
                print(_row(label, test, b, cells[b]))
    print()
    print("| validation split | test | budget | seeds | TripleD - random, paired | 95 % interval | TripleD higher | excludes 0? |")
    print("|---|---|---|---|---|---|---|---|")
    for label, mine, base, budgets in VAL_SPLITS:
        paired = paired_differences(_records(mine, "tripled") + _records(base, "random"))
        for test, cells in paired.items():
            if "/" in test:
                continue
            for b, c in cells.items():
                if budgets is None or b in budgets:
                    print(_row(label, test, b, c))


if __name__ == "__main__":
    main()
