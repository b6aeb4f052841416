"""TripleD minus random at every budget of a bench-quality report folder, as a Markdown table.

    python bench/quality_margins.py bench/quality_results/sr4_tasks [--previous bench/quality_results/sr4]

For every test set and budget: the difference of mean PSNR (dB) ``method - random``, the spread
(the larger of the two sample stds over seeds, as in the issue's target), the seed counts, and
``beyond`` when the margin exceeds the spread. ``--previous`` adds the mean of the same method (or
``--previous-method``) from an older folder, e.g. the previous default, beside the new one. Reads ``summary.json`` only.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def _cells(folder: Path) -> dict:
    path = folder / "summary.json"
    try:
        return json.loads(path.read_text())["summary"]["cells"]
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"{path}: expected a bench-quality summary.json ({exc})") from exc


def margins_table(cells: dict, method: str = "tripled", previous: dict | None = None,
                  previous_method: str | None = None) -> str:
    """Markdown rows ``test | budget | method - random | spread | seeds | verdict [| previous]``."""
    head = "| test | budget | " + method + " - random (dB) | spread | seeds (method / random) | beyond the spread |"
    sep = "|---|---|---|---|---|---|"
    if previous is not None:
        head += " " + method + " now / previous (dB) |"
        sep += "---|"
    rows = [head, sep]
    for test in sorted(cells):
        mine, rand = cells[test].get(method, {}), cells[test].get("random", {})
        for b in sorted(set(mine) & set(rand), key=float):
            m, r = mine[b], rand[b]
            margin = m["psnr"] - r["psnr"]
            spread = max(m["psnr_std"], r["psnr_std"])
            verdict = "yes" if margin > spread else ("no" if round(margin, 2) >= 0 else "no (below random)")
            row = (f"| {test} | {100 * float(b):g} % | {margin:+.2f} | {spread:.2f} | {m['n']} / {r['n']} | "
                   f"{verdict} |")
            if previous is not None:
                old = previous.get(test, {}).get(previous_method or method, {}).get(b)
                row += f" {m['psnr']:.2f} / {old['psnr']:.2f} |" if old else f" {m['psnr']:.2f} / not run |"
            rows.append(row)
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--method", default="tripled")
    p.add_argument("--previous", type=Path, help="an older report folder to compare the method's means with")
    p.add_argument("--previous-method", help="the method to read there (default: --method)")
    a = p.parse_args()
    prev = _cells(a.previous) if a.previous else None
    print(margins_table(_cells(a.folder), a.method, prev, a.previous_method))


if __name__ == "__main__":
    main()
