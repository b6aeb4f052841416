"""The whole TripleD run, top-down.

``distill(cfg)`` reads like the recipe: each step below is one stage that reads what earlier
stages left in the run directory (the manifest, the feature array, the packs) and adds its own
output. Every stage is cached by a fingerprint of its inputs, so a rerun with the same inputs
skips finished stages, and a changed setting recomputes only what depends on it. A stage drops
its record before writing (``run.invalidate``), so a killed stage is always recomputed; the
``fault_point`` calls are the test hooks of docs/RELIABILITY.md (no-ops unless asked for).
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import yaml

from . import manifest as mf
from .config import RunConfig
from .data import sources as src
from .data.decode import decode_image, probe_image, resolve_decoder
from .data.stream import prefetch_images
from .data.tiles import tile_grid
from .errors import DataError
from .runfiles import (CODE_VERSION, FileMemo, RunDir, RunLock, atomic_path, atomic_write_json, atomic_write_text,
                       content_fingerprint, fault_point, fingerprint)

Log = Callable[[str], None]


@dataclass
class RunResult:
    run_dir: Path
    summary: dict
    report: Path
    timings: dict = field(default_factory=dict)


# ============================================================================ the recipe
def distill(cfg: RunConfig, *, progress: bool = True, log: Log = print) -> RunResult:
    """Distil ``cfg.data`` into a subset of ``cfg.select.budget``, train on it and report."""
    run = RunDir(cfg.run_dir)
    run.root.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with RunLock(run.root):
        stale = run.sweep_temporaries()  # left by a killed run; we hold the lock, so no writer owns them
        if stale:
            log(f"removed {len(stale)} temporary file(s) left by an interrupted run")
        atomic_write_text(run.path("config.yaml"), yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        device = _resolve_device(cfg.train.device)
        memo = FileMemo(run.path("cache", "files.json"))
        skipped: dict[str, list[str]] = {}
        pool, tests = collect_sources(cfg, log, memo, skipped)
        atomic_write_json(run.path("skipped.json"), skipped)  # shown in the report and summary

        with _timed(timings, "tiles"):
            key = tiles_stage(run, cfg, pool, log, memo)
        with _timed(timings, "scan"):
            key = scan_stage(run, cfg, pool, key, device, progress, log)
        with _timed(timings, "cluster"):
            key = cluster_stage(run, cfg, key, log)
        with _timed(timings, "scores"):
            key = score_stage(run, cfg, key, log)
        with _timed(timings, "select"):
            key = select_stage(run, cfg, key, log)
        with _timed(timings, "pack"):
            key = pack_stage(run, cfg, pool, key, progress, log)
        with _timed(timings, "align"):
            key = align_stage(run, cfg, key, device, progress, log)
        with _timed(timings, "train"):
            train_keys = train_stage(run, cfg, key, device, progress, log)
        with _timed(timings, "evaluate"):
            evals = evaluate_stage(run, cfg, tests, train_keys, device, progress, log, memo)
        with _timed(timings, "export"):
            export_stage(run, cfg, train_keys, log)
        with _timed(timings, "report"):
            summary, report = report_stage(run, cfg, evals, timings, log)
    return RunResult(run.root, summary, report, timings)


# ============================================================================ sources
def collect_sources(cfg: RunConfig, log: Log, memo: FileMemo | None = None,
                    skipped: dict[str, list[str]] | None = None
                    ) -> tuple[list[src.ImagePair], list[src.ImagePair]]:
    """The training pool and the test pairs (held out from the pool when no test set is given).

    Every file is decoded once (memoised in ``memo``); unusable pairs stop the run or are skipped
    with one log line each, as ``cfg.data.on_bad_file`` says (see :func:`_usable_pairs`);
    ``skipped`` receives ``{"data.sources" | "data.test": ["path: reason", ...]}``.
    """
    skipped = skipped if skipped is not None else {}
    if not cfg.data.sources:
        raise DataError("no data sources: give a dataset folder or a config with data.sources")
    pool = _usable_pairs(cfg, cfg.data.sources, "data.sources", log, memo, skipped)
    scales = sorted({p.scale for p in pool})
    if len(scales) > 1:
        raise DataError(f"all sources of one run must share a scale; got scales {scales}")
    if cfg.data.test:
        tests = _usable_pairs(cfg, cfg.data.test, "data.test", log, memo, skipped)
    elif cfg.data.holdout > 0:
        pool, tests = src.split_holdout(pool, cfg.data.holdout, cfg.seed)
        log(f"held out {len(tests)} of {len(pool) + len(tests)} pool images for evaluation "
            f"(data.holdout={cfg.data.holdout})")
    else:
        tests = []
    if not pool:
        raise DataError("the training pool is empty after holding out test images")
    return pool, tests


def _usable_pairs(cfg: RunConfig, sources: list, label: str, log: Log, memo: FileMemo | None,
                  skipped_out: dict[str, list[str]]) -> list[src.ImagePair]:
    """The pairs of ``sources`` whose files all decode and agree in size (``data.on_bad_file``).

    Skipped pairs are logged one line each and listed in ``skipped_out[label]``; more than
    ``data.max_bad_fraction`` of them stops the run (a misconfigured source, not a few bad files).
    """
    skipped: list[src.Problem] = []
    policy = cfg.data.on_bad_file
    pairs = src.collect_pairs(sources, on_bad_file=policy, skipped=skipped)
    pairs = src.verify_pairs(pairs, on_bad_file=policy, memo=memo, skipped=skipped)
    if memo is not None:
        memo.save()
    for p in skipped:
        log(f"skipped {p.path}: {p.message}")
    total = len(pairs) + len(skipped)
    if skipped and (not pairs or len(skipped) > cfg.data.max_bad_fraction * total):
        raise DataError(f"{label}: {len(skipped)} of {total} pairs are unusable (first: {skipped[0].path}: "
                        f"{skipped[0].message}); fix the data or run the check command")
    if skipped:
        log(f"{label}: skipped {len(skipped)} unusable pair(s) of {total} (data.on_bad_file=skip)")
    skipped_out[label] = [f"{p.path}: {p.message}" for p in skipped]
    return pairs


# ============================================================================ 1. tiles
def tiles_stage(run: RunDir, cfg: RunConfig, pool: list[src.ImagePair], log: Log,
                memo: FileMemo | None = None) -> str:
    """Tile every pool image into aligned LQ/GT patch pairs; writes the base manifest."""
    patch = cfg.tiles.patch
    stride = cfg.tiles.stride or max(1, patch // 2)
    paths = [p.gt_path for p in pool] + [p.lq_path for p in pool if p.lq_path is not None]
    key = fingerprint("tiles", CODE_VERSION, cfg.data.sources, cfg.data.color, cfg.tiles,
                      content_fingerprint(paths, memo), [p.image_id for p in pool])
    if memo is not None:
        memo.save()
    if run.is_done("tiles", key) and run.path("manifest.parquet").exists():
        log("tiles: cached")
        return key
    run.invalidate("tiles")

    cols: dict[str, list] = {c: [] for c in mf.BASE_COLUMNS}
    skipped: list[str] = []
    n_gray = 0
    for pair in pool:
        head = probe_image(pair.gt_path)
        h, w = head.height, head.width
        n_gray += head.channels == 1 and (pair.lq_path is None or probe_image(pair.lq_path).channels == 1)
        if pair.scale > 1:  # BasicSR mod-crop: GT is an exact multiple of the scale
            h, w = h - h % pair.scale, w - w % pair.scale
        if patch % pair.scale:
            raise DataError(f"tiles.patch={patch} is not a multiple of the scale {pair.scale}")
        coords = tile_grid(h, w, patch, stride, scale=pair.scale)
        if len(coords) == 0:
            skipped.append(str(pair.gt_path))
            continue
        n = len(coords)
        cols["image_id"] += [pair.image_id] * n
        cols["source"] += [pair.source] * n
        cols["task"] += [pair.task] * n
        cols["gt_path"] += [str(pair.gt_path)] * n
        cols["lq_path"] += [str(pair.lq_path) if pair.lq_path else ""] * n
        cols["degrade"] += [pair.degrade] * n
        cols["scale"] += [pair.scale] * n
        cols["y"] += coords[:, 0].tolist()
        cols["x"] += coords[:, 1].tolist()
        cols["size"] += [patch] * n
    cols["patch_id"] = list(range(len(cols["y"])))
    if not cols["y"]:
        raise DataError(f"no image is at least {patch}x{patch} pixels; lower tiles.patch")
    table = mf.new_manifest(cols)
    mf.write_manifest(run.path("manifest.parquet"), table)
    fault_point("tiles")
    color = cfg.data.color if cfg.data.color != "auto" else ("gray" if n_gray == len(pool) else "rgb")
    info = {"patches": table.num_rows, "images": len(pool) - len(skipped), "skipped_small": skipped,
            "color": color, "stride": stride, "scale": pool[0].scale}
    run.mark_done("tiles", key, info)
    msg = f"tiles: {table.num_rows} patches of {patch}px (stride {stride}) from {info['images']} images"
    if skipped:
        msg += f"; skipped {len(skipped)} image(s) smaller than the patch"
    log(msg)
    return key


# ============================================================================ 2. scan (stats + features)
def scan_stage(run: RunDir, cfg: RunConfig, pool: list[src.ImagePair], key: str, device: str,
               progress: bool, log: Log) -> str:
    """One pass over the pool: per-patch low-level statistics and backbone features."""
    from tqdm import tqdm

    from .features.backbones import load_backbone
    from .features.extract import FeatureWriter, embed_patches
    from .features.runtime import resolve_feature_backend
    from .scoring.stats import STAT_NAMES, resolve_stats_backend, tile_stats

    key = fingerprint("scan", key, cfg.features, cfg.scores.interp_scale)
    if run.is_done("scan", key) and run.path("features.npy").exists():
        rec = run.record("scan")
        log(f"scan: cached ({rec.info.get('backbone_note', '') if rec else ''})")
        return key
    run.invalidate("scan")

    table = mf.read_manifest(run.path("manifest.parquet"))
    color = run.record("tiles").info["color"]
    stats_backend = resolve_stats_backend(cfg.scores.stats_backend)
    decoder = resolve_decoder(cfg.data.decoder)
    model, info = load_backbone(cfg.features, seed=cfg.seed)
    log(f"features: {info.note}")
    by_image = _rows_by_image(table)
    pairs = {p.image_id: p for p in pool}
    n = table.num_rows

    # real patches of the first image for the backend's parity check and timing
    first = next(iter(by_image))
    img0 = decode_image(pairs[first].gt_path, color=color)
    sample = _crops(img0, by_image[first]["coords"][:32], cfg.tiles.patch)
    runner = resolve_feature_backend(cfg.features.backend, model, info, sample, cache_dir=run.path("cache"),
                                     device=device, batch_size=cfg.features.batch_size, workload=n)
    log(f"features: backend {runner.name} (parity {runner.parity:.4f})")
    stats = {name: np.zeros(n, np.float32) for name in STAT_NAMES}
    writer = FeatureWriter(run.path("features.npy"), n, info.dim)
    batch_rows: list[np.ndarray] = []
    batch_crops: list[np.ndarray] = []
    bs = cfg.features.batch_size

    def flush() -> None:
        if not batch_rows:
            return
        rows = np.concatenate(batch_rows)  # consecutive: images and their tiles in manifest order
        crops = np.concatenate(batch_crops)
        writer.write(int(rows[0]), embed_patches(model, info, crops, batch_size=bs, device=device, runner=runner))
        batch_rows.clear()
        batch_crops.clear()
        fault_point("scan")  # the features file is half written

    t0 = time.perf_counter()
    with tqdm(total=n, desc="scan (stats+features)", unit="patch", disable=not progress) as bar:
        # decoding runs in background threads (bounded queue) while this thread computes
        for image_id, gt in prefetch_images(((i, pairs[i].gt_path) for i in by_image), decoder=decoder,
                                            color=color, decode=cfg.features.on == "gt",
                                            max_in_flight=16 if decoder == "dali" else 4):
            pair = pairs[image_id]
            grp = by_image[image_id]
            lq = None
            if gt is None:  # features on the LQ side: the pair (LQ possibly synthesised)
                lq, gt = src.load_pair(pair, color=color, seed=cfg.seed, decoder="pil")
            if pair.scale > 1:
                gt = gt[: gt.shape[0] - gt.shape[0] % pair.scale, : gt.shape[1] - gt.shape[1] % pair.scale]
            coords, rows = grp["coords"], grp["rows"]
            st = tile_stats(gt, coords, cfg.tiles.patch, interp_scale=cfg.scores.interp_scale,
                            backend=stats_backend)
            for name in STAT_NAMES:
                stats[name][rows] = st[name]
            for s in range(0, len(rows), bs):  # crops in chunks: a 4K image is never copied whole
                c = coords[s:s + bs]
                if lq is not None:
                    crops = _crops(lq, c // pair.scale, cfg.tiles.patch // pair.scale)
                else:
                    crops = _crops(gt, c, cfg.tiles.patch)
                batch_rows.append(rows[s:s + bs])
                batch_crops.append(crops)
                if sum(len(r) for r in batch_rows) >= bs:
                    flush()
                bar.update(len(c))
            del gt, lq
        flush()
    writer.close()
    seconds = time.perf_counter() - t0
    table = mf.with_columns(table, stats)
    mf.write_manifest(run.path("manifest.parquet"), table)
    run.mark_done("scan", key, {
        "backbone": info.name, "backbone_source": info.source, "backbone_note": info.note,
        "feature_dim": info.dim, "feature_backend": runner.name, "parity": runner.parity,
        "stats_backend": stats_backend, "decoder": decoder, "seconds": seconds, "patches_per_s": n / max(seconds, 1e-9),
    })
    log(f"scan: {n} patches in {seconds:.1f} s ({n / max(seconds, 1e-9):.0f} patches/s, "
        f"stats backend {stats_backend}, decoder {decoder})")
    return key


# ============================================================================ 3. clusters
def cluster_stage(run: RunDir, cfg: RunConfig, key: str, log: Log) -> str:
    """FAISS k-means on the features: the distribution's modes."""
    from .select.budget import resolve_budget
    from .select.cluster import auto_clusters, kmeans

    key = fingerprint("cluster", key, cfg.select.clusters, cfg.select.kmeans_iters,
                      cfg.select.budget, cfg.seed)
    if run.is_done("cluster", key) and run.path("centroids.npy").exists():
        log("cluster: cached")
        return key
    run.invalidate("cluster")
    table = mf.read_manifest(run.path("manifest.parquet"))
    feats = _load_features(run)
    budget = resolve_budget(cfg.select.budget, len(feats))
    k = cfg.select.clusters or auto_clusters(len(feats), budget)
    res = kmeans(feats, k, seed=cfg.seed, iters=cfg.select.kmeans_iters)
    with atomic_path(run.path("centroids.npy"), suffix=".npy") as tmp:
        np.save(tmp, res.centroids)
    table = mf.with_columns(table, {"cluster": res.assign.astype(np.int32)})
    mf.write_manifest(run.path("manifest.parquet"), table)
    fault_point("cluster")
    sizes = np.bincount(res.assign, minlength=k)
    run.mark_done("cluster", key, {"k": int(k), "sizes": sizes.tolist()})
    log(f"cluster: k={k} (sizes {sizes.min()}..{sizes.max()})")
    return key


