"""``select.pool_share`` 0.8 against random and the default on three validation splits none of
the jitter work was seen on (plan and decision rule in run_share_val.sh, nineteenth session,
2026-12-07).

``collect`` sorts the run folders ``runs/val/share_<x>`` by run key into
``validation/share_<x>/`` (random and the default, pool_share 1.0) and
``validation/share_<x>_p08/`` (pool_share 0.8). Then it prints per cell the three means and the
paired-by-seed differences (tripled_fast.quality.report.paired_differences), and the plan's
three conditions; condition 3 also counts the earlier cells of paired_jitter.py, where the
jittered default (pool_jitter 0.2) selected what pool_share 0.8 selects.
``test`` instead collects and prints the test grids of run_share_test.sh (records into
``bench/quality_results/<grid>_share/``; the (a) grid's random and default runs are the
seventeenth session's, ``denoise_herding/``).
``grid`` adds run_share_grid.sh's full data and larger budgets to those records and writes the
harness's report of the default (pool_share 0.8) there, with both targets; ``larger`` prints
its validation cells (the default against random at the larger budgets, after ``collect``);
``val2`` collects and prints run_share_val2.sh ((d) folds at 2 %, (b) at 0.25 %) and
run_share_val3.sh's (d) and (b) cells ((d) folds at 5 %, (b) at 2 %).
usage: python bench/quality_results/validation/commands/paired_share.py [collect | test | grid | larger | val2]
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml

from paired_jitter import BUDGETS as JIT_BUDGETS, cell_runs, below_random
from paired_strata import VAL, _cell
from tripled_fast.quality.harness import QualityConfig, read_report_config, run_key
from tripled_fast.quality.report import paired_differences

SHARE = 0.8
CELLS = [  # (label, suffix under runs/val/share_ and validation/share_, budgets, planned seeds)
    ("(a) Train400 holdout, data_seed 3", "a", (0.001, 0.0025), 8),
    ("(c) BSD100 holdout, data_seed 1, 400 steps", "c", (0.0025, 0.005), 8),
    ("(b) Urban100 holdout, data_seed 1, NAFNet, 400 steps", "b", (0.01,), 4),
]
PAIRS = [("share", "random"), ("default", "random"), ("share", "default")]


def _matching(src: Path, raw: dict, share: float, methods: tuple[str, ...],
              budgets: tuple[float, ...] | None = None) -> tuple[QualityConfig, list[tuple[Path, dict]]]:
    """The config of ``src`` with ``select.pool_share = share`` and the records of ``src/runs``
    it made (by run key) for ``methods`` (and ``budgets``, if given)."""
    cfg = QualityConfig.from_dict({**raw, "select": {**raw["select"], "pool_share": share}})
    found = []
    for f in sorted((src / "runs").glob("*.json")):
        r = json.loads(f.read_text())
        if (r["method"] in methods and (budgets is None or float(r["budget"]) in budgets)
                and f.stem.endswith(run_key(cfg, r["method"], r["budget"], r["seed"]))):
            found.append((f, r))
    return cfg, found


def _mean(runs: list[dict], method: str, budget: float, test: str) -> float:
    return float(np.mean([float(r["tests"][test]["psnr"]) for r in runs
                          if r["method"] == method and float(r["budget"]) == budget] or [np.nan]))


def collect(runs_root: Path = Path("runs/val")) -> None:
    """Copy each record of ``runs/val/share_<x>`` into ``share_<x>`` or ``share_<x>_p08`` by run key."""
    for _, x, _, _ in CELLS:
        src = runs_root / f"share_{x}"
        if not (src / "config.yaml").is_file():
            continue
        raw = read_report_config(src).to_dict()
        for share, dst, methods in ((1.0, VAL / f"share_{x}", ("random", "tripled")),
                                    (SHARE, VAL / f"share_{x}_p08", ("tripled",))):
            cfg, found = _matching(src, raw, share, methods)
            (dst / "runs").mkdir(parents=True, exist_ok=True)
            for f, _ in found:
                shutil.copyfile(f, dst / "runs" / f.name)
            (dst / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            print(f"{src} -> {dst.name}: {len(found)} runs")


def _records(folder: Path, rename: dict[str, str]) -> list[dict]:
    out = []
    for f in sorted((folder / "runs").glob("*.json")):
        r = json.loads(f.read_text())
        if r["method"] in rename:
            out.append({**r, "method": rename[r["method"]]})
    return out


def main() -> None:
    print("| cell | budget | random | default | pool_share 0.8 | "
          + " | ".join(f"{a} - {b}" for a, b in PAIRS) + " |")
    print("|---|---|" + "---|" * (3 + len(PAIRS)))
    below = {p: 0 for p in PAIRS}
    cells = 0
    for label, x, budgets, planned in CELLS:
        if not (VAL / f"share_{x}").is_dir():
            print(f"| {label} | (no records yet) |")
            continue
        runs = (_records(VAL / f"share_{x}", {"random": "random", "tripled": "default"})
                + _records(VAL / f"share_{x}_p08", {"tripled": "share"}))
        for b in budgets:
            diff = {p: paired_differences(runs, method=p[0], baseline=p[1]).get("holdout", {}).get(b) for p in PAIRS}
            mean = [_mean(runs, m, b, "holdout") for m in ("random", "default", "share")]
            print(f"| {label} | {100 * b:g} % | " + " | ".join(f"{v:.2f}" for v in mean) + " | "
                  + " | ".join("(no runs)" if diff[p] is None else _cell(diff[p]) for p in PAIRS) + " |")
            # a cell counts once all three selections ran every planned seed
            cells += all(diff[p] is not None and diff[p]["n"] == planned for p in PAIRS)
            for p in PAIRS:
                c = diff[p]
                below[p] += bool(c and c["ci"] is not None and c["ci"][1] < 0)
    # condition 3: the earlier cells (paired_jitter.py, the (d) pooled rows included) and these
    earlier = {"default-jit": 0, "default": 0}
    pooled: list[dict] = []
    for _, x, runs, budgets in cell_runs():
        if runs is None:
            continue
        for m in earlier:
            earlier[m] += below_random(runs, budgets, m)
        pooled += runs if x.startswith("d") else []
    for m in earlier:
        earlier[m] += below_random(pooled, JIT_BUDGETS["d"], m)
    share_fails = earlier["default-jit"] + below[("share", "random")]
    default_fails = earlier["default"] + below[("default", "random")]
    c1, c2, c3 = below[("share", "random")] == 0, below[("share", "default")] == 0, share_fails < default_fails
    print()
    print(f"new cells measured: {cells} of 5")
    print(f"1. new cells with share - random wholly below 0: {below[('share', 'random')]} -> {'holds' if c1 else 'fails'}")
    print(f"2. new cells with share - default wholly below 0: {below[('share', 'default')]} -> {'holds' if c2 else 'fails'}")
    print(f"3. all validation cells below random: pool_share 0.8 {share_fails} "
          f"({earlier['default-jit']} earlier + {below[('share', 'random')]} new), the default {default_fails} "
          f"({earlier['default']} + {below[('default', 'random')]}) -> {'holds' if c3 else 'fails'}")
    verdict = "adopt pool_share 0.8" if cells == 5 and c1 and c2 and c3 else (
        "incomplete" if cells < 5 else "keep pool_share 1.0")
    print(f"decision: {verdict}")


GRIDS = [  # (label, run folder under runs/quality, record folder under bench/quality_results, budgets)
    ("(a) Train400, 800 steps", "denoise_herding", "denoise_share", (0.001, 0.0025)),
    ("(c) BSD100 x4, 400 steps", "sr4_share", "sr4_share", (0.0025, 0.005)),
    ("(d) RealSR, 400 steps", "realsr_share", "realsr_share", (0.005, 0.01)),
    ("(b) Urban100 x 6, NAFNet, 400 steps", "allinone_naf_share", "allinone_naf_share", (0.0025, 0.005)),
]


def test_grids(runs_root: Path = Path("runs/quality")) -> None:
    """run_share_test.sh: copy random, the default (pool_share 1.0) and pool_share 0.8 of each
    test grid into ``bench/quality_results/<grid>_share/`` (by run key) and print per test set
    and budget the three means and the paired differences."""
    print("| grid | test | budget | seeds | random | default | pool_share 0.8 | "
          + " | ".join(f"{a} - {b}" for a, b in PAIRS) + " |")
    print("|---|---|---|---|---|---|---|" + "---|" * len(PAIRS))
    for label, src_name, dst_name, budgets in GRIDS:
        src, dst = runs_root / src_name, VAL.parent / dst_name
        if not (src / "config.yaml").is_file():
            print(f"| {label} | (no runs yet) |")
            continue
        raw = read_report_config(src).to_dict()
        runs = []
        for share, rename in ((1.0, {"random": "random", "tripled": "default"}), (SHARE, {"tripled": "share"})):
            cfg, found = _matching(src, raw, share, tuple(rename), budgets)
            for f, r in found:
                (dst / "runs").mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, dst / "runs" / f.name)
                runs.append({**r, "method": rename[r["method"]]})
        if dst.is_dir() and not (dst / "config.yaml").is_file():
            # the last cfg: the share runs' settings; the harness's --report-only there rewrites it
            (dst / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        diffs = {p: paired_differences(runs, method=p[0], baseline=p[1]) for p in PAIRS}
        for test in sorted({t for r in runs for t in r["tests"] if "/" not in t or t.endswith("/HR")}):
            for b in budgets:
                cell = {p: diffs[p].get(test, {}).get(b) for p in PAIRS}
                mean = [_mean(runs, m, b, test) for m in ("random", "default", "share")]
                n = max((c["n"] for c in cell.values() if c), default=0)
                print(f"| {label} | {test} | {100 * b:g} % | {n} | " + " | ".join(f"{v:.2f}" for v in mean)
                      + " | " + " | ".join("(no runs)" if cell[p] is None else _cell(cell[p]) for p in PAIRS) + " |")


SHARE_HEADER = ("| cell | budget | seeds | random | pool_share 0.8 | share - random | verdict |\n"
                "|---|---|---|---|---|---|---|")


def _share_row(label: str, runs: list[dict], b: float) -> None:
    """One validation cell: the default (``share``) against random on ``holdout`` at budget ``b``,
    paired by seed; it fails when its 95 % interval lies wholly below 0."""
    c = paired_differences(runs, method="share", baseline="random").get("holdout", {}).get(b)
    if c is None:
        print(f"| {label} | {100 * b:g} % | (no runs) |")
        return
    fails = c["ci"] is not None and c["ci"][1] < 0
    print(f"| {label} | {100 * b:g} % | {c['n']} | {_mean(runs, 'random', b, 'holdout'):.2f} | "
          f"{_mean(runs, 'share', b, 'holdout'):.2f} | {_cell(c)} | {'fails' if fails else 'holds'} |")


LARGER = {"a": (0.005, 0.01, 0.02, 0.05), "c": (0.01, 0.02, 0.05)}  # run_share_grid.sh's and (5 %) run_share_val3.sh's, 4 seeds


def larger_budgets() -> None:
    """run_share_grid.sh on the validation splits: the default (pool_share 0.8) against random at
    the larger budgets (after ``collect``); a cell fails when its paired interval lies wholly below 0."""
    print(SHARE_HEADER)
    for label, x, _, _ in CELLS:
        if x not in LARGER or not (VAL / f"share_{x}").is_dir():
            continue
        runs = (_records(VAL / f"share_{x}", {"random": "random"})
                + _records(VAL / f"share_{x}_p08", {"tripled": "share"}))
        for b in LARGER[x]:
            _share_row(label, runs, b)


VAL2 = [  # run_share_val2.sh, then run_share_val3.sh: (label, run folder under runs/val, record folder
    # under validation/, budgets)
    *[(f"(d) RealSR fold f{f}", f"strata_d{f}", f"share2_d{f}", (0.02, 0.05)) for f in range(4)],
    ("(b) Urban100 holdout, NAFNet, 400 steps", "strata_b", "share2_b", (0.0025, 0.02)),
]


def val2(runs_root: Path = Path("runs/val")) -> None:
    """run_share_val2.sh and run_share_val3.sh: copy random and the default (pool_share 0.8) at
    the plans' budgets into ``validation/share2_<x>/`` and print the default against random per
    cell and (d) pooled over its folds (seeds renumbered 100 x fold + seed); a cell fails when its
    interval lies wholly below 0."""
    print(SHARE_HEADER)
    pooled: list[dict] = []

    for label, src_name, dst_name, budgets in VAL2:
        src, dst = runs_root / src_name, VAL / dst_name
        if not (src / "config.yaml").is_file():
            continue
        cfg, found = _matching(src, read_report_config(src).to_dict(), SHARE, ("random", "tripled"), budgets)
        (dst / "runs").mkdir(parents=True, exist_ok=True)
        for f, _ in found:
            shutil.copyfile(f, dst / "runs" / f.name)
        (dst / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        runs = [{**r, "method": {"random": "random", "tripled": "share"}[r["method"]]} for _, r in found]
        for b in budgets:
            _share_row(label, runs, b)
        if src_name.startswith("strata_d"):
            pooled += [{**r, "seed": 100 * int(src_name[-1]) + int(r["seed"])} for r in runs]
    for b in VAL2[0][3]:
        _share_row("(d) pooled over its four folds", pooled, b)


GRID_BUDGETS = {  # run_share_grid.sh: every budget of each grid (the two smallest from run_share_test.sh)
    "denoise_share": (0.001, 0.0025, 0.005, 0.01, 0.02),
    "sr4_share": (0.0025, 0.005, 0.01, 0.02),
    "realsr_share": (0.005, 0.01, 0.02, 0.05),
    "allinone_naf_share": (0.0025, 0.005, 0.01, 0.02),
}


def _budget(b: float | None) -> str:
    return "not reached" if b is None else f"{100 * b:g} %"


def whole_grids(runs_root: Path = Path("runs/quality")) -> None:
    """run_share_grid.sh: copy full data and random / the default (pool_share 0.8) at every
    budget of each grid into ``bench/quality_results/<grid>_share/`` and write the harness's
    report there (table.md, summary.json with both targets, the plot) for the default; then print
    the targets per test set."""
    from tripled_fast.quality.harness import run_quality

    print("| grid | test | full data | equal-quality budget: default vs random | <= half? "
          "| two smallest budgets: default - random (spread) | beyond both? |")
    print("|---|---|---|---|---|---|---|")
    for label, src_name, dst_name, _ in GRIDS:
        src, dst = runs_root / src_name, VAL.parent / dst_name
        if not (src / "config.yaml").is_file():
            print(f"| {label} | (no runs yet) |")
            continue
        budgets = GRID_BUDGETS[dst_name]
        raw = read_report_config(src).to_dict()
        cfg, found = _matching(src, raw, SHARE, ("full", "random", "tripled"), budgets + (1.0,))
        (dst / "runs").mkdir(parents=True, exist_ok=True)
        for f, _ in found:
            shutil.copyfile(f, dst / "runs" / f.name)
        seeds = sorted({int(r["seed"]) for _, r in found})
        rep = QualityConfig.from_dict({**cfg.to_dict(), "out_dir": str(dst), "budgets": list(budgets),
                                       "seeds": seeds, "methods": ["full", "random", "tripled"]})
        res = run_quality(rep, report_only=True, log=lambda *_: None)
        full = res["summary"]["cells"]
        for test, t in res["targets"]["tripled"].items():
            if "/" in test and not test.endswith("/HR"):
                continue
            f = full[test].get("full", {}).get(1.0, {})
            half = {True: "met", False: "missed", None: "not known"}[t["eq_half"]]
            small = "; ".join(f"{100 * s['budget']:g} %: {s['margin']:+.2f} ({s['spread']:.2f})"
                              for s in t["small_budgets"])
            print(f"| {label} | {test} | {f.get('psnr', float('nan')):.2f} ({f.get('n', 0)}) | "
                  f"{_budget(t['eq_method'])} vs {_budget(t['eq_baseline'])} | {half} | {small} | "
                  f"{'met' if t['small_budgets_met'] else 'missed'} |")


if __name__ == "__main__":
    modes = {"collect": collect, "test": test_grids, "grid": whole_grids, "larger": larger_budgets, "val2": val2}
    if len(sys.argv) > 2 or (sys.argv[1:] and sys.argv[1] not in modes):
        sys.exit(f"usage: paired_share.py [{' | '.join(modes)}]; got {' '.join(sys.argv[1:])}")
    if sys.argv[1:]:
        modes[sys.argv[1]]()
    if sys.argv[1:] in ([], ["collect"]):  # the plan's table, also after collecting
        main()
