"""SLKD on the all-in-one colour task: a colour DnCNN teacher trained here on Urban100 patches
carrying six task-tagged degradations, compressed into a student; test on CBSD68 with the
same six degradations.

Steps:

1. Pool: ``--patches`` random ``--pool-patch`` crops of ``../shared/data/pool/Urban100_HR_first50``
   (seed 1234); crop k gets degradation ``k % 6`` (noise sigma 25, blur sigma 1.5, JPEG q20,
   low light, haze, rain), so every task has the same share. LQ is fixed per crop; training
   draws random ``--patch`` sub-crops with flips / rotations from these pairs.
2. Teacher A: a colour ``NAFNet(width=--teacher-width)`` (or ``--teacher-arch dncnn``) trained with the
   pixel loss only (the same loop as the students) for ``--teacher-steps``; saved as
   safetensors (``--teacher-out``) and reused from there on the next run.
3. Student: ``make_student`` defaults (half depth, half width, <= 20 % of the teacher's
   params and FLOPs). Variants as in ``bench/kd.py`` (``alone``, ``out``, ``drl``, ``irl``,
   ``slkd``, ``slkd_out``), same seeds, same batches.
4. Test: the first ``--test-images`` of sorted CBSD68, each with the six degradations (image i,
   degradation j: ``default_rng(6 i + j)``); PSNR / SSIM on RGB (BasicSR conventions, crop 0),
   mean over all pairs and per degradation.

Usage::

    PYTHONPATH=. python bench/kd_allinone.py --seeds 0 1 2 --variants alone slkd_out \\
        --out bench/kd_allinone_results.json
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

from tripled_fast.config import EvalConfig, KDConfig
from tripled_fast.data.decode import decode_image
from tripled_fast.data.degrade import apply_degradation
from tripled_fast.data.sources import list_images
from tripled_fast.kd.autoencoder import train_clean_autoencoder
from tripled_fast.metrics.cost import model_cost
from tripled_fast.kd.slkd import train_student_alone
from tripled_fast.kd.students import make_student
from tripled_fast.metrics.evaluate import evaluate_pairs
from tripled_fast.train.archs import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kd import VARIANTS, run_variants  # noqa: E402  (same variants and loop as the gray benchmark)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEGRADATIONS = ("noise:sigma=25", "blur:sigma=1.5", "jpeg:quality=20", "lowlight", "haze", "rain")


def load_pool(n_patches: int, patch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(lq, gt)`` uint8 stacks: random crops of the Urban100 pool, crop k degraded with
    ``DEGRADATIONS[k % 6]``."""
    folder = SHARED / "data/pool/Urban100_HR_first50"
    imgs = [decode_image(folder / f, color="rgb") for f in list_images(folder)]
    rng = np.random.default_rng(seed)
    gt = np.empty((n_patches, patch, patch, 3), np.uint8)
    for k in range(n_patches):
        im = imgs[int(rng.integers(len(imgs)))]
        y = int(rng.integers(0, im.shape[0] - patch + 1))
        x = int(rng.integers(0, im.shape[1] - patch + 1))
        gt[k] = im[y : y + patch, x : x + patch]
    lq = np.stack([apply_degradation(g, DEGRADATIONS[k % len(DEGRADATIONS)], rng) for k, g in enumerate(gt)])
    return lq, gt