# ============================================================================ 4. scores
def score_stage(run: RunDir, cfg: RunConfig, key: str, log: Log) -> str:
    """Complexity (low-level + feature head) and uncertainty per patch."""
    from .scoring.complexity import combine_complexity, feature_variance, fit_feature_head, lowlevel_complexity
    from .scoring.stats import STAT_NAMES
    from .scoring.uncertainty import centroid_uncertainty, knn_uncertainty

    key = fingerprint("scores", key, cfg.scores, cfg.seed)
    if run.is_done("scores", key):
        log("scores: cached")
        return key
    run.invalidate("scores")
    table = mf.read_manifest(run.path("manifest.parquet"))
    feats = _load_features(run)
    stats = {name: mf.column(table, name) for name in STAT_NAMES}
    low = lowlevel_complexity(stats, cfg.scores)
    head = fit_feature_head(feats, low, epochs=cfg.scores.head_epochs, seed=cfg.seed)
    complexity = combine_complexity(low, head.pred, cfg.scores.head_weight)
    if cfg.scores.uncertainty == "knn":
        unc = knn_uncertainty(feats)
    elif cfg.scores.uncertainty == "centroid":
        unc = centroid_uncertainty(feats, np.load(run.path("centroids.npy")), mf.column(table, "cluster"))
    else:
        raise ValueError(f"scores.uncertainty must be 'centroid' or 'knn', got {cfg.scores.uncertainty!r}")
    table = mf.with_columns(table, {
        "complexity_lowlevel": low, "complexity_head": head.pred, "complexity": complexity,
        "feat_var": feature_variance(feats), "uncertainty": unc,
    })
    mf.write_manifest(run.path("manifest.parquet"), table)
    fault_point("scores")
    run.mark_done("scores", key, {"head_r2_val": float(head.r2_val)})
    log(f"scores: feature head predicts low-level complexity with validation R^2 = {head.r2_val:.3f}")
    return key


