"""A candidate selection setting against the default and random on the four validation splits.

Candidates: ``strata`` (select.quotas=strata, run_strata_val.sh, sixteenth session) and
``herding`` (select.coverage=herding, run_herding_val.sh, seventeenth session), both 2026-12-07.
Reads, per split, a folder ``validation/strata_<x>/`` with the random and default TripleD runs
and ``strata_<x>_<candidate>/`` with the candidate's TripleD runs, all of one machine. Prints,
per cell, the paired-by-seed differences candidate - default, default - random and candidate -
random, through tripled_fast.quality.report.paired_differences, and then the adoption rule
written in the run script before the runs, condition by condition. The three PSNR columns are
means over the seeds all three selections ran.
``collect`` first sorts the run folders (``runs/val/strata_<x>``, where the random, default and
candidate runs share one folder) into those folders by their run keys.
usage: python bench/quality_results/validation/commands/paired_strata.py [strata|herding] [collect]
"""
from __future__ import annotations

import glob
import json
import shutil
import sys
from pathlib import Path

import numpy as np

import yaml

from tripled_fast.quality.harness import QualityConfig, read_report_config, run_key
from tripled_fast.quality.report import paired_differences

VAL = Path(__file__).resolve().parents[1]  # bench/quality_results/validation
SPLITS = [  # (split, cell label, folder suffix); (d)'s four folds form one split
    ("(a)", "(a) Train400 holdout, 800 steps", "a"),
    ("(c)", "(c) BSD100 holdout, 400 steps", "c"),
    ("(d)", "(d) RealSR fold f0", "d0"), ("(d)", "(d) RealSR fold f1", "d1"),
    ("(d)", "(d) RealSR fold f2", "d2"), ("(d)", "(d) RealSR fold f3", "d3"),
    ("(b)", "(b) Urban100 holdout, NAFNet, 400 steps", "b"),
]
#: candidate -> the select setting it changes
CANDIDATES = {"strata": {"quotas": "strata"}, "herding": {"coverage": "herding"}}


def collect_folder(cand: str, src: Path, base: Path, mine: Path) -> None:
    """Copy each run record of the run folder ``src`` into ``base`` (random and the default
    TripleD) or ``mine`` (TripleD under the candidate's setting), matched by the run key each
    selection gives it; also write each folder's config.yaml."""
    default = {"quotas": "tasks", "coverage": "kcenter"}
    raw = read_report_config(src).to_dict()
    for setting, dst in ((default, base), ({**default, **CANDIDATES[cand]}, mine)):
        cfg = QualityConfig.from_dict({**raw, "select": {**raw["select"], **setting}})
        methods = ("random", "tripled") if setting == default else ("tripled",)
        n = 0
        (dst / "runs").mkdir(parents=True, exist_ok=True)
        for f in sorted((src / "runs").glob("*.json")):
            r = json.loads(f.read_text())
            if r["method"] in methods and f.stem.endswith(run_key(cfg, r["method"], r["budget"], r["seed"])):
                shutil.copyfile(f, dst / "runs" / f.name)
                n += 1
        (dst / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        print(f"{src} -> {dst.name}: {n} runs")


def collect(cand: str, runs_root: Path = Path("runs/val")) -> None:
    """:func:`collect_folder` for every split's ``runs_root/strata_<x>`` into ``VAL/strata_<x>``
    and ``VAL/strata_<x>_<cand>``."""
    for _, _, x in SPLITS:
        src = runs_root / f"strata_{x}"
        if (src / "config.yaml").is_file():
            collect_folder(cand, src, VAL / f"strata_{x}", VAL / f"strata_{x}_{cand}")


def _records(folder: Path, rename: dict[str, str]) -> list[dict]:
    out = []
    for f in sorted(glob.glob(str(folder / "runs" / "*.json"))):
        r = json.loads(Path(f).read_text())
        if r["method"] in rename:
            out.append({**r, "method": rename[r["method"]]})
    return out


def _cell(c: dict) -> str:
    if c["ci"] is None:
        return f"{c['mean']:+.2f} (1 seed)"
    lo, hi = c["ci"]
    return f"{c['mean']:+.2f} +- {c['std']:.2f} [{lo:+.3f}, {hi:+.3f}] {c['wins']}/{c['n']}"


def main(cand: str) -> None:
    pairs = [(cand, "default"), ("default", "random"), (cand, "random")]
    print(f"| split | budget | seeds | random | default | {cand} | {cand} - default | default - random | {cand} - random |")
    print("|---|---|---|---|---|---|---|---|---|")
    per_split: dict[str, list[float]] = {}
    below = above = blocked = 0
    for split, label, x in SPLITS:
        base, mine = VAL / f"strata_{x}", VAL / f"strata_{x}_{cand}"
        if not base.is_dir() or not mine.is_dir():
            print(f"| {label} | (no records yet) |")
            continue
        runs = _records(base, {"random": "random", "tripled": "default"}) + _records(mine, {"tripled": cand})
        paired = {p: paired_differences(runs, method=p[0], baseline=p[1]) for p in pairs}
        cells = paired[pairs[0]].get("holdout", {})
        for b in sorted(cells):
            at = [r for r in runs if float(r["budget"]) == b]
            common = set.intersection(*({int(r["seed"]) for r in at if r["method"] == m}
                                        for m in ("random", "default", cand)))
            means = {m: np.mean([float(r["tests"]["holdout"]["psnr"]) for r in at
                                 if r["method"] == m and int(r["seed"]) in common]) for m in ("random", "default", cand)}
            row = [paired[p]["holdout"][b] for p in pairs]
            print(f"| {label} | {100 * b:g} % | {row[0]['n']} | {means['random']:.2f} | {means['default']:.2f} "
                  f"| {means[cand]:.2f} | " + " | ".join(_cell(c) for c in row) + " |")
            sd, dr, sr = row
            per_split.setdefault(split, []).append(sd["mean"])
            if sd["ci"] is not None:
                below += sd["ci"][1] < 0
                above += sd["ci"][0] > 0
            if sr["ci"] is not None and sr["ci"][1] < 0 and not (dr["ci"] is not None and dr["ci"][1] < 0):
                blocked += 1
    if not per_split:
        return
    split_means = {s: float(np.mean(v)) for s, v in per_split.items()}
    overall = float(np.mean(list(split_means.values())))
    print()
    print(f"per-split mean {cand} - default: " + ", ".join(f"{s} {m:+.3f}" for s, m in split_means.items())
          + f"; mean over splits {overall:+.3f}")
    print(f"rule 1 (no cell's {cand} - default interval wholly below 0): {'holds' if below == 0 else f'fails ({below})'}")
    print(f"rule 2 (mean over the splits above 0): {'holds' if overall > 0 else 'fails'}")
    print(f"rule 3 (some cell's {cand} - default interval wholly above 0): {'holds' if above else 'fails'} ({above})")
    print(f"random guard ({cand} below random where the default is not): {'holds' if blocked == 0 else f'fails ({blocked})'}")
    done = len(split_means) == 4
    adopt = done and below == 0 and overall > 0 and above > 0 and blocked == 0
    print(f"adopt: {'yes' if adopt else 'no'}" + ("" if done else " (not all four splits have records)"))


if __name__ == "__main__":
    args = sys.argv[1:]
    candidate = args.pop(0) if args and args[0] in CANDIDATES else "strata"
    if args == ["collect"]:
        collect(candidate)
    elif args:
        sys.exit(f"usage: paired_strata.py [{'|'.join(CANDIDATES)}] [collect]; got {' '.join(sys.argv[1:])}")
    main(candidate)
