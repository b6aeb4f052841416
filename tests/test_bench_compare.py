"""Smoke test of bench/compare.py --quick: both paths run on synthetic data and agree."""
from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

COMPARE = Path(__file__).resolve().parents[1] / "bench" / "compare.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("tf_bench_compare", COMPARE)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tf_bench_compare"] = mod
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_quick_run_prints_ratios_and_agrees(compare, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    md = tmp_path / "table.md"
    assert compare.main(["--quick", "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    stages = ("decode", "stats", "features", "pipeline", "4K stream", "k-means", "k-center", "pool select")
    for stage in stages:
        assert re.search(rf"^{stage}\s", out, re.M), stage
    # every stage with a naive twin prints a speed ratio "<x.y>x"
    for stage in ("decode", "stats", "features", "pipeline", "k-means", "k-center"):
        line = next(l for l in out.splitlines() if l.startswith(stage))
        assert re.search(r"\s\d+\.\dx\s", line), line
    assert "max relative difference naive vs C++ over all tiles = 0.0e+00" in out
    assert re.search(r"min cosine naive vs ours = 0\.99\d+|min cosine naive vs ours = 1\.0+", out)
    assert "10/10 picks identical" in out
    assert "load average" in out and "logical cores" in out and "memory copy" in out
    text = md.read_text()
    assert text.count("\n| ") >= len(stages) and "ours/naive speed" in text


def test_naive_stats_match_the_reference() -> None:
    import numpy as np

    sys.path.insert(0, str(COMPARE.parent))
    from naive import naive_tile_stats

    from tripled_fast.scoring.stats import tile_stats_reference

    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (97, 130, 3), dtype=np.uint8)
    coords = np.array([[0, 0], [10, 33], [60, 100], [96, 129], [40, 7]])
    a, b = naive_tile_stats(img, coords, 40, 3), tile_stats_reference(img, coords, 40, 3)
    for k in b:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-3)
