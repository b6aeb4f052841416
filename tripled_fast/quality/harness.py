"""Data-efficiency harness: the same model, the same steps, different training subsets.

For one training pool it trains on the full pool, random subsets, DC-BENCH's k-means
representatives, k-center coverage and the TripleD subset (2 x 2: with / without alignment,
with / without the two-stage curriculum) at several budgets and seeds, evaluates every model on
the test sets and writes ``runs.json`` (every run), ``summary.json``, ``table.md`` and
``psnr_vs_budget.png`` under ``out_dir``.

The pool is scanned once (tiles, statistics, features through the pipeline's own stages, cached
in ``out_dir/cache``) and packed once into one memory-mapped array of all patch pairs; every
subset is a set of rows of that pack. Each finished run is stored in ``out_dir/runs/`` and
skipped on a rerun with the same settings, so several processes (e.g. one per seed) can share
an output folder and a final ``--report-only`` call collects them.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Optional

import numpy as np
import yaml

from ..config import (AlignConfig, DataConfig, EvalConfig, FeatureConfig, RunConfig, ScoreConfig, SelectConfig,
                      SourceConfig, StrictConfig, TileConfig, TrainConfig)
from ..runfiles import atomic_path, atomic_write_json, atomic_write_text, fingerprint
from .report import FULL, format_paired, format_table, paired_differences, plot_psnr, summarize, targets

Log = Callable[[str], None]

#: method name -> (alignment, curriculum) for the TripleD variants. ``tripled`` is the configured
#: default (alignment iff ``align.enabled``; the curriculum uses ``select.stage1_fraction``, and the
#: default 1.0 makes it plain training on the selection); the others force alignment on / off.
TRIPLED_VARIANTS: dict[str, tuple[Optional[bool], bool]] = {
    "tripled": (None, True),
    "tripled-noalign": (False, True),
    "tripled-nocurr": (True, False),
    "tripled-select": (False, False),
}
BASELINES = ("random", "kmeans", "kcenter")
ALL_METHODS = (FULL, *BASELINES, *TRIPLED_VARIANTS)


@dataclass
class TestSetConfig(StrictConfig):
    """A named test set: one or more sources (paired folders or clean images + degradation)."""

    name: str = ""
    sources: list[SourceConfig] = field(default_factory=list)


def _small_train() -> TrainConfig:
    return TrainConfig(arch="dncnn", arch_kwargs={"depth": 5, "width": 16, "bn": False}, steps=800,
                       batch_size=16, lr=2e-3, compile="off", baselines=[], checkpoint_every=0, log_every=100)


@dataclass
class QualityConfig(StrictConfig):
    """Everything one harness run needs (YAML keys mirror the fields)."""

    pool: list[SourceConfig] = field(default_factory=list)
    tests: list[TestSetConfig] = field(default_factory=list)
    holdout: float = 0.0                 # > 0: hold this fraction of pool images out as test set "holdout"
    out_dir: str = "runs/quality"
    budgets: list[float] = field(default_factory=lambda: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05])
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    methods: list[str] = field(default_factory=lambda: list(ALL_METHODS))
    data_seed: int = 0                   # degradation noise, holdout split and the scan
    color: str = "auto"
    tiles: TileConfig = field(default_factory=lambda: TileConfig(patch=40, stride=20))
    features: FeatureConfig = field(default_factory=lambda: FeatureConfig(input_size=64))
    scores: ScoreConfig = field(default_factory=ScoreConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    train: TrainConfig = field(default_factory=_small_train)
    eval: EvalConfig = field(default_factory=EvalConfig)
    tol_db: float = 0.1
    pool_jitter: float = 0.0             # > 0: each seed's TripleD / k-means / k-center subset is chosen from a
                                         # random (1 - pool_jitter) share of the pool drawn by that seed, so
                                         # that it varies by seed as a random subset does (0: the whole pool)
    baseline_split: Literal["tasks", "pool"] = "tasks"  # tasks: the k-means / k-center baselines run per task tag, the budget
                                         # split by task size (same subsets as "pool" for a one-task pool);
                                         # pool: over the whole pool, task-blind (DC-BENCH)


#: values of ``QualityConfig.baseline_split`` (checked by the config when it is read)
BASELINE_SPLITS = typing.get_args(typing.get_type_hints(QualityConfig)["baseline_split"])


# ============================================================================ the pool, scanned once
@dataclass
class PoolScan:
    """The scanned pool: ``features (N, D)`` float32, per-patch ``task``, ``complexity``, the
    pack prefix holding all ``N`` patch pairs (row = patch id), ``color`` and ``scale``;
    ``image``: per-patch source photo, its GT file (``select.image_cap``; the degraded copies of
    one clean photo are one source), None when not known; ``degrade``: per-patch degradation
    spec, ``""`` where the LQ is a file (``align.lq``), None when not known."""

    features: np.ndarray
    task: np.ndarray
    complexity: np.ndarray
    pack: Path
    color: str
    scale: int
    run_dir: Path
    note: str = ""
    image: Optional[np.ndarray] = None
    degrade: Optional[np.ndarray] = None

    @property
    def n(self) -> int:
        return int(self.features.shape[0])


def _crops(img: np.ndarray, coords: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((len(coords), size, size, img.shape[2]), np.uint8)
    for i, (y, x) in enumerate(coords):
        out[i] = img[y:y + size, x:x + size]
    return out


def scan_pool(cfg: QualityConfig, pool: list, device: str, log: Log = print) -> PoolScan:
    """Tiles + statistics + features (the pipeline's stages, cached), complexity, one pack of all patches."""
    from .. import manifest as mf
    from .. import pipeline as pl
    from ..data import sources as src
    from ..runfiles import RunDir
    from ..scoring.complexity import combine_complexity, fit_feature_head, lowlevel_complexity
    from ..scoring.stats import STAT_NAMES
    from ..train.packed import PackWriter, pack_exists

    key0 = fingerprint("quality-scan", cfg.pool, [p.image_id for p in pool], cfg.color, cfg.tiles, cfg.features,
                       cfg.scores, cfg.data_seed)[:16]
    cached = Path(cfg.out_dir) / "cache" / f"scan_{key0}.npz"
    if cached.exists():  # the harness's own record: later processes never touch the pipeline stages
        z = np.load(cached, allow_pickle=False)
        stored = Path(str(z["pack"]))
        # relative to the cache folder (it may move); scans cached before 2026-12-02 stored the
        # path as given (relative to the working directory)
        pack = next((p for p in ([stored] if stored.is_absolute() else [cached.parent / stored, stored])
                     if pack_exists(p)), stored)
        manifest = cached.parent / "manifest.parquet"
        if pack_exists(pack):
            table = mf.read_manifest(manifest) if manifest.exists() else None
            image, degrade = ((np.asarray(mf.column(table, "gt_path")), np.asarray(mf.column(table, "degrade")))
                              if table is not None else (None, None))
            return PoolScan(features=np.asarray(z["features"], np.float32), task=z["task"],
                            complexity=z["complexity"], pack=pack, color=str(z["color"]), scale=int(z["scale"]),
                            run_dir=cached.parent, note=str(z["note"]), image=image, degrade=degrade)
        log(f"quality: {pack}: pool pack missing, rebuilding it from the cached stages")
    rcfg = RunConfig(run_dir=str(Path(cfg.out_dir) / "cache"), seed=cfg.data_seed,
                     data=DataConfig(sources=cfg.pool, color=cfg.color), tiles=cfg.tiles,  # type: ignore[arg-type]
                     features=cfg.features, scores=cfg.scores)
    run = RunDir(rcfg.run_dir)
    run.root.mkdir(parents=True, exist_ok=True)
    key = pl.tiles_stage(run, rcfg, pool, log)
    key = pl.scan_stage(run, rcfg, pool, key, device, False, log)
    table = mf.read_manifest(run.path("manifest.parquet"))
    feats = np.asarray(np.load(run.path("features.npy")), dtype=np.float32)
    n = table.num_rows
    ckey = fingerprint("quality-complexity", key, cfg.scores, cfg.data_seed)[:16]
    cpath = run.path(f"complexity_{ckey}.npy")
    if cpath.exists():
        complexity = np.load(cpath)
    else:
        stats = {name: mf.column(table, name) for name in STAT_NAMES}
        low = lowlevel_complexity(stats, cfg.scores)
        head = fit_feature_head(feats, low, epochs=cfg.scores.head_epochs, seed=cfg.data_seed)
        complexity = combine_complexity(low, head.pred, cfg.scores.head_weight).astype(np.float32)
        np.save(cpath, complexity)
    tiles = run.record("tiles").info
    color, scale = tiles["color"], int(tiles["scale"])
    prefix = run.path("pack", f"pool_{fingerprint('quality-pack', key)[:16]}")
    if not pack_exists(prefix):
        ch = 1 if color == "gray" else 3
        patch = cfg.tiles.patch
        image_id = np.asarray(mf.column(table, "image_id"))
        yx = np.stack([mf.column(table, "y"), mf.column(table, "x")], 1).astype(np.int64)
        names, first, inverse = np.unique(image_id, return_index=True, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.r_[0, np.cumsum(np.bincount(inverse, minlength=len(names)))]
        by_image: dict[str, dict[str, np.ndarray]] = {}
        for g in np.argsort(first):  # images in manifest order, rows ascending (PackWriter appends in order)
            rows = order[bounds[g]:bounds[g + 1]]
            by_image[str(names[g])] = {"rows": rows, "coords": yx[rows]}
        pairs = {p.image_id: p for p in pool}
        with PackWriter(prefix, n, (patch, patch, ch), (patch // scale, patch // scale, ch)) as w:
            for image_id, grp in by_image.items():
                lq, gt = src.load_pair(pairs[image_id], color=color, seed=cfg.data_seed, decoder="pil")
                w.append(_crops(gt, grp["coords"], patch), _crops(lq, grp["coords"] // scale, patch // scale),
                         grp["rows"])
        log(f"quality: packed {n} pool patch pairs -> {prefix}")
    rec = run.record("scan")
    note = str(rec.info.get("backbone_note", "")) if rec is not None else ""
    task = np.asarray(mf.column(table, "task")).astype(str)
    with atomic_path(cached, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, features=feats.astype(np.float16), task=task, complexity=complexity,
                     pack=str(prefix.relative_to(run.root)),
                     color=color, scale=scale, note=note)
    return PoolScan(features=feats, task=task, complexity=complexity, pack=prefix, color=color, scale=scale,
                    run_dir=run.root, note=note, image=np.asarray(mf.column(table, "gt_path")),
                    degrade=np.asarray(mf.column(table, "degrade")))


# ============================================================================ subsets
def jittered_scan(scan: PoolScan, jitter: float, seed: int) -> tuple[PoolScan, np.ndarray]:
    """``scan`` restricted to a uniform random ``round((1 - jitter) * N)`` of its ``N`` patches,
    drawn by ``seed`` (``QualityConfig.pool_jitter``), and the kept rows, sorted: ``(sub, kept)``
    with ``sub``'s row ``i`` = ``scan``'s row ``kept[i]``. ``jitter`` 0 returns ``scan`` itself."""
    if not 0.0 <= jitter < 1.0:
        raise ValueError(f"pool_jitter: expected a fraction in [0, 1), got {jitter!r}")
    if jitter == 0.0:
        return scan, np.arange(scan.n, dtype=np.int64)
    from ..select.share import share_rows

    # the rows select.pool_share = 1 - jitter would choose from (its own random stream)
    kept = share_rows(scan.n, 1.0 - jitter, seed)
    part = {name: getattr(scan, name)[kept] for name in ("features", "task", "complexity")}
    for name in ("image", "degrade"):
        part[name] = None if getattr(scan, name) is None else getattr(scan, name)[kept]
    return dataclasses.replace(scan, **part), kept


def tripled_selection(scan: PoolScan, budget: float, cfg: SelectConfig, seed: int, jitter: float = 0.0):
    """TripleD's selection at ``budget``: its own k-means (``cfg.clusters`` or auto for this
    budget), centroid uncertainty, then :func:`~tripled_fast.select.budget.select_subset`.
    With ``jitter`` > 0 it chooses from :func:`jittered_scan`'s share of the pool (the count is
    still the budget of the whole pool) and returns rows of the whole pool."""
    from ..scoring.uncertainty import centroid_uncertainty
    from ..select.budget import resolve_budget, select_subset
    from ..select.cluster import auto_clusters, kmeans

    count = resolve_budget(budget, scan.n)
    if jitter:
        sub, kept = jittered_scan(scan, jitter, seed)
        sel = tripled_selection(sub, float(count), cfg, seed)
        return dataclasses.replace(sel, **{name: kept[getattr(sel, name)] for name in
                                           ("selected", "stage1", "stage2", "stage2_candidates")})
    k = cfg.clusters or auto_clusters(scan.n, count)
    km = kmeans(scan.features, k, seed=seed, iters=cfg.kmeans_iters)
    unc = centroid_uncertainty(scan.features, km.centroids, km.assign)
    return select_subset(task=scan.task, complexity=scan.complexity, uncertainty=unc, features=scan.features,
                         assign=km.assign.astype(np.int64), cfg=dataclasses.replace(cfg, budget=float(count)),
                         seed=seed, image=scan.image)


def baseline_rows(method: str, scan: PoolScan, count: int, seed: int, split: str = "pool",
                  jitter: float = 0.0) -> np.ndarray:
    """Rows of a reference subset of ``count`` patches (``random``, ``kmeans``, ``kcenter``).

    With ``split="tasks"`` and several task tags in the pool, ``kmeans`` and ``kcenter`` run
    inside each task's patches with the count split by task size (largest remainder), so that an
    all-in-one pool - one clean set degraded several ways, identical GT features in every task -
    does not hand all of a baseline's picks to the first task (its ties go to the lowest index).
    ``random`` is always uniform over the whole pool; ``kmeans`` and ``kcenter`` choose from
    :func:`jittered_scan`'s share of it when ``jitter`` > 0.
    """
    from ..select.baselines import kcenter_subset, kmeans_representatives, random_subset
    from ..select.budget import largest_remainder

    if split not in BASELINE_SPLITS:
        raise ValueError(f"baseline_split: expected one of {list(BASELINE_SPLITS)}, got {split!r}")
    if method == "random":
        return random_subset(scan.n, count, seed=seed)
    if method not in ("kmeans", "kcenter"):
        raise ValueError(f"method: expected one of {list(ALL_METHODS)}, got {method!r}")
    if jitter:
        sub, kept = jittered_scan(scan, jitter, seed)
        return kept[baseline_rows(method, sub, count, seed, split)]
    pick = kmeans_representatives if method == "kmeans" else kcenter_subset
    names, code = np.unique(scan.task, return_inverse=True)
    if split == "pool" or names.size < 2:
        return pick(scan.features, count, seed=seed)
    quota = largest_remainder(np.bincount(code, minlength=names.size), count)
    parts = []
    for t, q in enumerate(quota):
        if q:
            rows = np.flatnonzero(code == t)
            parts.append(rows[pick(scan.features[rows], int(q), seed=seed)])
    return np.sort(np.concatenate(parts)).astype(np.int64)


# ============================================================================ one run
def _load_tests(cfg: QualityConfig, holdout: list, color: str) -> dict[str, list]:
    from ..data import sources as src

    tests: dict[str, list] = {}
    sets = [(t.name, src.collect_pairs(t.sources)) for t in cfg.tests]
    if holdout:
        sets.append(("holdout", holdout))
    for name, pairs in sets:
        if not name:
            raise ValueError("tests: every test set needs a name")
        pairs = pairs[: cfg.eval.max_images] if cfg.eval.max_images else pairs
        tests[name] = [(p.image_id, *src.load_pair(p, color=color, seed=cfg.data_seed, decoder="pil")) for p in pairs]
    if not tests:
        raise ValueError("tests: give at least one test set (tests or holdout > 0)")
    return tests


def per_source_means(rows: list[dict]) -> dict[str, dict[str, float]]:
    """PSNR / SSIM means per source of a test set's per-image rows (the source is the first part of
    the image id, e.g. the task tag of each ``--degrade`` copy), only when there are several
    sources: an all-in-one test set reports every degradation beside the overall mean."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(str(r["name"]).split("/", 1)[0], []).append(r)
    if len(groups) < 2:
        return {}
    return {src: {"psnr": float(np.mean([r["psnr"] for r in rs])), "ssim": float(np.mean([r["ssim"] for r in rs]))}
            for src, rs in groups.items()}


def train_and_evaluate(cfg: QualityConfig, scan: PoolScan, tests: dict[str, list], method: str, budget: float,
                       seed: int, device: str, log: Log = print) -> dict[str, Any]:
    """Train ``cfg.train`` on ``method``'s subset at ``budget`` with ``seed``; PSNR/SSIM per test set."""
    from ..select.budget import resolve_budget
    from ..train.archs import build_model
    from ..train.curriculum import CurriculumPlan, train_curriculum
    from ..train.loop import train_model
    from ..train.packed import PackedPairs, PairPatchDataset, write_pack
    from ..metrics.evaluate import evaluate_pairs

    t0 = time.perf_counter()
    pack = PackedPairs(scan.pack)
    ch = pack.channels
    extra: dict[str, Any] = {}
    if method == FULL:
        count = scan.n
        rows = np.arange(scan.n)
        if scan.n > cfg.train.full_max_patches:
            rows = np.sort(np.random.default_rng(seed).choice(scan.n, cfg.train.full_max_patches, replace=False))
    else:
        count = resolve_budget(budget, scan.n)
    model = build_model(cfg.train.arch, in_ch=ch, out_ch=ch, scale=scan.scale, seed=seed, **cfg.train.arch_kwargs)
    if method in TRIPLED_VARIANTS:
        curriculum = TRIPLED_VARIANTS[method][1]
        align = _aligns(cfg, method)
        sel = tripled_selection(scan, budget, cfg.select, seed, jitter=cfg.pool_jitter)
        extra["clusters"] = int(sel.info["groups"])
        rows = np.union1d(sel.stage1, sel.stage2_candidates) if curriculum else sel.selected
        if align:
            from ..align.aligner import align_subset
            from ..align.resynth import aligned_lq
            from ..features.backbones import load_backbone
            from ..features.extract import BackboneEmbed

            bb, info = load_backbone(cfg.features, seed=cfg.data_seed)
            res = align_subset(np.asarray(pack.gt[rows]), np.asarray(pack.lq[rows]), BackboneEmbed(bb, info),
                               scan.features, dataclasses.replace(cfg.align, enabled=True, on=cfg.features.on),
                               seed=seed, device=device, progress=False)
            extra.update(fd_before=float(res.fd_before), fd_after=float(res.fd_after))
            if cfg.align.lq != "transform":
                if scan.degrade is None:
                    raise ValueError(f"align.lq={cfg.align.lq}: the pool scan in {scan.run_dir} has no manifest "
                                     f"with the degradation specs; use align.lq=transform")
                res.lq = aligned_lq(cfg.align.lq, res.gt, res.lq, [str(d) for d in scan.degrade[rows]],
                                    [int(r) for r in rows], seed=seed)
            # the run key in the name: runs with other align / select settings may share the cache
            prefix = (Path(cfg.out_dir) / "cache" / "aligned"
                      / f"{method}_b{budget:g}_s{seed}_{run_key(cfg, method, budget, seed)}")
            prefix.parent.mkdir(parents=True, exist_ok=True)
            write_pack(prefix, res.gt, res.lq, rows)
            data_pack, local = PackedPairs(prefix), {int(r): i for i, r in enumerate(rows)}
        else:
            data_pack, local = pack, None

        def to_local(a: np.ndarray) -> np.ndarray:
            return np.asarray([local[int(r)] for r in a], np.int64) if local is not None else np.asarray(a, np.int64)

        if curriculum:
            plan = CurriculumPlan(stage1=to_local(sel.stage1), stage2_candidates=to_local(sel.stage2_candidates),
                                  stage2_quota=sel.stage2_quota)
            tr = train_curriculum(model, data_pack, plan, cfg.train, seed=seed, device=device, progress=False).train_result
        else:
            data = PairPatchDataset(data_pack, to_local(sel.selected), augment=cfg.train.augment,
                                    crop=cfg.train.crop, seed=seed)
            tr = train_model(model, data, cfg.train, seed=seed, device=device, progress=False)
    else:
        if method != FULL:
            rows = baseline_rows(method, scan, count, seed, split=cfg.baseline_split, jitter=cfg.pool_jitter)
        data = PairPatchDataset(pack, rows, augment=cfg.train.augment, crop=cfg.train.crop, seed=seed)
        tr = train_model(model, data, cfg.train, seed=seed, device=device, progress=False)
    train_s = time.perf_counter() - t0
    results = {}
    for name, items in tests.items():
        ev = evaluate_pairs(tr.model, items, scale=scan.scale, cfg=cfg.eval, device=device)
        results[name] = {"psnr": float(ev.psnr), "ssim": float(ev.ssim)}
        results.update({f"{name}/{src}": v for src, v in per_source_means(ev.rows).items()})
    rec = {"method": method, "budget": 1.0 if method == FULL else float(budget), "count": int(count),
           "seed": int(seed), "tests": results, "train_seconds": train_s,
           "seconds": time.perf_counter() - t0, "final_loss": tr.history[-1]["loss"] if tr.history else None, **extra}
    log(f"quality: {method:16s} budget {100 * rec['budget']:g} % ({count}) seed {seed}: " +
        ", ".join(f"{t} {r['psnr']:.2f} dB" for t, r in results.items()) + f" [{rec['seconds']:.0f} s]")
    return rec


# ============================================================================ the harness
#: config keys that only list what to run or how to report: never part of a run's identity
_NOT_IDENTITY = ("methods", "budgets", "seeds", "out_dir", "tol_db")
#: config sections that only the TripleD variants read: a baseline run (full, random, k-means,
#: k-center) keeps its identity - and its cached record - when they change
TRIPLED_ONLY_SECTIONS = ("select", "align")
#: keys added after records existed, left out of a run's identity while at their "off" value, so
#: the records made before them keep their run keys (section -> key -> neutral value)
_NEUTRAL_WHEN_OFF = {"select": {"coverage": "kcenter", "coverage_trim": 0.0, "image_cap": False,
                                 "image_cap_scope": "pool", "pool_share": 1.0},
                     "align": {"lq": "transform"}}


def _identity(cfg: QualityConfig, method: str) -> dict[str, Any]:
    """The settings that change ``method``'s numbers (for a baseline, not the TripleD-only sections)."""
    skip = set(_NOT_IDENTITY) | (set() if method in TRIPLED_VARIANTS else set(TRIPLED_ONLY_SECTIONS))
    if method not in ("kmeans", "kcenter") or len(cfg.pool) < 2:
        skip.add("baseline_split")  # a one-source pool has one task: the split changes nothing
    if method in (FULL, "random") or cfg.pool_jitter == 0.0:
        skip.add("pool_jitter")  # random and full never read it; 0 keeps the earlier records' keys
    ident = {k: v for k, v in cfg.to_dict().items() if k not in skip}
    if "select" in ident and (len(cfg.pool) < 2 or not cfg.select.image_cap):
        # one task (one source), or no cap: both scopes select the same patches
        ident["select"] = {k: v for k, v in ident["select"].items() if k != "image_cap_scope"}
    if "select" in ident and cfg.select.quotas != "strata":
        # the strata count only matters to quotas=strata (earlier records keep their run keys)
        ident["select"] = {k: v for k, v in ident["select"].items() if k != "strata"}
    for section, neutral in _NEUTRAL_WHEN_OFF.items():
        if section in ident:
            ident[section] = {k: v for k, v in ident[section].items()
                              if not (k in neutral and v == neutral[k])}
    if method in TRIPLED_VARIANTS and not _aligns(cfg, method):
        ident["align"] = {k: v for k, v in ident["align"].items() if k != "lq"}  # no aligned pairs to make
    return ident


def _aligns(cfg: QualityConfig, method: str) -> bool:
    """Whether TripleD variant ``method`` runs the alignment CNN under ``cfg``."""
    forced = TRIPLED_VARIANTS[method][0]
    return cfg.align.enabled if forced is None else forced


#: the first target's verdict (``report.targets``'s ``eq_half``) as printed
_VERDICT = {True: "met", False: "missed", None: "undetermined (random not reached by its largest budget)"}


def run_key(cfg: QualityConfig, method: str, budget: float, seed: int) -> str:
    """A run's identity: every setting that changes its numbers, not the lists of methods, budgets
    and seeds (so one more seed or budget reuses the finished runs), and for the baselines not the
    TripleD-only sections (tuning ``select.*`` or ``align.*`` retrains only the TripleD variants)."""
    return fingerprint("quality-run", _identity(cfg, method), method, budget, seed)[:12]


#: what a report folder's ``config.yaml`` ran when it lacks a key added later (the behaviour
#: before the key existed; the harness writes every key, so a missing one means an older folder)
_BEFORE_THE_KEY = {"baseline_split": "pool", **_NEUTRAL_WHEN_OFF}


def read_report_config(src_dir: str | Path) -> QualityConfig:
    """The :class:`QualityConfig` a report folder's ``config.yaml`` ran, keys added after it was
    written set to their earlier behaviour (e.g. ``select.image_cap`` off, not today's default)."""
    path = Path(src_dir) / "config.yaml"
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping")
    for key, before in _BEFORE_THE_KEY.items():
        mine = raw.get(key)
        if isinstance(before, dict) and isinstance(mine or {}, dict):
            raw[key] = {**before, **(mine or {})}
        else:
            raw.setdefault(key, before)
    return QualityConfig.from_dict(raw)


def adopt_baseline_runs(cfg: QualityConfig, src_dir: str | Path, log: Log = print) -> int:
    """Copy the finished baseline runs (full, random, k-means, k-center) of an earlier report
    folder ``src_dir`` (its ``config.yaml`` and ``runs.json``) into ``cfg.out_dir`` under this
    config's run keys, so that a rerun with other TripleD settings (``select.*``, ``align.*``)
    trains only the TripleD variants. Refuses a folder whose settings differ in anything a
    baseline depends on; skips the k-means / k-center records whose ``pool_jitter`` (or, on a
    multi-task pool, ``baseline_split``) differs. Returns the number of records written."""
    src = Path(src_dir)
    try:
        old = read_report_config(src)
        records = json.loads((src / "runs.json").read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ValueError(f"{src}: expected a bench-quality report folder (config.yaml, runs.json): {exc}") from exc
    mine, theirs = _identity(cfg, FULL), _identity(old, FULL)  # what every baseline depends on
    if mine != theirs:
        diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        raise ValueError(f"{src}/config.yaml: its baselines were run with other settings ({', '.join(diff)})")
    out = Path(cfg.out_dir) / "runs"
    out.mkdir(parents=True, exist_ok=True)
    n = skipped = 0
    for rec in records:
        if rec["method"] in TRIPLED_VARIANTS:
            continue
        if _identity(cfg, rec["method"]) != _identity(old, rec["method"]):
            skipped += 1  # a k-means / k-center record of another baseline_split or pool_jitter
            continue
        path = out / f"{rec['method']}_b{rec['budget']:g}_s{rec['seed']}_{run_key(cfg, rec['method'], rec['budget'], rec['seed'])}.json"
        if not path.exists():
            atomic_write_json(path, {**rec, "adopted_from": str(src)})
            n += 1
    log(f"quality: adopted {n} baseline runs from {src}"
        + (f" (skipped {skipped} made with another baseline_split or pool_jitter)" if skipped else ""))
    return n


def run_quality(cfg: QualityConfig, *, report_only: bool = False, device: str = "auto",
                log: Log = print) -> dict[str, Any]:
    """Run (or collect) every ``method x budget x seed`` and write the report files.

    Returns ``{"runs", "summary", "targets", "paired", "table"}`` (``paired``: per TripleD
    variant, its PSNR minus random's paired by seed, when random is among the methods).
    """
    from ..data import sources as src
    from ..pipeline import _resolve_device

    unknown = sorted(set(cfg.methods) - set(ALL_METHODS))
    if unknown:
        raise ValueError(f"methods: unknown {unknown[0]!r}; expected some of {list(ALL_METHODS)}")
    if any(not 0 < b < 1 for b in cfg.budgets):
        raise ValueError(f"budgets: expected fractions in (0, 1), got {cfg.budgets}")
    if not 0.0 <= cfg.pool_jitter < 1.0:
        raise ValueError(f"pool_jitter: expected a fraction in [0, 1), got {cfg.pool_jitter!r}")
    out = Path(cfg.out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    runs: list[dict[str, Any]] = []
    # seed-major, then budget-major: an interrupted run has every method at the first budgets
    todo = [(m, b, s) for s in cfg.seeds
            for m, b in ([(FULL, 1.0)] if FULL in cfg.methods else [])
            + [(m, b) for b in cfg.budgets for m in cfg.methods if m != FULL]]
    scan = tests = None
    for method, budget, seed in todo:
        path = out / "runs" / f"{method}_b{budget:g}_s{seed}_{run_key(cfg, method, budget, seed)}.json"
        if path.exists():
            runs.append(json.loads(path.read_text()))
            continue
        if report_only:
            continue
        if scan is None:
            dev = _resolve_device(device)
            pool = src.collect_pairs(cfg.pool)
            pool, holdout = src.split_holdout(pool, cfg.holdout, cfg.data_seed) if cfg.holdout > 0 else (pool, [])
            scan = scan_pool(cfg, pool, dev, log)
            log(f"quality: pool {scan.n} patches ({scan.note})")
            tests = _load_tests(cfg, holdout, scan.color)
        rec = train_and_evaluate(cfg, scan, tests, method, budget, seed, dev, log)  # type: ignore[arg-type]
        atomic_write_json(path, rec)
        runs.append(rec)
    if not runs:
        raise ValueError(f"{out}: no finished runs to report")
    summary = summarize(runs)
    variants = [m for m in TRIPLED_VARIANTS if m in cfg.methods]
    tg = {m: targets(summary, method=m, tol_db=cfg.tol_db) for m in variants}
    paired = {m: paired_differences(runs, method=m) for m in variants} if "random" in cfg.methods else {}
    table = "\n".join([format_table(summary, cfg.tol_db)] + [format_paired(p, m) for m, p in paired.items() if p])
    atomic_write_json(out / "runs.json", runs)
    atomic_write_json(out / "summary.json", {"summary": _jsonable(summary), "targets": _jsonable(tg),
                                             "paired_vs_random": _jsonable(paired), "tol_db": cfg.tol_db})
    atomic_write_text(out / "table.md", table + "\n")
    plot_psnr(summary, out / "psnr_vs_budget.png")
    log(table)
    return {"runs": runs, "summary": summary, "targets": tg, "paired": paired, "table": table}


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {(f"{k:g}" if isinstance(k, float) else str(k)): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


# ============================================================================ command line
def _floats(s: str) -> list[float]:
    return [float(v) for v in s.split(",") if v.strip()]


def build_parser(prog: str = "tripled-fast bench-quality") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=(
        "Train the same model for the same steps on the full pool, random / k-means / k-center "
        "subsets and TripleD subsets at several budgets and seeds; report PSNR/SSIM per method."))
    p.add_argument("pool", nargs="?", help="training pool: GT folder (clean images with --degrade, or with --lq)")
    p.add_argument("--lq", help="LQ folder paired with POOL by file name")
    p.add_argument("--lq-tmpl", default="{}",
                   help="LQ file name template of the GT stem (e.g. '{}x4'), or 'sorted' to pair in sorted order")
    p.add_argument("--scale", type=int, default=1, help="SR scale of a paired pool")
    p.add_argument("--degrade", action="append", default=[],
                   help="degradation spec; repeat for several task-tagged copies of the pool (all-in-one)")
    p.add_argument("--test", action="append", default=[],
                   help="test set GT[:LQ[:TMPL]] (any path; TMPL as --lq-tmpl); without LQ it gets the --degrade specs")
    p.add_argument("--config", help="YAML QualityConfig (CLI options override it)")
    p.add_argument("--out", help="output folder (default runs/quality)")
    p.add_argument("--budgets", type=_floats, help="comma-separated fractions, e.g. 0.0025,0.005,0.01,0.02")
    p.add_argument("--seeds", type=lambda s: [int(v) for v in s.split(",")], help="comma-separated seeds")
    p.add_argument("--methods", type=lambda s: [v for v in s.split(",") if v],
                   help=f"comma-separated subset of {','.join(ALL_METHODS)}")
    p.add_argument("--steps", type=int, help="training steps per run")
    p.add_argument("--batch", type=int, help="batch size")
    p.add_argument("--patch", type=int, help="GT patch side")
    p.add_argument("--stride", type=int, help="patch stride")
    p.add_argument("--holdout", type=float, help="hold out this fraction of pool images as test set 'holdout'")
    p.add_argument("--pool-jitter", type=float,
                   help="each seed chooses the TripleD / k-means / k-center subsets from its own random "
                        "(1 - F) share of the pool, so they vary by seed as random's do (default 0)")
    p.add_argument("--max-test-images", type=int,
                   help="evaluate the first N images of every test source (per degradation with several --degrade)")
    p.add_argument("--max-images", type=int, help="use at most this many pool images per source")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any config key, e.g. select.complexity_weight=0 or train.arch_kwargs={width: 32}")
    p.add_argument("--device", default="auto")
    p.add_argument("--adopt", metavar="DIR",
                   help="reuse the baseline runs of an earlier report folder with the same data and training settings")
    p.add_argument("--report-only", action="store_true", help="only collect finished runs and write the report")
    return p


def _sources(gt: str, lq: Optional[str], degrades: list[str], scale: int, max_images: Optional[int],
             tmpl: str = "{}") -> list[dict]:
    """Source dicts: a paired folder (LQ name = ``tmpl.format(GT stem)``, or sorted order when
    ``tmpl`` is ``"sorted"``) or one degraded copy of ``gt`` per spec (task-tagged)."""
    from ..data.degrade import spec_scale, spec_task

    if lq:
        if tmpl == "sorted":
            return [{"kind": "kair", "gt": gt, "lq": lq, "scale": scale, "max_images": max_images}]
        return [{"kind": "paired", "gt": gt, "lq": lq, "scale": scale, "filename_tmpl": tmpl,
                 "max_images": max_images}]
    if not degrades:
        raise ValueError(f"{gt}: a clean folder needs --degrade SPEC (or give --lq for paired data)")
    return [{"kind": "degrade", "gt": gt, "degrade": d, "task": spec_task(d), "scale": spec_scale(d),
             "name": spec_task(d) if len(degrades) > 1 else "", "max_images": max_images} for d in degrades]


def config_from_args(args: argparse.Namespace) -> QualityConfig:
    data: dict[str, Any] = {}
    if args.config:
        data = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
    if args.pool:
        data["pool"] = _sources(args.pool, args.lq, args.degrade, args.scale, args.max_images, args.lq_tmpl)
    if args.test:
        tests = []
        for t in args.test:
            gt, _, rest = t.partition(":")
            lq, _, tmpl = rest.partition(":")
            # --max-test-images limits every source (each degradation of an all-in-one test set), not
            # the concatenated list, whose first images would all carry the first degradation
            srcs = _sources(gt, lq or None, args.degrade, args.scale, args.max_test_images, tmpl or "{}")
            for s in srcs:
                if s["max_images"] is None:
                    s.pop("max_images")
            tests.append({"name": Path(gt.rstrip("/")).name if not lq else Path(gt.rstrip("/")).parent.name + "/" +
                          Path(gt.rstrip("/")).name, "sources": srcs})
        data["tests"] = tests
    for key, attr in (("out_dir", "out"), ("budgets", "budgets"), ("seeds", "seeds"), ("methods", "methods"),
                      ("holdout", "holdout"), ("pool_jitter", "pool_jitter")):
        if getattr(args, attr) is not None:
            data[key] = getattr(args, attr)
    for key, attr in (("steps", "steps"), ("batch_size", "batch")):
        if getattr(args, attr) is not None:
            data.setdefault("train", {})[key] = getattr(args, attr)
    for key in ("patch", "stride"):
        if getattr(args, key) is not None:
            data.setdefault("tiles", {})[key] = getattr(args, key)
    if args.max_test_images is not None and not args.test:  # test sets from --config: cap the whole set
        data.setdefault("eval", {})["max_images"] = args.max_test_images
    # nested defaults that differ from the pipeline's (small CPU setting) stay unless overridden
    base = QualityConfig().to_dict()
    for section in ("tiles", "features", "train"):
        if section in data:
            data[section] = {**base[section], **data[section]}
    for item in args.set:
        key, _, value = item.partition("=")
        if not _:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = data
        for part in parents:
            node = node.setdefault(part, dict(base.get(part, {})) if node is data else {})
        node[leaf] = yaml.safe_load(value)
    return QualityConfig.from_dict(data)  # type: ignore[return-value]


def main(argv: Optional[list[str]] = None) -> int:
    """``tripled-fast bench-quality`` entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    cfg = config_from_args(args)
    if args.adopt:
        adopt_baseline_runs(cfg, args.adopt)
    res = run_quality(cfg, report_only=args.report_only, device=args.device)
    for method, per_test in res["targets"].items():
        for test, t in per_test.items():
            print(f"targets of {method} on {test}: equal-quality budget {t['eq_method']} vs random "
                  f"{t['eq_baseline']} -> {_VERDICT[t['eq_half']]}; two smallest budgets "
                  f"{'met' if t['small_budgets_met'] else 'missed'}")
    return 0
