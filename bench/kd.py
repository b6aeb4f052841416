"""SLKD evidence: Train400 -> BSD68 Gaussian denoising (sigma=25), DnCNN-17/64 teacher (KAIR).

Compares, for the same compressed student architecture and the same batches:
  * ``alone``      - the student trained with the pixel L1 loss only,
  * ``slkd``       - SLKD (pixel + DRL/BRISQUE on Teacher A encoder + IRL/PIQE on Teacher B decoder),
  * ``slkd_out``   - SLKD plus the output term (L1 to Teacher A's output),
over several seeds, and the teacher itself: PSNR / SSIM (BasicSR conventions, uint8 output),
params, FLOPs on 1x1x256x256, CPU latency on 1x1x256x256.

Test LQ: image i of sorted BSD68 gets ``apply_degradation(gt, "noise:sigma=25", default_rng(i))``
(Gaussian noise, rounded half up and clipped to uint8).

Usage (CPU budget setting, see bench/KD.md for the GPU-size setting)::

    PYTHONPATH=. python bench/kd.py --out bench/kd_results_w0.1.json
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from tripled_fast.config import EvalConfig, KDConfig
from tripled_fast.data.decode import decode_image
from tripled_fast.data.degrade import apply_degradation
from tripled_fast.data.sources import list_images
from tripled_fast.kd.autoencoder import train_clean_autoencoder
from tripled_fast.metrics.cost import model_cost
from tripled_fast.kd.slkd import distill_model, precompute_teachers, train_student_alone
from tripled_fast.kd.students import infer_arch, make_student
from tripled_fast.metrics.evaluate import evaluate_pairs
from tripled_fast.train.archs import load_kair_dncnn

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


# loss weights of each variant (``alone`` = pixel loss only, train_student_alone)
VARIANTS = {
    "slkd": lambda a: {"w_drl": a.w_drl, "w_irl": a.w_irl, "w_output": 0.0},
    "slkd_out": lambda a: {"w_drl": a.w_drl, "w_irl": a.w_irl, "w_output": a.w_output},
    "drl": lambda a: {"w_drl": a.w_drl, "w_irl": 0.0, "w_output": 0.0},
    "irl": lambda a: {"w_drl": 0.0, "w_irl": a.w_irl, "w_output": 0.0},
    "out": lambda a: {"w_drl": 0.0, "w_irl": 0.0, "w_output": a.w_output},
}


def train400_split(val_images: int) -> tuple[list[str], list[str]]:
    """Sorted Train400 file names: ``(training files, the last val_images held out)``."""
    files = list_images(SHARED / "data/denoise/Train400")
    return (files[:-val_images], files[-val_images:]) if val_images > 0 else (files, [])


def load_pool(n_patches: int, patch: int, seed: int, val_images: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n_patches`` random ``patch``-side crops of Train400 (without the held-out images) with
    fixed sigma-25 noise."""
    files, _ = train400_split(val_images)
    rng = np.random.default_rng(seed)
    imgs = [decode_image(SHARED / "data/denoise/Train400" / f, color="gray") for f in files]
    gt = np.empty((n_patches, patch, patch, 1), np.uint8)
    for k in range(n_patches):
        im = imgs[int(rng.integers(len(imgs)))]
        y = int(rng.integers(0, im.shape[0] - patch + 1))
        x = int(rng.integers(0, im.shape[1] - patch + 1))
        gt[k] = im[y : y + patch, x : x + patch]
    lq = np.stack([apply_degradation(g, "noise:sigma=25", rng) for g in gt])
    return lq, gt


