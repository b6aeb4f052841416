"""tripled-fast: distil paired image-restoration datasets (TripleD) and restoration models (SLKD).

Library use (the same functions the command line calls)::

    from tripled_fast import RunConfig, distill, DistilledDataset
    cfg = RunConfig.from_dict({"run_dir": "runs/rain", "data": {"sources": [
        {"kind": "paired", "gt": "Rain13K/target", "lq": "Rain13K/input", "task": "derain"}]},
        "select": {"budget": 0.02}})
    result = distill(cfg)                       # tiles -> ... -> report, cached and resumable
    ds = DistilledDataset(result.run_dir)       # BasicSR-style {"lq", "gt"} samples of the subset

Names are resolved on first use, so ``import tripled_fast`` stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunConfig": "tripled_fast.config",
    "load_config": "tripled_fast.config",
    "distill": "tripled_fast.pipeline",
    "RunResult": "tripled_fast.pipeline",
    "collect_pairs": "tripled_fast.data.sources",
    "load_pair": "tripled_fast.data.sources",
    "tile_grid": "tripled_fast.data.tiles",
    "tile_stats": "tripled_fast.scoring.stats",
    "load_backbone": "tripled_fast.features.backbones",
    "embed_patches": "tripled_fast.features.extract",
    "kmeans": "tripled_fast.select.cluster",
    "kcenter_greedy": "tripled_fast.select.kcenter",
    "select_subset": "tripled_fast.select.budget",
    "align_subset": "tripled_fast.align.aligner",
    "build_model": "tripled_fast.train.archs",
    "train_model": "tripled_fast.train.loop",
    "DistilledDataset": "tripled_fast.train.dataset",
    "CurriculumSampler": "tripled_fast.train.dataset",
    "calculate_psnr": "tripled_fast.metrics.psnr_ssim",
    "calculate_ssim": "tripled_fast.metrics.psnr_ssim",
    "evaluate_pairs": "tripled_fast.metrics.evaluate",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'tripled_fast' has no attribute {name!r}")
