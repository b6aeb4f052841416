"""Our scoring path against the naive stack, in one process, on the same real images.

    python bench/compare.py                 # RealSR HR + 4K mosaics from ../shared/data
    python bench/compare.py --quick         # smoke run on small synthetic images (seconds)
    python bench/compare.py --markdown bench/results.md

Rows (seconds are the best of ``--repeats`` runs; CPU = process CPU seconds of that run):

* decode      PIL serial  vs  ``prefetch_images`` (thread pool, bounded read-ahead)
* stats       numpy/scipy per tile  vs  the fused C++ kernel (``tile_stats(backend="cpp")``)
* features    timm eager NCHW  vs  ``resolve_feature_backend`` (eager channels-last / ONNX Runtime)
* pipeline    decode + statistics + features end to end, image by image
* k-means     scikit-learn KMeans  vs  FAISS (``select.cluster.kmeans``)
* k-center    DeepCore-style greedy (budget x N matrix)  vs  ``kcenter_greedy`` (O(N) memory)
* 1M x 384    k-means + per-cluster k-center at pool scale (ours only; target < 60 s)

Roofline figures measured in the same run: memory-copy bandwidth (``np.copyto`` of 256 MiB)
against the statistics' input bytes/s, and the fp32 matmul peak (``torch.mm``) against the
backbone's achieved GFLOP/s (FLOPs from ``torch.utils.flop_counter``).
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from naive import naive_embed, naive_kcenter, naive_kmeans, naive_tile_stats  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data"


# --------------------------------------------------------------------------- measuring
@dataclass
class Timing:
    wall: float
    cpu: float


def measure(fn: Callable[[], object], repeats: int) -> tuple[Timing, object]:
    """Best-of-``repeats`` wall time of ``fn()`` with the process CPU time of that run."""
    best: Timing | None = None
    out = None
    for _ in range(max(1, repeats)):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        t = Timing(time.perf_counter() - t0, time.process_time() - c0)
        if best is None or t.wall < best.wall:
            best = t
    assert best is not None
    return best, out


def progress(msg: str) -> None:
    """One progress line on stderr (the table goes to stdout)."""
    print(f"[compare {time.strftime('%H:%M:%S')} load {os.getloadavg()[0]:.1f}] {msg}", file=sys.stderr, flush=True)


@dataclass
class Row:
    stage: str
    workload: str
    naive: Timing | None
    ours: Timing
    unit: float = 0.0        # work items for the rate column
    unit_name: str = ""
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.naive is None else self.naive.wall / max(self.ours.wall, 1e-12)


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    def table(self) -> list[list[str]]:
        head = ["stage", "workload", "naive s (cpu s)", "ours s (cpu s)", "ours/naive speed", "ours rate", "note"]
        body = []
        for r in self.rows:
            nv = "-" if r.naive is None else f"{r.naive.wall:.3f} ({r.naive.cpu:.2f})"
            rate = f"{r.unit / max(r.ours.wall, 1e-12):,.1f} {r.unit_name}/s" if r.unit_name else ""
            ratio = "-" if r.ratio is None else f"{r.ratio:.1f}x"
            body.append([r.stage, r.workload, nv, f"{r.ours.wall:.3f} ({r.ours.cpu:.2f})", ratio, rate, r.note])
        return [head, *body]

    def text(self) -> str:
        t = self.table()
        widths = [max(len(row[i]) for row in t) for i in range(len(t[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in t]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(self.facts + [""] + lines + [""] + self.checks)

    def markdown(self) -> str:
        t = self.table()
        out = [f"- {f}" for f in self.facts] + [""]
        out.append("| " + " | ".join(t[0]) + " |")
        out.append("|" + "---|" * len(t[0]))
        out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in t[1:]]
        out += [""] + [f"- {c}" for c in self.checks]
        return "\n".join(out) + "\n"


def loadavg() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def copy_bandwidth(nbytes: int, repeats: int, threads: int = 1) -> float:
    """Bytes moved per second by ``np.copyto`` (read + write counted once each: 2 x bytes / s),
    the array split into ``threads`` equal parts copied by as many threads (numpy releases the
    GIL while copying)."""
    from concurrent.futures import ThreadPoolExecutor

    a = np.ones(nbytes, np.uint8)
    b = np.empty_like(a)
    np.copyto(b, a)
    if threads <= 1:
        t, _ = measure(lambda: np.copyto(b, a), repeats)
        return 2.0 * nbytes / t.wall
    step = -(-nbytes // threads)
    parts = [(b[i:i + step], a[i:i + step]) for i in range(0, nbytes, step)]
    with ThreadPoolExecutor(threads) as pool:
        t, _ = measure(lambda: list(pool.map(lambda p: np.copyto(*p), parts)), repeats)
    return 2.0 * nbytes / t.wall


def matmul_peak(n: int, repeats: int) -> float:
    """fp32 FLOP/s of ``torch.mm`` on ``n x n`` matrices."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t, _ = measure(lambda: torch.mm(a, b), repeats)
    return 2.0 * n ** 3 / t.wall


