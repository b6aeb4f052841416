"""select.coverage=herding on denoising data it was not chosen on (run_herding_dn.sh).

Prints, per cell, herding - default, default - random and herding - random paired by seed, for
the second (a) validation split (Train400 --holdout 0.1, data_seed 1; records
``validation/herd_a_ds1/`` with random and the default, ``validation/herd_a_ds1_herding/``) and
for the (a) test grid re-run on this machine (``../denoise_xeon/`` and ``../denoise_herding/``,
Set12 and BSD68), then the recommendation rule written in run_herding_dn.sh before the runs.
``collect`` first sorts the run folders (``runs/val/herd_a_ds1``, ``runs/quality/denoise_herding``)
by run key into those folders.
usage: python bench/quality_results/validation/commands/paired_herding_dn.py [collect]
"""
from __future__ import annotations

import sys
from pathlib import Path

from paired_strata import VAL, _cell, _records, collect_folder

from tripled_fast.quality.report import paired_differences

GRIDS = [  # (label, run folder, folder of random + default, folder of herding)
    ("(a) Train400 holdout, data_seed 1, 800 steps", Path("runs/val/herd_a_ds1"),
     VAL / "herd_a_ds1", VAL / "herd_a_ds1_herding"),
    ("(a) test grid, 800 steps", Path("runs/quality/denoise_herding"),
     VAL.parent / "denoise_xeon", VAL.parent / "denoise_herding"),
]
PAIRS = [("herding", "default"), ("default", "random"), ("herding", "random")]


def main() -> None:
    print("| data | test | budget | seeds | herding - default | default - random | herding - random |")
    print("|---|---|---|---|---|---|---|")
    rule_cells = []
    for label, _, base, mine in GRIDS:
        if not base.is_dir() or not mine.is_dir():
            print(f"| {label} | (no records yet) |")
            continue
        runs = _records(base, {"random": "random", "tripled": "default"}) + _records(mine, {"tripled": "herding"})
        paired = {p: paired_differences(runs, method=p[0], baseline=p[1]) for p in PAIRS}
        for test, cells in paired[PAIRS[0]].items():
            if "/" in test:
                continue
            for b in sorted(cells):
                row = [paired[p][test][b] for p in PAIRS]
                print(f"| {label} | {test} | {100 * b:g} % | {row[0]['n']} | " + " | ".join(_cell(c) for c in row) + " |")
                if test == "holdout":
                    rule_cells.append(row[0])
    if rule_cells:
        below = sum(c["ci"] is not None and c["ci"][1] < 0 for c in rule_cells)
        mean = sum(c["mean"] for c in rule_cells) / len(rule_cells)
        ok = below == 0 and mean > 0
        print(f"\nrecommendation rule on the data_seed 1 split: cells below the default beyond the interval {below}, "
              f"mean herding - default {mean:+.3f} -> {'recommend' if ok else 'do not recommend'}")


if __name__ == "__main__":
    if sys.argv[1:] == ["collect"]:
        for _, src, base, mine in GRIDS:
            if (src / "config.yaml").is_file():
                collect_folder("herding", src, base, mine)
    main()
