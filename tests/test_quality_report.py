"""Aggregation of quality-harness runs: means, sample stds, differences to full data,
equal-quality budgets and the two targets, on hand-made runs with hand-checked numbers."""
from __future__ import annotations

import math

import pytest

from tripled_fast.quality.report import (equal_quality_budget, format_paired, format_table, paired_differences, plot_psnr,
                                         summarize, targets)


def _run(method: str, budget: float, seed: int, psnr: float, ssim: float = 0.8, count: int = 0) -> dict:
    return {"method": method, "budget": budget, "seed": seed, "count": count,
            "tests": {"T": {"psnr": psnr, "ssim": ssim}}}


RUNS = [
    _run("full", 1.0, 0, 30.0, count=1000), _run("full", 1.0, 1, 30.2, count=1000),
    _run("random", 0.01, 0, 29.0, count=10), _run("random", 0.01, 1, 29.2, count=10),
    _run("random", 0.02, 0, 30.0, count=20), _run("random", 0.02, 1, 30.1, count=20),
    _run("tripled", 0.01, 0, 30.0, count=10), _run("tripled", 0.01, 1, 30.05, count=10),
    _run("tripled", 0.02, 0, 30.3, count=20), _run("tripled", 0.02, 1, 30.3, count=20),
]


def test_summarize_means_stds_and_differences() -> None:
    s = summarize(RUNS)
    assert s["tests"] == ["T"]
    assert s["methods"] == ["full", "random", "tripled"]
    assert s["budgets"] == [0.01, 0.02]
    full = s["cells"]["T"]["full"][1.0]
    assert full["psnr"] == pytest.approx(30.1)
    assert full["psnr_std"] == pytest.approx(math.sqrt(0.02))  # sample std of (30.0, 30.2)
    assert full["count"] == 1000 and full["n"] == 2
    r1 = s["cells"]["T"]["random"][0.01]
    assert r1["psnr"] == pytest.approx(29.1)
    assert r1["diff_full"] == pytest.approx(-1.0)
    assert s["cells"]["T"]["tripled"][0.02]["psnr_std"] == 0.0
    assert s["cells"]["T"]["tripled"][0.02]["diff_full"] == pytest.approx(0.2)


def test_equal_quality_budget_and_targets() -> None:
    s = summarize(RUNS)
    assert equal_quality_budget(s, "random", "T", 0.1) == 0.02      # 30.05 >= 30.1 - 0.1; 29.1 is not
    assert equal_quality_budget(s, "tripled", "T", 0.1) == 0.01     # 30.025 >= 30.0
    assert equal_quality_budget(s, "tripled", "T", 0.05) == 0.02    # 30.025 < 30.05
    assert equal_quality_budget(s, "random", "T", 0.01) is None
    assert equal_quality_budget(s, "missing", "T", 0.1) is None
    t = targets(s, tol_db=0.1)["T"]
    assert t["eq_method"] == 0.01 and t["eq_baseline"] == 0.02
    assert t["eq_half"] is True                                      # 0.01 <= 0.5 * 0.02
    b1, b2 = t["small_budgets"]
    assert b1["margin"] == pytest.approx(30.025 - 29.1)
    assert b1["spread"] == pytest.approx(math.sqrt(0.02))            # random's std beats tripled's 0.0354
    assert b2["margin"] == pytest.approx(0.25)
    assert b2["spread"] == pytest.approx(math.sqrt(0.005))           # random (30.0, 30.1)
    assert b1["met"] and b2["met"] and t["small_budgets_met"]
    # a baseline that never reaches full quality: its budget is only known to exceed 2 %, so the
    # method's 2 % cannot be told to be at most half of it, while 1 % can
    t2 = targets(s, tol_db=0.04)["T"]
    assert t2["eq_baseline"] is None and t2["eq_method"] == 0.02 and t2["eq_half"] is None
    t3 = targets(summarize(RUNS + [_run("tripled", 0.01, 2, 30.4, count=10)]), tol_db=0.04)["T"]
    assert t3["eq_baseline"] is None and t3["eq_method"] == 0.01 and t3["eq_half"] is True
    # a method that never reaches it fails
    weak = [r for r in RUNS if not (r["method"] == "tripled" and r["budget"] == 0.02)]
    assert targets(summarize(weak), tol_db=0.04)["T"]["eq_half"] is False


