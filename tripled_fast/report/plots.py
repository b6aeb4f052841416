"""PNG plots for the run report (matplotlib, Agg backend; each function writes one file atomically)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..runfiles import atomic_path


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def complexity_histogram(complexity: np.ndarray, selected: np.ndarray, random: np.ndarray, path: Path) -> Path:
    """Complexity distribution of the pool, the distilled subset and the random subset (densities)."""
    plt, fig, ax = _figure()
    bins = np.linspace(0, 1, 31)
    ax.hist(complexity, bins=bins, density=True, alpha=0.4, label=f"pool (n={len(complexity)})")
    ax.hist(complexity[selected], bins=bins, density=True, histtype="step", lw=2,
            label=f"distilled (n={int(selected.sum())})")
    ax.hist(complexity[random], bins=bins, density=True, histtype="step", lw=2, ls="--",
            label=f"random (n={int(random.sum())})")
    ax.set_xlabel("complexity (rank-normalised)")
    ax.set_ylabel("density")
    ax.legend()
    return _save(plt, fig, path)


def feature_pca(features: np.ndarray, selected: np.ndarray, path: Path, seed: int = 0, max_points: int = 5000) -> Path:
    """Pool vs distilled subset in the first two principal components of the pool's features."""
    x = np.asarray(features, np.float64)
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x[:: max(1, len(x) // 20000)] - mean, full_matrices=False)
    proj = (x - mean) @ vt[:2].T
    rng = np.random.default_rng(seed)
    show = rng.choice(len(x), min(max_points, len(x)), replace=False)
    plt, fig, ax = _figure()
    ax.scatter(proj[show, 0], proj[show, 1], s=3, alpha=0.3, c="0.6", label="pool")
    ax.scatter(proj[selected, 0], proj[selected, 1], s=12, c="C3", label="distilled subset")
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend()
    return _save(plt, fig, path)


def training_curves(histories: dict[str, list[dict]], path: Path) -> Path:
    """Training loss vs step for each model (moving average over 5 logged points)."""
    plt, fig, ax = _figure()
    for name, hist in histories.items():
        if not hist:
            continue
        steps = np.array([h["step"] for h in hist])
        loss = np.array([h["loss"] for h in hist], float)
        if len(loss) >= 5:
            loss = np.convolve(loss, np.ones(5) / 5, mode="same")
        ax.plot(steps, loss, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.legend()
    return _save(plt, fig, path)


def psnr_bars(psnr: dict[str, float], path: Path) -> Path:
    """Test PSNR per model at the same number of steps."""
    plt, fig, ax = _figure()
    names = list(psnr)
    vals = [psnr[n] for n in names]
    bars = ax.bar(names, vals, color=["0.6" if n == "input" else "C0" if n != "distilled" else "C3" for n in names])
    for b, v in zip(bars, vals):
        ax.text(b.get_x() + b.get_width() / 2, v, f"{v:.2f}", ha="center", va="bottom")
    lo = min(vals) - 1.0
    ax.set_ylim(lo, max(vals) + 0.5)
    ax.set_ylabel("test PSNR (dB)")
    return _save(plt, fig, path)
