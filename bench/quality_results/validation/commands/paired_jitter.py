"""The default and herding against random with the TripleD subset varying by seed
(``pool_jitter`` 0.2; plan and readings in run_jitter_val.sh, eighteenth session, 2026-12-07).

Reads, per cell folder, the references already committed - random and the unjittered default
(``validation/strata_<x>/`` or ``validation/herd_a_ds1/``) and unjittered herding (``..._herding/``)
- and this plan's records, ``validation/jit_<x>/`` (the jittered default) and
``validation/jit_<x>_herding/`` (phases j3 / j4 add (c) and (b)). Prints per cell the paired-by-seed differences of readings A
(jittered default - random), B (jittered - unjittered default) and C (jittered herding -
jittered default, - random), the unjittered default - random beside them, and (d) pooled over
its four folds (a fold's seed s is pair (fold, s)), through
tripled_fast.quality.report.paired_differences. ``collect`` first sorts the run folders
(``runs/val/strata_<x>``, ``runs/val/herd_a_ds1``, ``runs/val/jit_a_ds2``) into the ``jit_*`` folders by
run key. The third (a) split (``run_jitter_ds2.sh``) has no herding runs; its random and
unjittered default go to ``jit_a_ds2_base/``.
usage: python bench/quality_results/validation/commands/paired_jitter.py [collect]
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml

from paired_strata import VAL, _cell as _paired_cell  # bench/quality_results/validation; one cell's text
from tripled_fast.quality.harness import QualityConfig, read_report_config, run_key
from tripled_fast.quality.report import paired_differences

JITTER = 0.2
CELLS = [  # (label, run folder under runs/val, reference folder, herding reference folder, suffix)
    ("(d) RealSR fold f0", "strata_d0", "strata_d0", "strata_d0_herding", "d0"),
    ("(d) RealSR fold f1", "strata_d1", "strata_d1", "strata_d1_herding", "d1"),
    ("(d) RealSR fold f2", "strata_d2", "strata_d2", "strata_d2_herding", "d2"),
    ("(d) RealSR fold f3", "strata_d3", "strata_d3", "strata_d3_herding", "d3"),
    ("(a) Train400 holdout, data_seed 0", "strata_a", "strata_a", "strata_a_herding", "a"),
    ("(a) Train400 holdout, data_seed 1", "herd_a_ds1", "herd_a_ds1", "herd_a_ds1_herding", "a_ds1"),
    ("(a) Train400 holdout, data_seed 2", "jit_a_ds2", "jit_a_ds2_base", "jit_a_ds2_base_herding", "a_ds2"),
    ("(c) BSD100 holdout, 400 steps", "strata_c", "strata_c", "strata_c_herding", "c"),
    ("(b) Urban100 holdout, NAFNet, 400 steps", "strata_b", "strata_b", "strata_b_herding", "b"),
]
#: budgets per split (the first letter of a cell's suffix)
BUDGETS = {"d": (0.005, 0.01), "a": (0.001, 0.0025), "c": (0.0025, 0.005, 0.01), "b": (0.005, 0.01)}


def _config(raw: dict, coverage: str, jitter: float) -> QualityConfig:
    return QualityConfig.from_dict({**raw, "pool_jitter": jitter,
                                    "select": {**raw["select"], "quotas": "tasks", "coverage": coverage}})


def collect(runs_root: Path = Path("runs/val")) -> None:
    """Copy the jittered TripleD records (and, with the default's, the random references) of
    each run folder into ``VAL/jit_<x>`` and ``VAL/jit_<x>_herding``, matched by run key."""
    for _, src_name, ref, _, x in CELLS:
        src = runs_root / src_name
        if not (src / "config.yaml").is_file():
            continue
        raw = read_report_config(src).to_dict()
        targets = [("kcenter", JITTER, VAL / f"jit_{x}", ("random", "tripled")),
                   ("herding", JITTER, VAL / f"jit_{x}_herding", ("tripled",))]
        if ref.startswith("jit_"):  # run_jitter_ds2.sh's split: its unjittered references are new too
            targets.append(("kcenter", 0.0, VAL / ref, ("random", "tripled")))
        for coverage, jitter, dst, methods in targets:
            cfg = _config(raw, coverage, jitter)
            found = [f for f in sorted((src / "runs").glob("*.json"))
                     if (r := json.loads(f.read_text()))["method"] in methods and float(r["budget"]) in BUDGETS[x[0]]
                     and f.stem.endswith(run_key(cfg, r["method"], r["budget"], r["seed"]))]
            if not found:
                continue
            (dst / "runs").mkdir(parents=True, exist_ok=True)
            for f in found:
                shutil.copyfile(f, dst / "runs" / f.name)
            (dst / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
            n = len(found)
            print(f"{src} -> {dst.name}: {n} runs")


def _records(folder: Path, rename: dict[str, str], budgets: tuple[float, ...], fold: int = 0) -> list[dict]:
    out = []
    for f in sorted((folder / "runs").glob("*.json")):
        r = json.loads(f.read_text())
        if r["method"] in rename and float(r["budget"]) in budgets:
            out.append({**r, "method": rename[r["method"]], "seed": 100 * fold + int(r["seed"])})
    return out


def _cell(c: dict | None) -> str:
    return "(no runs)" if c is None else _paired_cell(c)


PAIRS = [("default-jit", "random"), ("default", "random"), ("default-jit", "default"),
         ("herding-jit", "default-jit"), ("herding-jit", "random"), ("herding", "random")]


def _rows(label: str, runs: list[dict], budgets: tuple[float, ...]) -> list[dict]:
    out = []
    for b in budgets:
        cells = {p: paired_differences(runs, method=p[0], baseline=p[1]).get("holdout", {}).get(b) for p in PAIRS}
        mean = {m: np.mean([float(r["tests"]["holdout"]["psnr"]) for r in runs if r["method"] == m
                            and float(r["budget"]) == b] or [np.nan]) for m in ("random", "default", "default-jit",
                                                                                "herding-jit")}
        print(f"| {label} | {100 * b:g} % | " + " | ".join(f"{mean[m]:.2f}" for m in mean) + " | "
              + " | ".join(_cell(cells[p]) for p in PAIRS) + " |")
        out.append(cells)
    return out


def cell_runs():
    """Per validation cell with records: ``(label, suffix, runs, budgets)``, the runs renamed to
    random / default / herding / default-jit / herding-jit, a fold's seeds offset by 100 x fold."""
    for fold, (label, _, ref, href, x) in enumerate(CELLS):
        budgets = BUDGETS[x[0]]
        if not (VAL / f"jit_{x}").is_dir():
            yield label, x, None, budgets
            continue
        runs = (_records(VAL / ref, {"random": "random", "tripled": "default"}, budgets, fold)
                + _records(VAL / href, {"tripled": "herding"}, budgets, fold)
                + _records(VAL / f"jit_{x}", {"tripled": "default-jit"}, budgets, fold)
                + (_records(VAL / f"jit_{x}_herding", {"tripled": "herding-jit"}, budgets, fold)
                   if (VAL / f"jit_{x}_herding").is_dir() else []))
        yield label, x, runs, budgets


def below_random(runs: list[dict], budgets: tuple[float, ...], method: str) -> int:
    """How many of ``budgets`` have ``method`` - random's paired interval wholly below 0."""
    n = 0
    for b in budgets:
        c = paired_differences(runs, method=method, baseline="random").get("holdout", {}).get(b)
        n += bool(c and c["ci"] is not None and c["ci"][1] < 0)
    return n


def main() -> None:
    print("| cell | budget | random | default | default, jittered | herding, jittered | "
          + " | ".join(f"{a} - {b}" for a, b in PAIRS) + " |")
    print("|---|---|" + "---|" * (4 + len(PAIRS)))
    pooled: list[dict] = []
    fails = {"default-jit": 0, "default": 0}
    for label, x, runs, budgets in cell_runs():
        if runs is None:
            print(f"| {label} | (no records yet) |")
            continue
        _rows(label, runs, budgets)
        for m in fails:
            fails[m] += below_random(runs, budgets, m)
        if x.startswith("d"):
            pooled += runs
    if pooled:
        _rows("(d) pooled over its four folds", pooled, BUDGETS["d"])
    print()
    for m, n in fails.items():
        print(f"cells where {m} - random lies wholly below 0: {n}")


if __name__ == "__main__":
    if sys.argv[1:] == ["collect"]:
        collect()
    elif sys.argv[1:]:
        sys.exit(f"usage: paired_jitter.py [collect]; got {' '.join(sys.argv[1:])}")
    main()