def test_table_and_plot(tmp_path) -> None:
    s = summarize(RUNS + [_run("kcenter", 0.01, 0, 28.0)])
    table = format_table(s, 0.1)
    lines = table.splitlines()
    assert "| method | 1 % | 2 % | equal-quality budget (<= 0.1 dB) |" in lines
    assert "| random | 29.10 +- 0.14 / 0.8000 (-1.00) | 30.05 +- 0.07 / 0.8000 (-0.05) | 2 % |" in lines
    assert "| kcenter | 28.00 +- 0.00 / 0.8000 (-2.10) [1 seed] | not run | not reached |" in lines
    assert any(line.startswith("| full (1000 patches) | 30.10 +- 0.14") for line in lines)
    png = plot_psnr(s, tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_errors() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        summarize([])
    with pytest.raises(ValueError, match="tol_db"):
        equal_quality_budget(summarize(RUNS), "random", "T", -1.0)


def test_paired_differences_pair_by_seed() -> None:
    runs = RUNS + [_run("random", 0.01, 2, 29.5), _run("tripled", 0.01, 3, 31.0), _run("kcenter", 0.01, 0, 28.0)]
    p = paired_differences(runs)
    assert list(p) == ["T"] and list(p["T"]) == [0.01, 0.02]
    c = p["T"][0.01]                       # seeds 0, 1 only: random's seed 2 and tripled's 3 have no partner
    assert c["seeds"] == [0, 1] and c["n"] == 2 and c["wins"] == 2
    assert c["mean"] == pytest.approx(((30.0 - 29.0) + (30.05 - 29.2)) / 2)
    assert c["std"] == pytest.approx(math.sqrt(2) * 0.075)          # differences 1.0 and 0.85
    half = 12.706204736174698 * c["std"] / math.sqrt(2)             # t(0.975, 1 dof)
    assert c["ci"] == pytest.approx([0.925 - half, 0.925 + half])
    assert all(type(v) is float for v in c["ci"])                  # plain floats for summary.json
    c2 = p["T"][0.02]                      # differences 0.3 and 0.2
    assert c2["mean"] == pytest.approx(0.25) and c2["wins"] == 2
    # a 90 % interval is narrower; one common seed has no spread and no interval
    assert paired_differences(runs, level=0.9)["T"][0.01]["ci"][1] < c["ci"][1]
    one = paired_differences([_run("random", 0.01, 0, 29.0), _run("tripled", 0.01, 0, 28.5)])["T"][0.01]
    assert one == {"n": 1, "mean": pytest.approx(-0.5), "std": 0.0, "ci": None, "level": 0.95, "wins": 0, "seeds": [0]}
    assert paired_differences(runs, method="kcenter")["T"][0.01]["mean"] == pytest.approx(-1.0)
    lines = format_paired(p).splitlines()
    assert lines[0].startswith("**tripled - random, paired by seed**")
    assert "| T | 2 % | 2 | +0.25 +- 0.07 | [-0.39, +0.89] | 2/2 |" in lines
    assert format_paired({}) == ""
    assert "90 % Student-t interval" in format_paired(paired_differences(runs, level=0.9))


def test_paired_differences_errors() -> None:
    with pytest.raises(ValueError, match="level"):
        paired_differences(RUNS, level=1.0)
    with pytest.raises(ValueError, match="both 'random'"):
        paired_differences(RUNS, method="random")
    with pytest.raises(ValueError, match="two random runs at budget 0.01 seed 0"):
        paired_differences(RUNS + [_run("random", 0.01, 0, 29.9)])
