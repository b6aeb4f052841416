"""Aggregation of quality-harness runs: mean +- std tables, equal-quality budgets, the plot.

A *run* is one trained model: ``{"method", "budget", "count", "seed", "tests": {test: {"psnr",
"ssim"}}, ...}``; ``budget`` is the fraction of the pool (1.0 for ``full``). Everything here is
a pure function of the list of runs, so a report can be rebuilt from ``runs.json`` alone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import numpy as np

FULL = "full"


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Group runs by ``(test, method, budget)``.

    Returns ``{"tests": [...], "methods": [...], "budgets": [...], "cells": {test: {method:
    {budget: {"psnr", "psnr_std", "ssim", "ssim_std", "n", "count", "diff_full"}}}}}`` where
    ``diff_full`` is the cell's mean PSNR minus the ``full`` method's mean PSNR on the same test
    (None when no ``full`` run exists). ``budgets`` excludes the full run's 1.0; methods keep
    their first-seen order.
    """
    if not runs:
        raise ValueError("summarize: expected at least one run, got none")
    tests: list[str] = []
    methods: list[str] = []
    groups: dict[tuple[str, str, float], dict[str, list[float]]] = {}
    counts: dict[tuple[str, float], int] = {}
    for r in runs:
        m, b = str(r["method"]), float(r["budget"])
        if m not in methods:
            methods.append(m)
        counts[(m, b)] = int(r.get("count", 0))
        for t, res in r["tests"].items():
            if t not in tests:
                tests.append(t)
            g = groups.setdefault((t, m, b), {"psnr": [], "ssim": []})
            g["psnr"].append(float(res["psnr"]))
            g["ssim"].append(float(res["ssim"]))
    budgets = sorted({b for (_, m, b) in groups if m != FULL})
    cells: dict[str, dict[str, dict[float, dict[str, Any]]]] = {}
    for t in tests:
        full = groups.get((t, FULL, 1.0))
        full_psnr = _mean_std(full["psnr"])[0] if full else None
        cells[t] = {}
        for (tt, m, b), g in groups.items():
            if tt != t:
                continue
            p, ps = _mean_std(g["psnr"])
            s, ss = _mean_std(g["ssim"])
            cells[t].setdefault(m, {})[b] = {
                "psnr": p, "psnr_std": ps, "ssim": s, "ssim_std": ss, "n": len(g["psnr"]),
                "count": counts[(m, b)], "diff_full": None if full_psnr is None else p - full_psnr,
            }
    return {"tests": tests, "methods": methods, "budgets": budgets, "cells": cells}


def equal_quality_budget(summary: dict[str, Any], method: str, test: str, tol_db: float = 0.1) -> Optional[float]:
    """Smallest measured budget whose mean PSNR is at least ``full - tol_db`` (None if none is).

    Only budgets measured for ``method`` on ``test`` count; without a ``full`` cell it is None.
    """
    if tol_db < 0:
        raise ValueError(f"tol_db: expected a non-negative tolerance in dB, got {tol_db}")
    cells = summary["cells"].get(test, {})
    if FULL not in cells or method not in cells:
        return None
    ok = [b for b, c in cells[method].items() if c["diff_full"] is not None and c["diff_full"] >= -tol_db - 1e-12]
    return min(ok) if ok else None


def _fmt_budget(b: float) -> str:
    return f"{100 * b:g} %"


