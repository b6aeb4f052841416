"""bench/quality_margins.py: TripleD minus random per budget, spread and verdict from a summary."""
from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "bench" / "quality_margins.py"


def _load():
    spec = importlib.util.spec_from_file_location("tf_quality_margins", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def cell(psnr: float, std: float, n: int = 2) -> dict:
    return {"psnr": psnr, "psnr_std": std, "n": n}


def test_margins_spread_and_verdicts() -> None:
    m = _load()
    cells = {"Set5": {"random": {"0.005": cell(27.0, 0.05), "0.01": cell(27.2, 0.01), "0.02": cell(27.3, 0.2, 4)},
                      "tripled": {"0.005": cell(27.2, 0.10), "0.01": cell(27.1, 0.02), "0.02": cell(27.4, 0.1, 4)}}}
    old = {"Set5": {"tripled-select": {"0.005": cell(26.9, 0.0)}}}
    lines = m.margins_table(cells, previous=old, previous_method="tripled-select").splitlines()
    assert lines[2] == "| Set5 | 0.5 % | +0.20 | 0.10 | 2 / 2 | yes | 27.20 / 26.90 |"
    assert lines[3] == "| Set5 | 1 % | -0.10 | 0.02 | 2 / 2 | no (below random) | 27.10 / not run |"
    # a margin inside the larger of the two stds is not beyond it
    assert lines[4] == "| Set5 | 2 % | +0.10 | 0.20 | 4 / 4 | no | 27.40 / not run |"
    assert len(lines) == 5 and "previous" not in m.margins_table(cells).splitlines()[0]