def load_test(max_images: int, val_images: int = 0) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The first ``max_images`` of sorted BSD68, or with ``val_images > 0`` the held-out Train400
    images (validation); image i gets sigma-25 noise from ``default_rng(i)``."""
    if val_images > 0:
        folder, files = SHARED / "data/denoise/Train400", train400_split(val_images)[1]
    else:
        folder, files = SHARED / "data/denoise/BSD68", list_images(SHARED / "data/denoise/BSD68")[:max_images]
    out = []
    for i, f in enumerate(files):
        gt = decode_image(folder / f, color="gray")
        out.append((f, apply_degradation(gt, "noise:sigma=25", np.random.default_rng(i)), gt))
    return out


def load_or_train_teacher_b(teacher: torch.nn.Module, gt: np.ndarray, a: argparse.Namespace, report: dict) -> torch.nn.Module:
    """Teacher B from ``a.teacher_b_cache`` when that file exists (safetensors, saved by an
    earlier run with the same pool and AE settings), else trained here (and saved there)."""
    from safetensors.torch import load_file, save_file

    from tripled_fast.kd.autoencoder import clean_autoencoder_copy

    path = Path(a.teacher_b_cache) if a.teacher_b_cache else None
    if path is not None and path.is_file():
        model = clean_autoencoder_copy(teacher)
        model.load_state_dict(load_file(str(path)), strict=True)
        report["teacher_b"] = {"loaded": str(path)}
        return model.eval()
    ae = train_clean_autoencoder(teacher, gt, steps=a.ae_steps, batch_size=a.batch, patch=a.patch, lr=a.ae_lr, seed=0)
    report["teacher_b"] = {"seconds": ae.seconds, "l1_first5": float(np.mean(ae.losses[:5])),
                           "l1_last5": float(np.mean(ae.losses[-5:]))}
    print("teacher B", report["teacher_b"], flush=True)
    if path is not None:
        from tripled_fast.runfiles import atomic_path

        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file({k: v.contiguous() for k, v in ae.model.state_dict().items()}, str(tmp))
    return ae.model


def run_variants(
    a: argparse.Namespace, report: dict, t0: float, *, new_student: Callable[[int], tuple[torch.nn.Module, dict]],
    teacher: torch.nn.Module, teacher_b: torch.nn.Module | None, pool: tuple[np.ndarray, np.ndarray], base: KDConfig,
    evaluate: Callable[[torch.nn.Module], dict], shape: tuple[int, ...], cache=None,
) -> None:
    """Train a fresh student per seed and variant (``alone`` = pixel loss only, else
    ``VARIANTS[variant]``), evaluate it (``evaluate(model)`` returns at least ``psnr`` and
    ``ssim``) and append a row to ``report["runs"]``; ``report`` is rewritten to ``a.out``
    after every run. Shared by ``bench/kd.py`` and ``bench/kd_allinone.py``."""
    for seed in a.seeds:
        for variant in a.variants:
            student, s_kwargs = new_student(seed)
            start, cpu0 = time.perf_counter(), time.process_time()
            if variant == "alone":
                res = train_student_alone(student, pool, base, seed=seed)
            else:
                cfg = dataclasses.replace(base, **VARIANTS[variant](a))
                res = distill_model(teacher, teacher_b, student, pool, cfg, seed=seed, cache=cache)
            train_cpu = time.process_time() - cpu0
            row = {"variant": variant, "seed": seed, **evaluate(res.student), "train_s": time.perf_counter() - start,
                   "train_cpu_s": train_cpu, "student_kwargs": s_kwargs, "history": res.history,
                   **model_cost(res.student, shape, latency=not a.no_latency).to_dict()}
            report["runs"].append(row)
            print(variant, seed, f"psnr={row['psnr']:.3f} ssim={row['ssim']:.4f} train={row['train_s']:.0f}s", flush=True)
            Path(a.out).write_text(json.dumps(report, indent=1))
    report["total_s"] = time.perf_counter() - t0
    Path(a.out).write_text(json.dumps(report, indent=1))
    print("total", report["total_s"], flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=256)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=120)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--ae-steps", type=int, default=40)
    ap.add_argument("--ae-lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--test-images", type=int, default=4)
    ap.add_argument("--match-channels", type=int, default=8)
    ap.add_argument("--variants", nargs="+", default=["alone", "slkd"], choices=["alone", *VARIANTS])
    ap.add_argument("--w-drl", type=float, default=0.1)
    ap.add_argument("--w-irl", type=float, default=0.1)
    ap.add_argument("--w-output", type=float, default=1.0, help="output-term weight of the slkd_out variant")
    ap.add_argument("--stat-norm", default="none", choices=["none", "teacher", "dataset"])
    ap.add_argument("--stat-floor", type=float, default=0.01)
    ap.add_argument("--kd-warmup", type=int, default=0)
    ap.add_argument("--kd-ramp", type=int, default=0)
    ap.add_argument("--kd-clip", type=float, default=None, help="kd.kd_clip: per-element KD gradient cap (x pixel RMS)")
    ap.add_argument("--adapter-fit", type=int, default=0, help="kd.adapter_fit: warm-up steps that fit the adapters")
    ap.add_argument("--all-channels", action="store_true", help="kd.live_channels=False: also match dead teacher channels")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--val-images", type=int, default=0,
                    help="> 0: hold out the last N Train400 images and evaluate on them instead of BSD68")
    ap.add_argument("--fresh-noise", action="store_true",
                    help="fresh sigma-25 noise and a random 'patch' crop + flip/rotation every batch (no teacher cache)")
    ap.add_argument("--pool-patch", type=int, default=0, help="side of the pool patches (default: --patch)")
    ap.add_argument("--no-latency", action="store_true", help="skip the CPU latency measurement")
    ap.add_argument("--skip-teacher", action="store_true", help="do not evaluate / time the teacher (another run does)")
    ap.add_argument("--teacher-b-cache", default="", help="safetensors file: load Teacher B from it, or train and save it there")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "kd_results.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    t0 = time.perf_counter()
    teacher = load_kair_dncnn(SHARED / "weights/dncnn_25_kair.pth")
    arch, t_kwargs = infer_arch(teacher)
    lq, gt = load_pool(a.patches, a.pool_patch or a.patch, seed=1234, val_images=a.val_images)
    test = load_test(a.test_images, a.val_images)
    base = KDConfig(
        steps=a.steps, batch_size=a.batch, patch=a.patch, lr=a.lr, min_lr=1e-5, log_every=25,
        w_pixel=1.0, w_drl=a.w_drl, w_irl=a.w_irl, w_output=0.0, match_channels=a.match_channels,
        stat_norm=a.stat_norm, stat_floor=a.stat_floor, kd_warmup=a.kd_warmup, kd_ramp=a.kd_ramp, kd_clip=a.kd_clip,
        adapter_fit=a.adapter_fit, live_channels=not a.all_channels, cache_teachers=not a.fresh_noise, degrade="noise:sigma=25" if a.fresh_noise else "", ae_steps=a.ae_steps, ae_lr=a.ae_lr, ae_init="teacher",
    )
    report: dict = {"args": vars(a), "config": base.to_dict(), "runs": []}
    shape = (1, 1, 256, 256)

    teacher_b = load_or_train_teacher_b(teacher, gt, a, report)
    probe, _ = make_student(arch, t_kwargs, in_ch=1, seed=0)
    # one cache (with Teacher A outputs) serves every SLKD variant and seed
    cache = None
    if any(v != "alone" for v in a.variants) and not a.fresh_noise:
        cache = precompute_teachers(teacher, teacher_b, probe, (lq, gt), dataclasses.replace(base, w_output=1.0, w_drl=max(base.w_drl, 1e-3), w_irl=max(base.w_irl, 1e-3)), seed=0)
        report["cache_s"] = cache.seconds
        print("cache", f"{cache.seconds:.1f}s", flush=True)

    evcfg = EvalConfig(crop_border=0)
    if not a.skip_teacher:
        t_eval = evaluate_pairs(teacher, test, scale=1, cfg=evcfg)
        t_cost = model_cost(teacher, shape, latency=not a.no_latency)
        report["teacher"] = {"psnr": t_eval.psnr, "ssim": t_eval.ssim, **t_cost.to_dict()}
        print("teacher", report["teacher"], flush=True)

    def evaluate(model: torch.nn.Module) -> dict:
        ev = evaluate_pairs(model, test, scale=1, cfg=evcfg)
        return {"psnr": ev.psnr, "ssim": ev.ssim}

    run_variants(
        a, report, t0, new_student=lambda seed: make_student(arch, t_kwargs, in_ch=1, seed=seed), teacher=teacher,
        teacher_b=teacher_b, pool=(lq, gt), base=base, evaluate=evaluate, shape=shape, cache=cache,
    )


if __name__ == "__main__":
    main()