def backbone_flops(model: torch.nn.Module, size: int) -> float:
    """Forward FLOPs of one ``3 x size x size`` image (``torch.utils.flop_counter``)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    return float(counter.get_total_flops())


# --------------------------------------------------------------------------- data
def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A seeded photo-like uint8 RGB image (smooth structure + texture + noise)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.empty((h, w, 3), np.float32)
    for c in range(3):
        fy, fx = rng.uniform(0.005, 0.05, 2)
        img[..., c] = 128 + 60 * np.sin(fy * yy + c) * np.cos(fx * xx) + 20 * np.sin(0.3 * xx * (c + 1) / 3)
    img += rng.normal(0, 8, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def mosaic_4k(images: list[np.ndarray], h: int = 2160, w: int = 3840) -> np.ndarray:
    """A ``h x w`` RGB mosaic tiled from crops of ``images`` (cycled, row-major)."""
    out = np.empty((h, w, 3), np.uint8)
    k = 0
    y = 0
    while y < h:
        x, row_h = 0, 0
        while x < w:
            src = images[k % len(images)]
            k += 1
            ch, cw = min(src.shape[0], h - y), min(src.shape[1], w - x)
            out[y:y + ch, x:x + cw] = src[:ch, :cw, :3] if src.shape[2] == 3 else src[:ch, :cw, :1]
            x += cw
            row_h = max(row_h, ch)
        y += row_h
    return out


def prepare_images(args: argparse.Namespace, workdir: Path) -> tuple[list[Path], list[Path], str]:
    """(all image files, the 4K mosaic files, a description of the data)."""
    from PIL import Image

    from tripled_fast.data.decode import decode_image

    if args.quick or args.synthetic:
        rng = np.random.default_rng(0)
        files = []
        for i, (h, w) in enumerate([(192, 160), (160, 224)]):
            p = workdir / f"syn_{i}.png"
            Image.fromarray(smooth_image(rng, h, w)).save(p, compress_level=1)
            files.append(p)
        big = workdir / "syn_mosaic.png"
        Image.fromarray(mosaic_4k([decode_image(f) for f in files], 270, 480)).save(big, compress_level=1)
        return files + [big], [big], "synthetic: 2 images 160-224 px + one 480x270 mosaic (quick mode)"
    hr = sorted((args.data / "realsr" / "HR").glob("*.png"))
    if not hr:
        raise SystemExit(f"no RealSR HR images under {args.data / 'realsr' / 'HR'} (use --quick for synthetic data)")
    decoded = [decode_image(p) for p in hr]
    mosaics = []
    for i in range(args.mosaics):
        p = workdir / f"mosaic4k_{i}.png"
        order = decoded[i:] + decoded[:i]
        Image.fromarray(mosaic_4k(order)).save(p, compress_level=6)
        mosaics.append(p)
    sizes = ", ".join(f"{a.shape[1]}x{a.shape[0]}" for a in decoded)
    desc = (f"{args.data / 'realsr' / 'HR'}: {len(hr)} RealSR HR PNGs ({sizes}) + {len(mosaics)} "
            f"3840x2160 mosaics tiled from them (PNG, written to a temp dir)")
    return hr + mosaics, mosaics, desc


def structured_features(n: int, dim: int, seed: int, modes: int = 200) -> np.ndarray:
    """Seeded ``n x dim`` float32 Gaussian-mixture features (anisotropic clusters of varied mass)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((modes, dim)).astype(np.float32) * 3.0
    scales = rng.uniform(0.3, 1.5, (modes, 1)).astype(np.float32)
    mass = rng.dirichlet(np.full(modes, 0.7))
    labels = rng.choice(modes, size=n, p=mass)
    out = np.empty((n, dim), np.float32)
    step = 65536
    for s in range(0, n, step):
        lab = labels[s:s + step]
        noise = rng.standard_normal((len(lab), dim), dtype=np.float32)
        out[s:s + step] = centres[lab] + noise * scales[lab]
    return out