# ============================================================================ 5. selection
def select_stage(run: RunDir, cfg: RunConfig, key: str, log: Log) -> str:
    """The distilled subset (per-task quotas, complexity picks + k-center coverage, stage lists; or
    per-cluster quotas with ``select.quotas=clusters``) and a random twin."""
    from .select.baselines import random_subset
    from .select.budget import resolve_budget, select_subset

    key = fingerprint("select", key, cfg.select, cfg.seed)
    if run.is_done("select", key):
        log("select: cached")
        return key
    run.invalidate("select")
    table = mf.read_manifest(run.path("manifest.parquet"))
    feats = _load_features(run)
    n = table.num_rows
    sel = select_subset(task=mf.column(table, "task"), complexity=mf.column(table, "complexity"),
                        uncertainty=mf.column(table, "uncertainty"), features=feats,
                        assign=mf.column(table, "cluster"), cfg=cfg.select, seed=cfg.seed,
                        image=mf.column(table, "gt_path"))
    budget = resolve_budget(cfg.select.budget, n)
    stage = np.zeros(n, np.int8)
    stage[sel.stage2_candidates] = mf.STAGE_TWO_CANDIDATE
    stage[sel.stage1] = mf.STAGE_ONE
    selected = np.zeros(n, bool)
    selected[sel.selected] = True
    in_random = np.zeros(n, bool)
    in_random[random_subset(n, budget, seed=cfg.seed + 1)] = True
    table = mf.with_columns(table, {"selected": selected, "stage": stage, "in_random": in_random})
    mf.write_manifest(run.path("manifest.parquet"), table)
    fault_point("select")
    info = {"budget": int(budget), "pool": int(n), "stage1": int(len(sel.stage1)),
            "stage2_quota": int(sel.stage2_quota), "stage2_candidates": int(len(sel.stage2_candidates)),
            **{k: v for k, v in sel.info.items() if isinstance(v, (int, float, str))}}
    run.mark_done("select", key, info)
    share = sel.info.get("pool_share_rows")
    log(f"select: {budget} of {n} patches ({100 * budget / n:.2f} %)"
        + (f", chosen from the seed's {share}-patch share (select.pool_share {cfg.select.pool_share:g})"
           if share else "")
        + f": stage 1 {len(sel.stage1)}, stage 2 {sel.stage2_quota} chosen later from "
        f"{len(sel.stage2_candidates)} candidates")
    return key