def format_table(summary: dict[str, Any], tol_db: float = 0.1) -> str:
    """Markdown: per test, one row per method, one column per budget with
    ``PSNR +- std / SSIM (diff to full)``, then the equal-quality budget column."""
    lines: list[str] = []
    budgets = summary["budgets"]
    for t in summary["tests"]:
        cells = summary["cells"][t]
        lines.append(f"**{t}** (PSNR dB mean +- sample std over seeds / SSIM; in brackets the PSNR difference to "
                     "full data; [1 seed]: a single run, no spread)")
        lines.append("")
        lines.append("| method | " + " | ".join(_fmt_budget(b) for b in budgets) + f" | equal-quality budget (<= {tol_db:g} dB) |")
        lines.append("|---" * (len(budgets) + 2) + "|")
        if FULL in cells:
            c = cells[FULL][1.0]
            lines.append(f"| full ({c['count']} patches) | " + " | ".join(
                f"{c['psnr']:.2f} +- {c['psnr_std']:.2f} / {c['ssim']:.4f}" if i == 0 else "" for i in range(len(budgets))
            ) + " | 100 % |")
        for m in summary["methods"]:
            if m == FULL or m not in cells:
                continue
            row = []
            for b in budgets:
                c = cells[m].get(b)
                if c is None:
                    row.append("not run")
                    continue
                d = "" if c["diff_full"] is None else f" ({c['diff_full']:+.2f})"
                one = " [1 seed]" if c["n"] == 1 else ""
                row.append(f"{c['psnr']:.2f} +- {c['psnr_std']:.2f} / {c['ssim']:.4f}{d}{one}")
            eq = equal_quality_budget(summary, m, t, tol_db)
            lines.append(f"| {m} | " + " | ".join(row) + f" | {'not reached' if eq is None else _fmt_budget(eq)} |")
        lines.append("")
    return "\n".join(lines)


def targets(summary: dict[str, Any], method: str = "tripled", baseline: str = "random",
            tol_db: float = 0.1) -> dict[str, dict[str, Any]]:
    """The issue's two targets per test.

    ``eq_half``: the method's equal-quality budget is at most half of the baseline's: True /
    False, or None when it cannot be told - the baseline never reaches full quality within its
    measured budgets, so its equal-quality budget is only known to exceed the largest of them,
    and the method's is more than half of that. A method that never reaches it fails.
    ``small_budgets``: at the two smallest budgets the method's mean PSNR exceeds the baseline's
    by more than the larger of the two seed standard deviations.
    """
    out: dict[str, dict[str, Any]] = {}
    for t in summary["tests"]:
        cells = summary["cells"][t]
        if method not in cells or baseline not in cells:
            continue
        eq_m = equal_quality_budget(summary, method, t, tol_db)
        eq_b = equal_quality_budget(summary, baseline, t, tol_db)
        if eq_m is None:
            eq_half: bool | None = False
        elif eq_b is not None:
            eq_half = eq_m <= 0.5 * eq_b + 1e-12
        else:  # the baseline's budget exceeds its largest measured one
            eq_half = True if eq_m <= 0.5 * max(cells[baseline]) + 1e-12 else None
        small = []
        for b in sorted(set(cells[method]) & set(cells[baseline]))[:2]:
            cm, cb = cells[method][b], cells[baseline][b]
            margin = cm["psnr"] - cb["psnr"]
            spread = max(cm["psnr_std"], cb["psnr_std"])
            small.append({"budget": b, "margin": margin, "spread": spread, "met": margin > spread})
        out[t] = {"eq_method": eq_m, "eq_baseline": eq_b, "eq_half": eq_half, "small_budgets": small,
                  "small_budgets_met": bool(small) and all(s["met"] for s in small)}
    return out


