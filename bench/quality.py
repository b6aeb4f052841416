"""Data-efficiency benchmark: ``python bench/quality.py ...`` == ``tripled-fast bench-quality ...``.

See bench/QUALITY.md for the commands per task and the measured tables.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tripled_fast.quality.harness import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