# ============================================================================ 6. packs
def pack_stage(run: RunDir, cfg: RunConfig, pool: list[src.ImagePair], key: str, progress: bool,
               log: Log) -> str:
    """Decode each needed image once and pack the training crops (distilled, random, full)."""
    from tqdm import tqdm

    from .train.packed import PackWriter

    key = fingerprint("pack", key, cfg.train.baselines, cfg.train.full_max_patches)
    names = _pack_names(cfg)
    if run.is_done("pack", key) and all(run.path("pack", f"{nm}_gt.npy").exists() for nm in names):
        log("pack: cached")
        return key
    run.invalidate("pack")
    table = mf.read_manifest(run.path("manifest.parquet"))
    n = table.num_rows
    stage = mf.column(table, "stage")
    members = {"distilled": np.flatnonzero(stage > 0)}
    if "random" in names:
        members["random"] = np.flatnonzero(mf.column(table, "in_random"))
    if "full" in names:
        full = np.arange(n)
        if n > cfg.train.full_max_patches:
            rng = np.random.default_rng(cfg.seed + 2)
            full = np.sort(rng.choice(n, cfg.train.full_max_patches, replace=False))
            log(f"pack: the full-data baseline uses {len(full)} of {n} patches (train.full_max_patches)")
        members["full"] = full

    color = run.record("tiles").info["color"]
    ch = 1 if color == "gray" else 3
    patch = cfg.tiles.patch
    scale = int(mf.column(table, "scale")[0])
    writers = {nm: PackWriter(run.path("pack", nm), len(ids), (patch, patch, ch),
                              (patch // scale, patch // scale, ch))
               for nm, ids in members.items()}
    member_mask = {}
    for nm, ids in members.items():
        member_mask[nm] = np.zeros(n, bool)
        member_mask[nm][ids] = True
    needed = np.logical_or.reduce(list(member_mask.values()))
    by_image = _rows_by_image(table, np.flatnonzero(needed))
    pairs = {p.image_id: p for p in pool}
    # images and their rows come in manifest order, so every pack is appended in patch_id order
    with tqdm(total=int(needed.sum()), desc="pack", unit="patch", disable=not progress) as bar:
        for image_id, grp in by_image.items():
            lq, gt = src.load_pair(pairs[image_id], color=color, seed=cfg.seed, decoder="pil")
            gt_crops = _crops(gt, grp["coords"], patch)
            lq_crops = _crops(lq, grp["coords"] // scale, patch // scale)
            for nm, mask in member_mask.items():
                take = mask[grp["rows"]]
                if take.any():
                    writers[nm].append(gt_crops[take], lq_crops[take], grp["rows"][take])
            bar.update(len(grp["rows"]))
            fault_point("pack")  # the packs are half written
    for w in writers.values():
        w.close()
    run.mark_done("pack", key, {nm: int(len(ids)) for nm, ids in members.items()})
    log("pack: " + ", ".join(f"{nm} {len(ids)}" for nm, ids in members.items()))
    return key


# ============================================================================ 7. alignment
def align_stage(run: RunDir, cfg: RunConfig, key: str, device: str, progress: bool, log: Log) -> str:
    """Refine the distilled patches so their feature distribution moves toward the full set's."""
    from .align.aligner import align_subset
    from .align.resynth import aligned_lq
    from .features.backbones import load_backbone
    from .features.extract import BackboneEmbed
    from .train.packed import PackedPairs, write_pack

    key = fingerprint("align", key, cfg.align, cfg.seed)
    if run.is_done("align", key) and run.path("pack", "aligned_gt.npy").exists():
        log("align: cached")
        return key
    run.invalidate("align")
    pack = PackedPairs(run.path("pack", "distilled"))
    model, info = load_backbone(cfg.features, seed=cfg.seed)
    embed = BackboneEmbed(model, info).to(device)
    align_cfg = dataclasses.replace(cfg.align, on=cfg.features.on)  # the side the features describe
    res = align_subset(np.array(pack.gt), np.array(pack.lq), embed, _load_features(run),
                       align_cfg, seed=cfg.seed, device=device, progress=progress)
    ids = np.asarray(pack.ids)
    if cfg.align.enabled and cfg.align.lq != "transform":
        specs = np.asarray(mf.column(mf.read_manifest(run.path("manifest.parquet")), "degrade"))[ids]
        res.lq = aligned_lq(cfg.align.lq, res.gt, res.lq, [str(d) for d in specs], [int(i) for i in ids],
                            seed=cfg.seed)
    write_pack(run.path("pack", "aligned"), res.gt, res.lq, ids)
    fault_point("align")
    out = {"enabled": cfg.align.enabled, "fd_before": float(res.fd_before), "fd_after": float(res.fd_after),
           "kl_before": float(res.kl_before), "kl_after": float(res.kl_after)}
    atomic_write_json(run.path("align_history.json"), res.history)
    run.mark_done("align", key, out)
    if cfg.align.enabled:
        log(f"align: Frechet feature distance subset-vs-full {res.fd_before:.3f} -> {res.fd_after:.3f}")
    else:
        log("align: disabled (subset unchanged)")
    return key


# ============================================================================ 8. training
def train_stage(run: RunDir, cfg: RunConfig, key: str, device: str, progress: bool, log: Log) -> dict[str, str]:
    """Train the same network for the same steps on the distilled subset and on each baseline."""
    from .train.archs import build_model
    from .train.checkpoint import save_checkpoint
    from .train.curriculum import CurriculumPlan, train_curriculum
    from .train.loop import train_model
    from .train.packed import PackedPairs, PairPatchDataset

    tiles = run.record("tiles").info
    ch = 1 if tiles["color"] == "gray" else 3
    scale = int(tiles["scale"])
    keys: dict[str, str] = {}
    for name in ["distilled", *[b for b in cfg.train.baselines]]:
        k = fingerprint("train", name, key, cfg.train, cfg.seed)
        keys[name] = k
        ckpt = run.path("models", f"{name}.safetensors")
        if run.is_done(f"train_{name}", k) and ckpt.exists():
            log(f"train {name}: cached")
            continue
        run.invalidate(f"train_{name}")
        model = build_model(cfg.train.arch, in_ch=ch, out_ch=ch, scale=scale, seed=cfg.seed,
                            **cfg.train.arch_kwargs)
        # resumable training state, keyed by the stage fingerprint: a changed setting starts afresh
        state = run.path("models", f".{name}.{k}.state")
        for old in run.path("models").glob(f".{name}.*.state*") if run.path("models").exists() else []:
            if not old.name.startswith(state.name):
                old.unlink()
        t0 = time.perf_counter()
        if name == "distilled":
            pack = PackedPairs(run.path("pack", "aligned"))
            table = mf.read_manifest(run.path("manifest.parquet"), columns=["patch_id", "stage"])
            stage = mf.column(table, "stage")
            pos = {int(pid): i for i, pid in enumerate(np.asarray(pack.ids))}
            s1 = np.array([pos[i] for i in np.flatnonzero(stage == mf.STAGE_ONE)], np.int64)
            s2 = np.array([pos[i] for i in np.flatnonzero(stage >= mf.STAGE_TWO_CANDIDATE)], np.int64)
            quota = int(run.record("select").info["stage2_quota"])
            plan = CurriculumPlan(stage1=s1, stage2_candidates=s2, stage2_quota=quota)
            res = train_curriculum(model, pack, plan, cfg.train, seed=cfg.seed, device=device,
                                   progress=progress, state_path=state)
            chosen_ids = np.asarray(pack.ids)[res.stage2_chosen]
            stage = stage.copy()
            stage[stage >= mf.STAGE_TWO_CANDIDATE] = mf.STAGE_TWO_CANDIDATE
            stage[chosen_ids] = mf.STAGE_TWO
            full = mf.read_manifest(run.path("manifest.parquet"))
            full = mf.with_columns(full, {"stage": stage, "selected": (stage == mf.STAGE_ONE) | (stage == mf.STAGE_TWO)})
            mf.write_manifest(run.path("manifest.parquet"), full)
            tr = res.train_result
        else:
            pack = PackedPairs(run.path("pack", name))
            data = PairPatchDataset(pack, augment=cfg.train.augment, crop=cfg.train.crop, seed=cfg.seed)
            tr = train_model(model, data, cfg.train, seed=cfg.seed,
                             device=device, progress=progress, state_path=state)
        seconds = time.perf_counter() - t0
        save_checkpoint(tr.model, ckpt, {"arch": cfg.train.arch, "arch_kwargs": cfg.train.arch_kwargs,
                                         "in_ch": ch, "out_ch": ch, "scale": scale, "trained_on": name,
                                         "steps": cfg.train.steps})
        atomic_write_json(run.path("models", f"{name}_history.json"), tr.history)
        fault_point(f"train_{name}")
        run.mark_done(f"train_{name}", k, {"seconds": seconds, "patches": len(pack),
                                           "compiled": bool(tr.compiled), "steps_per_s": tr.steps_per_s})
        state.unlink(missing_ok=True)  # the checkpoint is final; the resumable state is no longer needed
        log(f"train {name}: {cfg.train.steps} steps on {len(pack)} patches in {seconds:.1f} s")
    return keys


# ============================================================================ 9. evaluation
def evaluate_stage(run: RunDir, cfg: RunConfig, tests: list[src.ImagePair], train_keys: dict[str, str],
                   device: str, progress: bool, log: Log, memo: FileMemo | None = None) -> dict:
    """PSNR / SSIM (BasicSR conventions) of every trained model on the test pairs."""
    from .metrics.evaluate import evaluate_pairs
    from .metrics.psnr_ssim import calculate_psnr, calculate_ssim
    from .train.archs import build_model
    from .train.checkpoint import load_checkpoint

    test_files = [t.gt_path for t in tests] + [t.lq_path for t in tests if t.lq_path is not None]
    key = fingerprint("evaluate", train_keys, cfg.eval, [t.image_id for t in tests],
                      [t.degrade for t in tests], content_fingerprint(test_files, memo), cfg.seed)
    out_path = run.path("eval.json")
    if run.is_done("evaluate", key) and out_path.exists():
        log("evaluate: cached")
        return json.loads(out_path.read_text())
    run.invalidate("evaluate")
    if not tests:
        log("evaluate: no test pairs (give --test or data.holdout > 0); skipped")
        result: dict = {"models": {}, "tests": 0}
    else:
        tiles = run.record("tiles").info
        color, scale = tiles["color"], int(tiles["scale"])
        items = []
        for t in tests:
            lq, gt = src.load_pair(t, color=color, seed=cfg.seed, decoder="pil")
            items.append((t.image_id, lq, gt))
        result = {"models": {}, "tests": len(items), "per_task": {}}
        crop = cfg.eval.crop_border if cfg.eval.crop_border is not None else (scale if scale > 1 else 0)
        if scale == 1:
            ps = [calculate_psnr(lq, gt, crop, test_y_channel=cfg.eval.test_y_channel) for _, lq, gt in items]
            ss = [calculate_ssim(lq, gt, crop, test_y_channel=cfg.eval.test_y_channel) for _, lq, gt in items]
            result["models"]["input"] = {"psnr": float(np.mean(ps)), "ssim": float(np.mean(ss)),
                                         "per_image": dict(zip([i[0] for i in items], map(float, ps)))}
        for name in train_keys:
            state, meta = load_checkpoint(run.path("models", f"{name}.safetensors"))
            model = build_model(meta["arch"], in_ch=meta["in_ch"], out_ch=meta["out_ch"],
                                scale=meta["scale"], **meta.get("arch_kwargs", {}))
            model.load_state_dict(state)
            res = evaluate_pairs(model.to(device).eval(), items, scale=scale, cfg=cfg.eval, device=device)
            d = res.to_dict()
            result["models"][name] = {"psnr": float(res.psnr), "ssim": float(res.ssim),
                                      "per_image": {r["name"]: float(r["psnr"]) for r in d["images"]}}
        tasks = {t.image_id: t.task for t in tests}
        for name, m in result["models"].items():
            by_task: dict[str, list[float]] = {}
            for img, p in m["per_image"].items():
                by_task.setdefault(tasks[img], []).append(p)
            result["per_task"][name] = {k: float(np.mean(v)) for k, v in by_task.items()}
    atomic_write_json(out_path, result)
    fault_point("evaluate")
    run.mark_done("evaluate", key, {"tests": result["tests"]})
    for name, m in result["models"].items():
        log(f"evaluate {name}: PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.4f}")
    return result


# ============================================================================ 10. export
def export_stage(run: RunDir, cfg: RunConfig, train_keys: dict[str, str], log: Log) -> None:
    """The final subset as BasicSR-ready folders (``gt/``, ``lq/``) plus ``meta_info.txt``."""
    import shutil

    from PIL import Image

    from .train.packed import PackedPairs

    key = fingerprint("export", train_keys.get("distilled"))
    out = run.path("subset")
    if run.is_done("export", key) and (out / "meta_info.txt").exists():
        log("export: cached")
        return
    run.invalidate("export")
    pack = PackedPairs(run.path("pack", "aligned"))
    stage = mf.column(mf.read_manifest(run.path("manifest.parquet"), columns=["stage"]), "stage")
    tmp = run.path(".subset.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "gt").mkdir(parents=True)
    (tmp / "lq").mkdir(parents=True)
    lines = []
    for i, pid in enumerate(np.asarray(pack.ids)):
        if stage[pid] not in (mf.STAGE_ONE, mf.STAGE_TWO):
            continue
        name = f"{int(pid):08d}.png"
        gt, lq = np.asarray(pack.gt[i]), np.asarray(pack.lq[i])
        Image.fromarray(gt[..., 0] if gt.shape[2] == 1 else gt).save(tmp / "gt" / name)
        Image.fromarray(lq[..., 0] if lq.shape[2] == 1 else lq).save(tmp / "lq" / name)
        lines.append(f"{name} ({gt.shape[0]},{gt.shape[1]},{gt.shape[2]})")
    (tmp / "meta_info.txt").write_text("\n".join(lines) + "\n")
    fault_point("export")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    run.mark_done("export", key, {"patches": len(lines)})
    log(f"export: {len(lines)} patch pairs -> {out} (BasicSR dataroot_gt/dataroot_lq + meta_info.txt)")


# ============================================================================ 11. report
def report_stage(run: RunDir, cfg: RunConfig, evals: dict, timings: dict, log: Log) -> tuple[dict, Path]:
    from .report.report import write_report

    summary, path = write_report(run, cfg, evals, timings)
    fault_point("report")
    log("")
    log(summary["table_text"])
    log(f"report: {path}")
    return summary, path


# ============================================================================ helpers
def _resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


class _timed:
    def __init__(self, timings: dict, name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.t0 = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = time.perf_counter() - self.t0


def _rows_by_image(table, rows: np.ndarray | None = None) -> dict[str, dict[str, np.ndarray]]:
    """Group manifest rows by image (in manifest order): {image_id: {rows, coords}}."""
    image_id = mf.column(table, "image_id")
    y, x = mf.column(table, "y"), mf.column(table, "x")
    rows = np.arange(table.num_rows) if rows is None else np.asarray(rows)
    groups: dict[str, list[int]] = {}
    for r in rows:
        groups.setdefault(image_id[r], []).append(int(r))
    return {k: {"rows": np.asarray(v, np.int64), "coords": np.stack([y[v], x[v]], 1).astype(np.int64)}
            for k, v in groups.items()}


def _crops(img: np.ndarray, coords: np.ndarray, size: int) -> np.ndarray:
    """N x size x size x C crops of ``img`` at (y, x) top-left ``coords``."""
    out = np.empty((len(coords), size, size, img.shape[2]), np.uint8)
    for i, (y, x) in enumerate(coords):
        out[i] = img[y:y + size, x:x + size]
    return out


def _load_features(run: RunDir) -> np.ndarray:
    return np.asarray(np.load(run.path("features.npy"), mmap_mode="r"), dtype=np.float32)


def _pack_names(cfg: RunConfig) -> list[str]:
    for b in cfg.train.baselines:
        if b not in ("random", "full"):
            raise ValueError(f"train.baselines: unknown baseline {b!r} (expected 'random' and/or 'full')")
    return ["distilled", *cfg.train.baselines]