def paired_differences(runs: list[dict[str, Any]], method: str = "tripled", baseline: str = "random",
                       level: float = 0.95) -> dict[str, dict[float, dict[str, Any]]]:
    """Method minus baseline PSNR, paired by seed, per test and budget.

    The harness draws a run's initial network and its batch sampling from the run's seed, so
    the two runs of one seed start from the same network and differ in their training subset
    (and in what the method does with it); the paired difference removes the part of the seed
    spread that both share. This is a supplement to :func:`targets` (whose second target
    compares the plain difference of means with the larger seed std), not a replacement.

    Args:
        runs: harness run records (``method``, ``budget``, ``seed``, ``tests``).
        method, baseline: the two methods compared.
        level: two-sided confidence level of the interval, in (0, 1).

    Returns:
        ``{test: {budget: {"n", "mean", "std", "ci", "level", "wins", "seeds"}}}`` over the budgets where
        both methods have runs of at least one common seed: ``n`` common seeds, ``mean`` and
        sample ``std`` (ddof=1; 0.0 for one seed) of the differences, ``ci`` the Student-t
        interval ``[lo, hi]`` of the mean at ``level`` (None for one seed), ``wins`` the number of seeds
        where the method is higher. A seed run by only one of the two is left out.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"paired_differences: level expected a probability in (0, 1), got {level}")
    if method == baseline:
        raise ValueError(f"paired_differences: method and baseline are both {method!r}; expected two methods")
    from scipy.stats import t as student_t

    by: dict[tuple[str, str, float], dict[int, float]] = {}
    for r in runs:
        m = str(r["method"])
        if m not in (method, baseline):
            continue
        for test, res in r["tests"].items():
            cell = by.setdefault((test, m, float(r["budget"])), {})
            seed = int(r["seed"])
            if seed in cell:
                raise ValueError(f"paired_differences: two {m} runs at budget {r['budget']} seed {seed} on {test}")
            cell[seed] = float(res["psnr"])
    out: dict[str, dict[float, dict[str, Any]]] = {}
    for (test, m, b), mine in by.items():
        if m != method or (test, baseline, b) not in by:
            continue
        other = by[(test, baseline, b)]
        seeds = sorted(set(mine) & set(other))
        if not seeds:
            continue
        d = np.array([mine[s] - other[s] for s in seeds], dtype=np.float64)
        mean, std = _mean_std(list(d))
        ci = None
        if d.size > 1:
            half = float(student_t.ppf(0.5 + level / 2, d.size - 1)) * std / np.sqrt(d.size)
            ci = [float(mean - half), float(mean + half)]
        out.setdefault(test, {})[b] = {"n": int(d.size), "mean": mean, "std": std, "ci": ci, "level": level,
                                       "wins": int((d > 0).sum()), "seeds": seeds}
    return {t: dict(sorted(cells.items())) for t, cells in out.items()}


def format_paired(paired: dict[str, dict[float, dict[str, Any]]], method: str = "tripled",
                  baseline: str = "random") -> str:
    """Markdown: one row per test and budget of :func:`paired_differences`'s output with the
    paired difference, its interval (at the level it was computed with) and the wins."""
    if not paired:
        return ""
    level = next(c["level"] for cells in paired.values() for c in cells.values())
    pct = f"{100 * level:g} %"
    lines = [f"**{method} - {baseline}, paired by seed** (PSNR dB: mean +- sample std of the per-seed "
             f"differences, {pct} Student-t interval of the mean, seeds where {method} is higher)", "",
             f"| test | budget | seeds | difference | {pct} interval | higher |", "|---|---|---|---|---|---|"]
    for test, cells in paired.items():
        for b, c in cells.items():
            ci = "-" if c["ci"] is None else f"[{c['ci'][0]:+.2f}, {c['ci'][1]:+.2f}]"
            lines.append(f"| {test} | {_fmt_budget(b)} | {c['n']} | {c['mean']:+.2f} +- {c['std']:.2f} | {ci} "
                         f"| {c['wins']}/{c['n']} |")
    lines.append("")
    return "\n".join(lines)


def plot_psnr(summary: dict[str, Any], path: str | Path) -> Path:
    """PSNR vs budget (log x) per method, one panel per test; full data as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tests = summary["tests"]
    fig, axes = plt.subplots(1, len(tests), figsize=(5.5 * len(tests), 4.2), squeeze=False)
    for ax, t in zip(axes[0], tests):
        cells = summary["cells"][t]
        for m in summary["methods"]:
            if m == FULL or m not in cells:
                continue
            bs = sorted(cells[m])
            ax.errorbar([100 * b for b in bs], [cells[m][b]["psnr"] for b in bs],
                        yerr=[cells[m][b]["psnr_std"] for b in bs], marker="o", capsize=3, label=m)
        if FULL in cells:
            c = cells[FULL][1.0]
            ax.axhline(c["psnr"], color="k", ls="--", lw=1, label="full data")
            ax.axhspan(c["psnr"] - 0.1, c["psnr"], color="k", alpha=0.07)
        ax.set_xscale("log")
        ax.set_xlabel("budget (% of pool patches)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(t)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