# --------------------------------------------------------------------------- stages
def crops(img: np.ndarray, coords: np.ndarray, size: int) -> np.ndarray:
    out = np.empty((len(coords), size, size, img.shape[2]), np.uint8)
    for i, (y, x) in enumerate(coords):
        out[i] = img[y:y + size, x:x + size]
    return out


def full_tiles(h: int, w: int, patch: int, stride: int) -> np.ndarray:
    """Tile grid of full patches only (what the pipeline keeps)."""
    from tripled_fast.data.tiles import tile_grid

    return np.asarray(tile_grid(h, w, patch, stride))


def feature_sample(coords: np.ndarray, k: int) -> np.ndarray:
    """``k`` evenly spaced tiles (the same ones for both paths)."""
    if k >= len(coords):
        return coords
    return coords[np.linspace(0, len(coords) - 1, k).round().astype(int)]


def run(args: argparse.Namespace) -> Report:
    from tripled_fast.config import FeatureConfig
    from tripled_fast.data.decode import decode_image
    from tripled_fast.data.stream import prefetch_images
    from tripled_fast.features.backbones import load_backbone
    from tripled_fast.features.export import cosine_rows
    from tripled_fast.features.extract import embed_patches
    from tripled_fast.features.runtime import resolve_feature_backend
    from tripled_fast.scoring.stats import STAT_NAMES, tile_stats
    from tripled_fast.select.cluster import auto_clusters, kmeans
    from tripled_fast.select.kcenter import kcenter_greedy

    rep = Report()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    la_start = loadavg()
    cpu_name = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() \
        else platform.processor()
    rep.facts.append(f"machine: {os.cpu_count()} logical cores ({cpu_name}), torch {torch.__version__} "
                     f"with {torch.get_num_threads()} threads, Python {platform.python_version()}")
    rep.facts.append(f"load average (1/5/15 min) at start: {la_start}")

    reps = args.repeats
    copy_n = 8 << 20 if args.quick else 256 << 20
    bw1 = copy_bandwidth(copy_n, reps + 4)
    bw_all = copy_bandwidth(copy_n, reps + 4, threads=os.cpu_count() or 1)
    bw = max(bw1, bw_all)  # the roofline reference: the better of one thread and all cores
    peak = 0.0 if args.stats_only else matmul_peak(256 if args.quick else 2048, reps + 2)
    rep.facts.append(f"measured memory copy: {bw / 1e9:.1f} GB/s (read + write, np.copyto; one thread "
                     f"{bw1 / 1e9:.1f}, {os.cpu_count()} threads {bw_all / 1e9:.1f}: the larger is the "
                     f"reference)" + ("" if args.stats_only else
                                      f"; fp32 matmul peak: {peak / 1e9:.1f} GFLOP/s (torch.mm)"))

    with tempfile.TemporaryDirectory(prefix="tf-bench-") as tmp:
        workdir = Path(tmp)
        files, mosaics, desc = prepare_images(args, workdir)
        rep.facts.append(f"data: {desc}")
        patch, stride = args.patch, args.patch // 2
        images = [decode_image(p) for p in files]
        coords = [full_tiles(im.shape[0], im.shape[1], patch, stride) for im in images]
        n_tiles = sum(len(c) for c in coords)
        mpix = sum(im.shape[0] * im.shape[1] for im in images) / 1e6
        n_img = len(files)

        # ---- decode
        if not args.stats_only:
            t_nv, _ = measure(lambda: [decode_image(p) for p in files], reps)
            t_us, _ = measure(lambda: [a for _, a in prefetch_images(((i, p) for i, p in enumerate(files)),
                                                                     workers=args.workers, max_in_flight=4)], reps)
            progress("decode done")
            rep.rows.append(Row("decode", f"{n_img} files, {mpix:.1f} MPix", t_nv, t_us, mpix, "MPix",
                                f"PIL serial vs prefetch_images ({args.workers} threads)"))

        # ---- fused statistics
        def naive_stats() -> list:
            return [naive_tile_stats(im, c, patch, 2) for im, c in zip(images, coords)]

        def our_stats() -> list:
            return [tile_stats(im, c, patch, interp_scale=2, backend="cpp") for im, c in zip(images, coords)]

        t_nv, st_nv = measure(naive_stats, max(1, reps - 1))
        t_us, st_us = measure(our_stats, max(10, reps + 2))  # ~50 ms a call: best of 10 against VM noise
        worst = max(float(np.max(np.abs(a[k] - b[k]) / np.maximum(np.abs(a[k]), 1.0)))
                    for a, b in zip(st_nv, st_us) for k in STAT_NAMES)
        tile_bytes = sum(len(c) * patch * patch * im.shape[2] for im, c in zip(images, coords))
        image_bytes = sum(im.nbytes for im in images)
        gbs = tile_bytes / t_us.wall / 1e9
        ibs = image_bytes / t_us.wall / 1e9
        progress("stats done")
        rep.rows.append(Row("stats", f"{n_tiles} tiles {patch}px (stride {stride})", t_nv, t_us, n_tiles, "tiles",
                            f"tile input {gbs:.2f} GB/s = {100 * gbs * 1e9 / bw:.1f}% of copy bw "
                            f"(image bytes {ibs:.2f} GB/s = {100 * ibs * 1e9 / bw:.1f}%)"))
        rep.checks.append(f"stats: max relative difference naive vs C++ over all tiles = {worst:.1e}")
        # this 2-core VM is noisy: repeat (copy bandwidth, stats) back to back and give the spread
        ratios = []
        for _ in range(args.stats_trials):
            ref = max(copy_bandwidth(copy_n, 6), copy_bandwidth(copy_n, 6, threads=os.cpu_count() or 1))
            t_k, _ = measure(our_stats, 10)
            ratios.append(100.0 * tile_bytes / t_k.wall / ref)
        if ratios:
            rep.checks.append(f"stats vs copy bandwidth over {len(ratios)} back-to-back trials (each: copy best of 6, "
                              f"stats best of 10): median {np.median(ratios):.1f}%, min {min(ratios):.1f}%, "
                              f"max {max(ratios):.1f}% ({', '.join(f'{r:.1f}' for r in ratios)})")
        if args.stats_only:
            rep.facts.append(f"load average (1/5/15 min) at end: {loadavg()}")
            return rep

        # ---- features
        cfg = FeatureConfig(input_size=args.feature_size) if args.feature_size else FeatureConfig()
        model, info = load_backbone(cfg)
        sample_coords = [feature_sample(c, args.feature_tiles) for c in coords]
        patches = np.concatenate([crops(im, c, patch) for im, c in zip(images, sample_coords)])
        n_feat = len(patches)
        candidates = ["eager"] if args.quick else ["eager", "onnxruntime"]
        runner = resolve_feature_backend("auto", model, info, patches[:min(32, n_feat)], workdir / "cache",
                                         batch_size=args.batch_size, candidates=candidates, repeats=1)
        t_nv, f_nv = measure(lambda: naive_embed(model, patches, info.input_size, info.mean, info.std,
                                                 args.batch_size), reps)
        t_us, f_us = measure(lambda: embed_patches(model, info, patches, batch_size=args.batch_size,
                                                   runner=runner), reps)
        cos = cosine_rows(f_nv, f_us)
        flops = backbone_flops(model, info.input_size)
        gflops = flops * n_feat / t_us.wall / 1e9
        progress("features done")
        rep.rows.append(Row("features", f"{n_feat} patches -> {info.name} @{info.input_size}", t_nv, t_us, n_feat,
                            "patches", f"{runner.name}; {flops / 1e9:.2f} GFLOP/img; {gflops:.1f} GFLOP/s "
                            f"= {100 * gflops * 1e9 / peak:.0f}% of matmul peak"))
        rep.checks.append(f"features: min cosine naive vs ours = {float(cos.min()):.6f} (backend {runner.name}, "
                          f"parity {runner.parity:.6f})")

        # ---- end-to-end scoring pipeline
        def pipeline(stream, stats_fn: Callable, embed_fn: Callable) -> int:
            done = 0
            for i, img in stream:
                stats_fn(img, coords[i])
                embed_fn(crops(img, sample_coords[i], patch))
                done += 1
            return done

        def naive_pipe() -> int:
            return pipeline(((i, decode_image(p)) for i, p in enumerate(files)),
                            lambda im, c: naive_tile_stats(im, c, patch, 2),
                            lambda p: naive_embed(model, p, info.input_size, info.mean, info.std, args.batch_size))

        def our_pipe() -> int:
            return pipeline(prefetch_images(((i, p) for i, p in enumerate(files)), workers=args.workers,
                                            max_in_flight=3),
                            lambda im, c: tile_stats(im, c, patch, interp_scale=2, backend="cpp"),
                            lambda p: embed_patches(model, info, p, batch_size=args.batch_size, runner=runner))

        t_nv, _ = measure(naive_pipe, max(1, reps - 1))
        t_us, _ = measure(our_pipe, max(1, reps - 1))
        progress("pipeline done")
        rep.rows.append(Row("pipeline", f"{n_img} images: decode + stats ({n_tiles} tiles) + features "
                            f"({n_feat} patches)", t_nv, t_us, n_img, "images", "image by image, end to end"))

        # ---- 4K images in bounded memory (ours)
        tracemalloc.start()
        c0, t0 = time.process_time(), time.perf_counter()
        n4k = 0
        for _, img in prefetch_images(((i, p) for i, p in enumerate(mosaics)), workers=args.workers,
                                      max_in_flight=2):
            c = full_tiles(img.shape[0], img.shape[1], patch, stride)
            tile_stats(img, c, patch, backend="cpp")
            embed_patches(model, info, crops(img, feature_sample(c, args.feature_tiles), patch),
                          batch_size=args.batch_size, runner=runner)
            n4k += 1
            shape = img.shape
            del img
        t4k = Timing(time.perf_counter() - t0, time.process_time() - c0)
        _, traced_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        progress("4K stream done")
        rep.rows.append(Row("4K stream", f"{n4k} images {shape[1]}x{shape[0]}", None, t4k, n4k, "images",
                            f"numpy peak {traced_peak / 2**20:.0f} MiB "
                            f"(one image {np.prod(shape) / 2**20:.0f} MiB); max RSS {rss / 1024:.0f} MiB"))

    # ---- k-means: scikit-learn vs FAISS
    n_km, k_km = (2000, 8) if args.quick else (args.kmeans_n, 100)
    feats = structured_features(n_km, args.dim, seed=1)
    t_nv, (_, lab_nv) = measure(lambda: naive_kmeans(feats, k_km, seed=0, iters=20), 1)
    t_us, km = measure(lambda: kmeans(feats, k_km, seed=0, iters=20, gpu="off"), max(1, reps - 1))
    progress("k-means done")
    rep.rows.append(Row("k-means", f"{n_km} x {args.dim}, k={k_km}, 20 iters", t_nv, t_us, n_km, "rows",
                        "scikit-learn KMeans vs FAISS"))
    rep.checks.append(f"k-means: mean cosine to centroid naive {_mean_cos(feats, lab_nv):.4f}, "
                      f"ours {_mean_cos(feats, km.assign):.4f}")

    # ---- k-center: DeepCore-style vs ours
    n_kc, b_kc = (1000, 10) if args.quick else (args.kcenter_n, args.kcenter_budget)
    feats = structured_features(n_kc, args.dim, seed=2)
    first = int(kcenter_greedy(feats, 1, seed=0, backend="numpy")[0])
    t_nv, p_nv = measure(lambda: naive_kcenter(feats, b_kc, first=first), 1)
    t_us, p_us = measure(lambda: kcenter_greedy(feats, b_kc, seed=0, backend="numpy"), reps)
    same = int(np.sum(p_nv == p_us))
    progress("k-center done")
    rep.rows.append(Row("k-center", f"{n_kc} x {args.dim}, budget {b_kc}", t_nv, t_us, b_kc, "picks",
                        f"DeepCore-style (budget x N matrix, {b_kc * n_kc * 4 / 2**20:.0f} MiB) vs O(N)"))
    rep.checks.append(f"k-center: {same}/{b_kc} picks identical in order (float32 distance ties may differ)")
    del feats

    # ---- pool scale: 1M x 384 k-means + per-cluster k-center (ours)
    n_big = 5000 if args.quick else args.big_n
    c0, t0 = time.process_time(), time.perf_counter()
    big = structured_features(n_big, args.dim, seed=3)
    t_gen = time.perf_counter() - t0
    budget = max(1, int(round(args.budget * n_big)))
    k_big = auto_clusters(n_big, budget)
    c0, t0 = time.process_time(), time.perf_counter()
    res = kmeans(big, k_big, seed=0, iters=20, gpu="off")
    t_km = time.perf_counter() - t0
    counts = np.bincount(res.assign, minlength=k_big)
    quota = np.floor(budget * counts / n_big).astype(int)
    quota[np.argsort(-(budget * counts / n_big - quota))[: budget - quota.sum()]] += 1
    picked = 0
    for c in range(k_big):
        q = int(min(quota[c], counts[c]))
        if q:
            picked += len(kcenter_greedy(big, q, seed=0, candidates=np.flatnonzero(res.assign == c),
                                         backend="numpy"))
    total = Timing(time.perf_counter() - t0, time.process_time() - c0)
    progress("1M select done")
    rep.rows.append(Row("1M select" if n_big >= 10**6 else "pool select", f"{n_big} x {args.dim}: k-means k={k_big} "
                        f"+ per-cluster k-center, budget {budget}", None, total, n_big, "rows",
                        f"k-means {t_km:.1f} s, k-center {total.wall - t_km:.1f} s, {picked} picks "
                        f"(generation {t_gen:.1f} s not counted); target < 60 s"))
    del big

    rep.facts.append(f"load average (1/5/15 min) at end: {loadavg()}; process max RSS "
                     f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (at start {rss0 / 1024:.0f})")
    return rep


def _mean_cos(x: np.ndarray, labels: np.ndarray) -> float:
    """Mean cosine similarity of L2-normalised rows to their cluster's mean direction."""
    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    k = int(labels.max()) + 1
    cent = np.zeros((k, x.shape[1]))
    np.add.at(cent, labels, xn)
    cent /= np.maximum(np.linalg.norm(cent, axis=1, keepdims=True), 1e-12)
    return float(np.mean(np.sum(xn * cent[labels], 1)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder (realsr/HR)")
    ap.add_argument("--quick", action="store_true", help="smoke run on small synthetic data")
    ap.add_argument("--synthetic", action="store_true", help="synthetic images even without --quick")
    ap.add_argument("--markdown", type=Path, default=None, help="also write the table as markdown here")
    ap.add_argument("--repeats", type=int, default=3, help="best of N for the stage timings")
    ap.add_argument("--patch", type=int, default=64, help="tile side (stride = patch // 2)")
    ap.add_argument("--workers", type=int, default=2, help="decoding threads of prefetch_images")
    ap.add_argument("--mosaics", type=int, default=2, help="number of 3840x2160 mosaics")
    ap.add_argument("--feature-tiles", type=int, default=16, help="tiles per image embedded (evenly spaced)")
    ap.add_argument("--feature-size", type=int, default=None, help="backbone input side (default: the backbone's)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--kmeans-n", type=int, default=100_000)
    ap.add_argument("--kcenter-n", type=int, default=50_000)
    ap.add_argument("--kcenter-budget", type=int, default=500)
    ap.add_argument("--big-n", type=int, default=1_000_000)
    ap.add_argument("--stats-trials", type=int, default=8,
                    help="back-to-back (copy bandwidth, stats) trials for the spread of the roofline ratio")
    ap.add_argument("--stats-only", action="store_true",
                    help="only the statistics row and its bandwidth trials (no decode, features, pipeline, "
                         "4K, k-means, k-center stages)")
    ap.add_argument("--budget", type=float, default=0.01, help="selection fraction of the pool-scale run")
    args = ap.parse_args(argv)
    if args.quick:
        args.repeats = 1
        args.feature_tiles = min(args.feature_tiles, 4)
        args.feature_size = args.feature_size or 32
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.quick:  # a smoke run: one thread avoids OpenMP oversubscription on a busy CI machine
        from threadpoolctl import threadpool_limits

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with threadpool_limits(1):
                rep = run(args)
        finally:
            torch.set_num_threads(threads)
    else:
        rep = run(args)
    print(rep.text())
    if args.markdown is not None:
        args.markdown.write_text(rep.markdown())
        print(f"markdown: {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
