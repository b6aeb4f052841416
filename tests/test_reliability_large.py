"""A 60-megapixel image: decoded, verified, hashed and tiled with bounded memory (peak RSS of a
child process asserted)."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SIDE = 7746  # 7746^2 = 60.0 megapixels

_CHILD = """
import json, resource, sys, time
from tripled_fast.config import RunConfig
from tripled_fast.pipeline import collect_sources, tiles_stage
from tripled_fast.runfiles import FileMemo, RunDir
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cfg = RunConfig.from_dict({"run_dir": sys.argv[2], "tiles": {"patch": 512, "stride": 512},
                           "data": {"holdout": 0, "sources": [{"kind": "degrade", "gt": sys.argv[1],
                                                               "degrade": "noise:sigma=5"}]}})
run = RunDir(cfg.run_dir)
memo = FileMemo(run.path("cache", "files.json"))
t = time.perf_counter()
pool, _ = collect_sources(cfg, lambda m: None, memo)
tiles_stage(run, cfg, pool, lambda m: None, memo)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"base_kb": base, "peak_kb": peak, "s": time.perf_counter() - t,
                  "patches": run.record("tiles").info["patches"]}))
"""


def test_60_megapixel_image_memory_is_bounded(tmp_path):
    data = tmp_path / "big"
    data.mkdir()
    Image.linear_gradient("L").resize((SIDE, SIDE), Image.NEAREST).save(data / "big.png", compress_level=1)
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-c", _CHILD, str(data), str(tmp_path / "run")], capture_output=True,
                         text=True, timeout=300, cwd=str(ROOT), env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["patches"] == (SIDE // 512 + 1) ** 2           # grid plus the edge-snapped row / column
    image_mb = SIDE * SIDE / 2**20                             # 57 MiB of 8-bit gray pixels
    grown_mb = (out["peak_kb"] - out["base_kb"]) / 1024
    assert grown_mb < 5 * image_mb, (grown_mb, image_mb)  # Pillow buffer + array (+ transients), measured ~3.9x
    assert time.perf_counter() - t0 < 120
