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

import numpy as np
import torch

from tripled_fast.config import EvalConfig, KDConfig
from tripled_fast.data.decode import decode_image
from tripled_fast.data.degrade import apply_degradation
from tripled_fast.data.sources import list_images
from tripled_fast.kd.autoencoder import train_clean_autoencoder
from tripled_fast.kd.flops import model_cost
from tripled_fast.kd.slkd import distill_model, precompute_teachers, train_student_alone
from tripled_fast.kd.students import infer_arch, make_student
from tripled_fast.metrics.evaluate import evaluate_pairs
from tripled_fast.train.archs import load_kair_dncnn

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def load_pool(n_patches: int, patch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n_patches`` random ``patch``-side crops of Train400 with fixed sigma-25 noise."""
    files = list_images(SHARED / "data/denoise/Train400")
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


def load_test(max_images: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    files = list_images(SHARED / "data/denoise/BSD68")[:max_images]
    out = []
    for i, f in enumerate(files):
        gt = decode_image(SHARED / "data/denoise/BSD68" / f, color="gray")
        out.append((f, apply_degradation(gt, "noise:sigma=25", np.random.default_rng(i)), gt))
    return out


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
    ap.add_argument("--variants", nargs="+", default=["alone", "slkd"])
    ap.add_argument("--w-drl", type=float, default=0.1)
    ap.add_argument("--w-irl", type=float, default=0.1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "kd_results.json"))
    a = ap.parse_args()
    torch.set_num_threads(2)

    t0 = time.perf_counter()
    teacher = load_kair_dncnn(SHARED / "weights/dncnn_25_kair.pth")
    arch, t_kwargs = infer_arch(teacher)
    lq, gt = load_pool(a.patches, a.patch, seed=1234)
    test = load_test(a.test_images)
    base = KDConfig(
        steps=a.steps, batch_size=a.batch, patch=a.patch, lr=1e-3, min_lr=1e-5, log_every=25,
        w_pixel=1.0, w_drl=a.w_drl, w_irl=a.w_irl, w_output=0.0, match_channels=a.match_channels,
        cache_teachers=True, ae_steps=a.ae_steps, ae_lr=a.ae_lr, ae_init="teacher",
    )
    report: dict = {"args": vars(a), "config": base.to_dict(), "runs": []}
    shape = (1, 1, 256, 256)

    ae = train_clean_autoencoder(teacher, gt, steps=a.ae_steps, batch_size=a.batch, patch=a.patch, lr=a.ae_lr, seed=0)
    report["teacher_b"] = {"seconds": ae.seconds, "l1_first5": float(np.mean(ae.losses[:5])),
                           "l1_last5": float(np.mean(ae.losses[-5:]))}
    print("teacher B", report["teacher_b"], flush=True)
    probe, _ = make_student(arch, t_kwargs, in_ch=1, seed=0)
    # one cache (with Teacher A outputs) serves every SLKD variant and seed
    cache = None
    if any(v != "alone" for v in a.variants):
        cache = precompute_teachers(teacher, ae.model, probe, (lq, gt), dataclasses.replace(base, w_output=1.0), seed=0)
        report["cache_s"] = cache.seconds
        print("cache", f"{cache.seconds:.1f}s", flush=True)

    evcfg = EvalConfig(crop_border=0)
    t_eval = evaluate_pairs(teacher, test, scale=1, cfg=evcfg)
    t_cost = model_cost(teacher, shape, latency=True)
    report["teacher"] = {"psnr": t_eval.psnr, "ssim": t_eval.ssim, **t_cost.to_dict()}
    print("teacher", report["teacher"], flush=True)

    for seed in a.seeds:
        for variant in a.variants:
            student, s_kwargs = make_student(arch, t_kwargs, in_ch=1, seed=seed)
            start = time.perf_counter()
            if variant == "alone":
                res = train_student_alone(student, (lq, gt), base, seed=seed)
            else:
                cfg = dataclasses.replace(base, w_output=1.0 if variant == "slkd_out" else 0.0)
                res = distill_model(teacher, ae.model, student, (lq, gt), cfg, seed=seed, cache=cache)
            ev = evaluate_pairs(res.student, test, scale=1, cfg=evcfg)
            cost = model_cost(res.student, shape, latency=True)
            row = {"variant": variant, "seed": seed, "psnr": ev.psnr, "ssim": ev.ssim, "train_s": time.perf_counter() - start,
                   "student_kwargs": s_kwargs, "history": res.history, **cost.to_dict()}
            report["runs"].append(row)
            print(variant, seed, f"psnr={ev.psnr:.3f} ssim={ev.ssim:.4f} train={row['train_s']:.0f}s", flush=True)
            Path(a.out).write_text(json.dumps(report, indent=1))
    report["total_s"] = time.perf_counter() - t0
    Path(a.out).write_text(json.dumps(report, indent=1))
    print("total", report["total_s"], flush=True)


if __name__ == "__main__":
    main()