def load_test(n_images: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The first ``n_images`` of sorted CBSD68, each with every degradation; names ``file|spec``."""
    folder = SHARED / "data/denoise/CBSD68"
    out = []
    for i, f in enumerate(list_images(folder)[:n_images]):
        gt = decode_image(folder / f, color="rgb")
        for j, spec in enumerate(DEGRADATIONS):
            out.append((f"{f}|{spec}", apply_degradation(gt, spec, np.random.default_rng(6 * i + j)), gt))
    return out


def evaluate(model: torch.nn.Module, test: list) -> dict:
    ev = evaluate_pairs(model, test, scale=1, cfg=EvalConfig(crop_border=0))
    per = {spec: float(np.mean([r["psnr"] for r in ev.rows if r["name"].endswith("|" + spec)])) for spec in DEGRADATIONS}
    return {"psnr": ev.psnr, "ssim": ev.ssim, "psnr_per_degradation": per}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patches", type=int, default=1536)
    ap.add_argument("--pool-patch", type=int, default=64)
    ap.add_argument("--patch", type=int, default=48)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--teacher-arch", default="nafnet", choices=["dncnn", "nafnet"])
    ap.add_argument("--teacher-depth", type=int, default=10, help="dncnn only")
    ap.add_argument("--teacher-width", type=int, default=24)
    ap.add_argument("--teacher-steps", type=int, default=1500)
    ap.add_argument("--teacher-out", default="", help="teacher weights file (default runs/kd_allinone/teacher_<arch>.safetensors)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ae-steps", type=int, default=150)
    ap.add_argument("--ae-lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--test-images", type=int, default=4)
    ap.add_argument("--match-channels", type=int, default=8)
    ap.add_argument("--variants", nargs="+", default=["alone", "slkd_out"], choices=["alone", *VARIANTS])
    ap.add_argument("--w-drl", type=float, default=0.1)
    ap.add_argument("--w-irl", type=float, default=0.1)
    ap.add_argument("--w-output", type=float, default=1.0)
    ap.add_argument("--stat-norm", default="teacher", choices=["none", "teacher", "dataset"])
    ap.add_argument("--stat-floor", type=float, default=0.01)
    ap.add_argument("--kd-warmup", type=int, default=100)
    ap.add_argument("--kd-ramp", type=int, default=200)
    ap.add_argument("--adapter-fit", type=int, default=0)
    ap.add_argument("--kd-clip", type=float, default=None)
    ap.add_argument("--all-channels", action="store_true")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "kd_allinone_results.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    lq, gt = load_pool(a.patches, a.pool_patch, seed=1234)
    test = load_test(a.test_images)
    base = KDConfig(
        in_ch=3, steps=a.steps, batch_size=a.batch, patch=a.patch, lr=a.lr, min_lr=1e-5, log_every=25,
        w_pixel=1.0, w_drl=a.w_drl, w_irl=a.w_irl, w_output=0.0, match_channels=a.match_channels,
        stat_norm=a.stat_norm, stat_floor=a.stat_floor, kd_warmup=a.kd_warmup, kd_ramp=a.kd_ramp, adapter_fit=a.adapter_fit, kd_clip=a.kd_clip,
        live_channels=not a.all_channels, ae_steps=a.ae_steps, ae_lr=a.ae_lr,
    )
    report: dict = {"args": vars(a), "config": base.to_dict(), "degradations": list(DEGRADATIONS), "runs": []}
    shape = (1, 3, 256, 256)

    if a.teacher_arch == "dncnn":
        t_kwargs: dict = {"depth": a.teacher_depth, "width": a.teacher_width, "bn": False}
    else:
        t_kwargs = {"width": a.teacher_width}
    teacher = build_model(a.teacher_arch, in_ch=3, out_ch=3, seed=0, **t_kwargs)
    t_path = Path(a.teacher_out or ROOT / "runs" / "kd_allinone" / f"teacher_{a.teacher_arch}.safetensors")
    if t_path.is_file():
        from safetensors.torch import load_file

        teacher.load_state_dict(load_file(str(t_path)), strict=True)
        report["teacher_train"] = {"loaded": str(t_path)}
    else:
        from safetensors.torch import save_file

        from tripled_fast.runfiles import atomic_path

        tcfg = dataclasses.replace(base, steps=a.teacher_steps, kd_warmup=0, kd_ramp=0, adapter_fit=0)
        start = time.perf_counter()
        res = train_student_alone(teacher, (lq, gt), tcfg, seed=0)
        report["teacher_train"] = {"steps": a.teacher_steps, "seconds": time.perf_counter() - start, "history": res.history}
        t_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(t_path) as tmp:
            save_file({k: v.contiguous() for k, v in teacher.state_dict().items()}, str(tmp))
    teacher.eval()
    report["teacher"] = {**evaluate(teacher, test), **model_cost(teacher, shape, latency=not a.no_latency).to_dict(), "kwargs": t_kwargs}
    print("teacher", {k: v for k, v in report["teacher"].items() if k != "history"}, flush=True)

    ae = None
    if any(VARIANTS[v](a)["w_irl"] > 0 for v in a.variants if v != "alone"):
        ae = train_clean_autoencoder(teacher, gt, steps=a.ae_steps, batch_size=a.batch, patch=a.patch, lr=a.ae_lr, seed=0)
        report["teacher_b"] = {"seconds": ae.seconds, "l1_first5": float(np.mean(ae.losses[:5])), "l1_last5": float(np.mean(ae.losses[-5:]))}
        print("teacher B", report["teacher_b"], flush=True)

    run_variants(
        a, report, t0, new_student=lambda seed: make_student(a.teacher_arch, t_kwargs, in_ch=3, seed=seed),
        teacher=teacher, teacher_b=None if ae is None else ae.model, pool=(lq, gt), base=base,
        evaluate=lambda model: evaluate(model, test), shape=shape,
    )


if __name__ == "__main__":
    main()
