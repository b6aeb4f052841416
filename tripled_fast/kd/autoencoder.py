"""Teacher B for SLKD: a clean-to-clean autoencoder with the teacher's encoder/decoder structure.

:func:`train_clean_autoencoder` copies Teacher A's network, switches its global input skip off
(:func:`clean_autoencoder_copy`) and trains it with L1 to reproduce clean patches. Its decoder
features on a clean image are the targets of SLKD's Image Reconstruction Learning.

Also home of :func:`sample_crops`, the seeded aligned random crop + dihedral augmentation both
training loops in :mod:`tripled_fast.kd` draw their batches with.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AutoencoderResult", "clean_autoencoder_copy", "sample_crops", "to_tensor", "train_clean_autoencoder"]


def sample_crops(
    rng: np.random.Generator,
    gt: np.ndarray,
    lq: np.ndarray | None,
    batch: int,
    size: int,
    scale: int = 1,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Draw ``batch`` aligned random crops with a random flip / 90-degree rotation each.

    Args:
        rng: the only source of randomness.
        gt: uint8 ``N x H x W x C`` stack.
        lq: uint8 ``N x H/scale x W/scale x C`` partner stack, or None.
        size: GT crop side (a multiple of ``scale``, <= H and W).
    Returns:
        ``(gt_crops, lq_crops)``: uint8 ``batch x size x size x C`` and
        ``batch x size/scale x size/scale x C`` (None when ``lq`` is None), C-contiguous.
    """
    if gt.dtype != np.uint8 or gt.ndim != 4:
        raise ValueError(f"sample_crops: expected a uint8 N x H x W x C GT stack, got {gt.dtype} {gt.shape}")
    n, h, w, _ = gt.shape
    if size % scale or size < scale or size > h or size > w:
        raise ValueError(f"sample_crops: crop side {size} must be a multiple of scale {scale} within {h}x{w}")
    if lq is not None and (lq.shape[0] != n or lq.shape[1] * scale < h - scale + 1 or lq.shape[2] * scale < w - scale + 1):
        raise ValueError(f"sample_crops: LQ stack {lq.shape} does not match GT {gt.shape} at scale {scale}")
    idx = rng.integers(0, n, size=batch)
    ys = rng.integers(0, (h - size) // scale + 1, size=batch) * scale
    xs = rng.integers(0, (w - size) // scale + 1, size=batch) * scale
    ops = rng.integers(0, 8, size=batch)
    ls = size // scale
    g_out = np.empty((batch, size, size, gt.shape[3]), dtype=np.uint8)
    l_out = None if lq is None else np.empty((batch, ls, ls, lq.shape[3]), dtype=np.uint8)
    for b in range(batch):
        g = gt[idx[b], ys[b] : ys[b] + size, xs[b] : xs[b] + size]
        g_out[b] = _dihedral(g, int(ops[b]))
        if lq is not None and l_out is not None:
            y, x = ys[b] // scale, xs[b] // scale
            l_out[b] = _dihedral(lq[idx[b], y : y + ls, x : x + ls], int(ops[b]))
    return g_out, l_out


def _dihedral(a: np.ndarray, op: int) -> np.ndarray:
    """One of the 8 flips / rotations of an ``H x W x C`` array (op 0 = identity)."""
    if op & 4:
        a = a[:, ::-1]
    return np.rot90(a, k=op & 3, axes=(0, 1))


def to_tensor(stack: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 ``N x H x W x C`` -> float32 ``N x C x H x W`` in [0, 1] on ``device``."""
    t = torch.from_numpy(np.ascontiguousarray(stack)).to(device)
    return t.permute(0, 3, 1, 2).to(torch.float32).div_(255.0)


def clean_autoencoder_copy(teacher: nn.Module, *, init: str = "teacher", seed: int = 0) -> nn.Module:
    """A copy of ``teacher`` with its global input skip off, the starting point of Teacher B.

    Trained clean-to-clean, a residual restorer reaches the trivial "zero residual" solution and
    its decoder features carry no image content; without the skip the copy has to reconstruct
    the image through its encoder and decoder. ``init="teacher"`` keeps Teacher A's weights
    (features start in A's space, training is short); ``"random"`` re-initialises every conv
    (Kaiming normal, from ``seed``, global RNG untouched).
    """
    if not hasattr(teacher, "residual"):
        raise ValueError(f"clean_autoencoder_copy: {type(teacher).__name__} has no 'residual' attribute to switch off")
    if init not in ("teacher", "random"):
        raise ValueError(f"ae_init: expected 'teacher' or 'random', got {init!r}")
    ae = copy.deepcopy(teacher)
    ae.residual = False
    if init == "random":
        gen = torch.Generator().manual_seed(seed)
        for m in ae.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                with torch.no_grad():
                    m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in))
                    if m.bias is not None:
                        m.bias.zero_()
    for p in ae.parameters():
        p.requires_grad_(True)
    return ae.train()


@dataclass
class AutoencoderResult:
    """The trained Teacher B (eval mode, frozen) and its per-step L1 losses."""

    model: nn.Module
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train_clean_autoencoder(
    teacher: nn.Module,
    clean: np.ndarray,
    *,
    steps: int = 300,
    batch_size: int = 16,
    patch: int = 40,
    lr: float = 1e-4,
    init: str = "teacher",
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> AutoencoderResult:
    """Train Teacher B: ``teacher``'s structure, no global skip, L1 clean -> clean.

    Args:
        teacher: Teacher A (not modified; a copy is trained).
        clean: uint8 ``N x H x W x C`` clean images or patches (``H, W >= patch``).
        steps, batch_size, patch, lr: Adam with cosine decay to ``lr / 100``.
        init: ``"teacher"`` (start from A's weights) or ``"random"``.
        seed: crops, augmentation and (random init) weights.
    Returns:
        :class:`AutoencoderResult` with the model in eval mode and ``requires_grad=False``.
    """
    if steps < 0 or batch_size < 1:
        raise ValueError(f"train_clean_autoencoder: expected steps >= 0 and batch_size >= 1, got {steps}, {batch_size}")
    ae = clean_autoencoder_copy(teacher, init=init, seed=seed).to(device)
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(ae.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(steps, 1), eta_min=lr / 100)
    losses: list[float] = []
    start = time.perf_counter()
    for _ in range(steps):
        gt, _ = sample_crops(rng, clean, None, batch_size, patch)
        x = to_tensor(gt, device)
        loss = F.l1_loss(ae(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    ae.eval()
    for p in ae.parameters():
        p.requires_grad_(False)
    return AutoencoderResult(model=ae, losses=losses, seconds=time.perf_counter() - start)
