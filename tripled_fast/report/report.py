"""``report.md`` + ``summary.json`` for a run: the summary table, stage facts and the plots."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import manifest as mf
from ..config import RunConfig
from ..runfiles import RunDir, atomic_write_json, atomic_write_text
from . import plots


def summary_rows(run: RunDir, evals: dict) -> list[dict]:
    """One row per model: training patches, share of the pool, PSNR/SSIM, difference to full data."""
    pool = run.record("tiles").info["patches"]
    models = evals.get("models", {})
    full = models.get("full", {}).get("psnr")
    rows = []
    for name, m in models.items():
        rec = run.record(f"train_{name}")
        if name == "input":
            n, secs = None, None
        elif name == "distilled":
            n, secs = run.record("select").info["budget"], rec.info["seconds"] if rec else None
        else:
            n, secs = (rec.info["patches"] if rec else None), (rec.info["seconds"] if rec else None)
        rows.append({
            "model": name if name != "input" else "input (no model)",
            "patches": n, "fraction": (n / pool) if n else None,
            "psnr": m["psnr"], "ssim": m["ssim"],
            "delta_full": (m["psnr"] - full) if (full is not None and name != "input") else None,
            "train_s": secs,
        })
    return rows


def format_table(rows: list[dict]) -> str:
    head = "| trained on | patches | % of pool | PSNR (dB) | SSIM | PSNR - full | train s |"
    sep = "|---|---:|---:|---:|---:|---:|---:|"
    lines = [head, sep]
    for r in rows:
        lines.append("| {model} | {n} | {f} | {p:.2f} | {s:.4f} | {d} | {t} |".format(
            model=r["model"], n=r["patches"] if r["patches"] is not None else "-",
            f=f"{100 * r['fraction']:.2f}" if r["fraction"] else "-", p=r["psnr"], s=r["ssim"],
            d=f"{r['delta_full']:+.2f}" if r["delta_full"] is not None else "-",
            t=f"{r['train_s']:.0f}" if r["train_s"] is not None else "-"))
    return "\n".join(lines)


def _skipped_pairs(run: RunDir) -> dict[str, list]:
    """The input pairs dropped as unusable (``skipped.json``, written by the sources step)."""
    p = run.path("skipped.json")
    return json.loads(p.read_text()) if p.exists() else {}


def write_report(run: RunDir, cfg: RunConfig, evals: dict, timings: dict) -> tuple[dict, Path]:
    table = mf.read_manifest(run.path("manifest.parquet"))
    stage = mf.column(table, "stage")
    selected = (stage == mf.STAGE_ONE) | (stage == mf.STAGE_TWO)
    random = mf.column(table, "in_random").astype(bool)
    complexity = mf.column(table, "complexity")
    feats = np.asarray(np.load(run.path("features.npy"), mmap_mode="r"), np.float32)
    figs = run.path("figures")
    plots.complexity_histogram(complexity, selected, random, figs / "complexity_hist.png")
    plots.feature_pca(feats, selected, figs / "feature_pca.png", seed=cfg.seed)
    hists = {}
    for name in ["distilled", *cfg.train.baselines]:
        p = run.path("models", f"{name}_history.json")
        if p.exists():
            hists[name] = json.loads(p.read_text())
    plots.training_curves(hists, figs / "training_curves.png")
    rows = summary_rows(run, evals)
    if rows:
        plots.psnr_bars({r["model"].split(" ")[0]: r["psnr"] for r in rows}, figs / "psnr.png")

    tiles, scan, sel = run.record("tiles").info, run.record("scan").info, run.record("select").info
    align = run.record("align").info
    scores = run.record("scores").info
    text_table = format_table(rows) if rows else "(no test pairs: no evaluation table)"
    tasks = sorted(set(mf.column(table, "task")))
    per_task = evals.get("per_task", {})
    task_lines = []
    if per_task and len(tasks) > 1:
        task_lines = ["| model | " + " | ".join(tasks) + " |", "|---|" + "---:|" * len(tasks)]
        for name, d in per_task.items():
            task_lines.append(f"| {name} | " + " | ".join(f"{d.get(t, float('nan')):.2f}" for t in tasks) + " |")
    md = [
        "# tripled-fast run report", "",
        f"Run directory: `{run.root}`  ",
        f"Pool: {tiles['patches']} patch pairs of {cfg.tiles.patch}px from {tiles['images']} images "
        f"({', '.join(tasks)}); test pairs: {evals.get('tests', 0)}  ",
        f"Budget: {sel['budget']} patches ({100 * sel['budget'] / tiles['patches']:.2f} % of the pool); "
        f"stage 1: {sel['stage1']}, stage 2: {sel['stage2_quota']} chosen by the stage-1 model's loss "
        f"from {sel['stage2_candidates']} candidates  ",
        f"Backbone: {scan['backbone_note']} Feature backend: {scan['feature_backend']} "
        f"(parity cosine {scan['parity']:.4f}); statistics backend: {scan['stats_backend']}  ",
        f"Feature head R^2 (validation) predicting low-level complexity: {scores['head_r2_val']:.3f}  ",
        (f"Alignment: Frechet feature distance subset-vs-full {align['fd_before']:.3f} -> {align['fd_after']:.3f}; "
         f"Gaussian KL {align['kl_before']:.3f} -> {align['kl_after']:.3f}" if align.get("enabled")
         else f"Alignment: disabled (align.enabled); subset-vs-full Frechet feature distance "
              f"{align.get('fd_before', float('nan')):.3f}"), "",
        f"## Test PSNR / SSIM ({cfg.train.arch}, {cfg.train.steps} steps each, same seed)", "",
        text_table, "",
        *(["### PSNR per task", "", *task_lines, ""] if task_lines else []),
        "## Stage times (s)", "",
        "| " + " | ".join(timings) + " |", "|" + "---:|" * len(timings),
        "| " + " | ".join(f"{v:.1f}" for v in timings.values()) + " |", "",
        "## Figures", "",
        "![complexity](figures/complexity_hist.png) ![pca](figures/feature_pca.png)",
        "![curves](figures/training_curves.png) ![psnr](figures/psnr.png)", "",
        "Outputs: `manifest.parquet` (per-patch source, coordinates, statistics, scores, cluster, stage), "
        "`features.npy`, `subset/` (BasicSR `gt/`, `lq/`, `meta_info.txt`), `models/*.safetensors`, `eval.json`.",
    ]
    skipped = _skipped_pairs(run)
    total_skipped = sum(len(v) for v in skipped.values())
    md += ["", f"## Skipped input pairs: {total_skipped}", ""]
    if total_skipped:
        md.append("Unusable pairs dropped under `data.on_bad_file: skip` (full list: `skipped.json`):")
        md.append("")
        flat = [f"- `{label}` {item}" for label, items in skipped.items() for item in items]
        md += flat[:20] + ([f"- ... {len(flat) - 20} more"] if len(flat) > 20 else [])
    path = run.path("report.md")
    atomic_write_text(path, "\n".join(md) + "\n")
    summary = {"skipped_pairs": total_skipped, "skipped_by_set": {k: len(v) for k, v in skipped.items()},"rows": rows, "table_text": text_table, "budget": sel["budget"], "pool": tiles["patches"],
               "fd_before": align.get("fd_before"), "fd_after": align.get("fd_after"),
               "backbone": scan["backbone"], "timings": timings}
    atomic_write_json(run.path("summary.json"), summary)
    return summary, path
