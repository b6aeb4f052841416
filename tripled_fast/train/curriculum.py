"""The two-stage TripleD training curriculum.

Stage 1 trains the first ``round(cfg.stage1_steps * cfg.steps)`` steps on the easy,
low-complexity representatives. At the switch, every stage-2 candidate is scored with the
current model (per-sample loss on whole patches, no augmentation, batched, no grad) and the
``stage2_quota`` candidates with the HIGHEST loss - the samples the maturing model is still
uncertain about - join the stage-1 set for the remaining steps. One cosine LR schedule and one
weight EMA span both stages, and the whole run is resumable through ``state_path``.

>>> plan = CurriculumPlan(stage1=np.array([0, 1, 2]), stage2_candidates=np.array([3, 4, 5, 6]),
...                       stage2_quota=2)
>>> res = train_curriculum(model, pack, plan, cfg, seed=0)            # doctest: +SKIP
>>> res.stage2_chosen                                                  # doctest: +SKIP
array([4, 6])
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..config import TrainConfig
from .loop import Phase, TrainResult, per_sample_loss, resolve_device, train_model
from .packed import PackedPairs, PairPatchDataset


@dataclass(frozen=True)
class CurriculumPlan:
    """Pack rows of the two stages (``stage1`` and ``stage2_candidates`` are int arrays)."""

    stage1: np.ndarray
    stage2_candidates: np.ndarray
    stage2_quota: int

    def __post_init__(self) -> None:
        s1 = np.asarray(self.stage1, dtype=np.int64).reshape(-1)
        cand = np.asarray(self.stage2_candidates, dtype=np.int64).reshape(-1)
        object.__setattr__(self, "stage1", s1)
        object.__setattr__(self, "stage2_candidates", cand)
        if s1.size == 0:
            raise ValueError("CurriculumPlan.stage1: expected at least one pack row, got none")
        if not 0 <= self.stage2_quota <= cand.size:
            raise ValueError(
                f"CurriculumPlan.stage2_quota: expected 0 <= quota <= {cand.size} candidates, got {self.stage2_quota}"
            )
        if np.unique(cand).size != cand.size:
            raise ValueError("CurriculumPlan.stage2_candidates: rows must be unique")

    def check_rows(self, n: int) -> None:
        """Raise ``ValueError`` unless every row lies in ``[0, n)``."""
        for name, rows in (("stage1", self.stage1), ("stage2_candidates", self.stage2_candidates)):
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                raise ValueError(f"CurriculumPlan.{name}: rows must lie in [0, {n}), got [{rows.min()}, {rows.max()}]")


@dataclass
class CurriculumResult:
    """``train_result`` of the whole run and the chosen stage-2 pack rows (candidate order)."""

    train_result: TrainResult
    stage2_chosen: np.ndarray
    stage2_patch_ids: np.ndarray
    stage1_steps: int


def stage1_step_count(cfg: TrainConfig) -> int:
    """Steps of stage 1: ``round(cfg.stage1_steps * cfg.steps)`` clipped to ``[0, steps]``."""
    if not 0.0 <= cfg.stage1_steps <= 1.0:
        raise ValueError(f"train.stage1_steps: expected a fraction in [0, 1], got {cfg.stage1_steps}")
    return int(min(cfg.steps, max(0, round(cfg.stage1_steps * cfg.steps))))


@torch.no_grad()
def score_rows(
    model: nn.Module,
    data: PairPatchDataset,
    rows: np.ndarray,
    *,
    loss: str = "l1",
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    amp: bool = False,
) -> np.ndarray:
    """Per-sample loss of ``model`` on whole patches of pack ``rows`` (no crop, no augmentation).

    Returns float64 ``len(rows)`` in row order. The model runs as given (set eval mode first
    for batch-norm nets).
    """
    rows = np.asarray(rows, dtype=np.int64)
    dev = torch.device(device)
    out = np.empty(len(rows), dtype=np.float64)
    rng = np.random.default_rng(0)  # draws are ignored: no crop, no augmentation
    for i in range(0, len(rows), batch_size):
        chunk = rows[i : i + batch_size]
        lq, gt = data.batch(chunk, rng, device=dev, augment=False, crop=False)
        ctx = torch.autocast(dev.type, dtype=torch.bfloat16) if amp else torch.autocast(dev.type, enabled=False)
        with ctx:
            pred = model(lq)
        out[i : i + len(chunk)] = per_sample_loss(pred, gt, loss).double().cpu().numpy()
    return out


def top_loss(candidates: np.ndarray, losses: np.ndarray, quota: int) -> np.ndarray:
    """The ``quota`` candidates of highest loss, in candidate order (ties: earlier candidate)."""
    order = np.argsort(-np.asarray(losses), kind="stable")[:quota]
    return np.asarray(candidates, dtype=np.int64)[np.sort(order)]


def stage2_selector(
    data: PairPatchDataset, plan: CurriculumPlan, cfg: TrainConfig, device: torch.device
) -> Callable[[nn.Module], np.ndarray]:
    """The ``Phase.extend`` hook of stage 2: score the candidates, keep the top-loss quota."""
    amp = cfg.amp == "bf16" or (cfg.amp == "auto" and device.type == "cuda")

    def select(model: nn.Module) -> np.ndarray:
        if plan.stage2_quota == 0:
            return np.empty(0, dtype=np.int64)
        losses = score_rows(model, data, plan.stage2_candidates, loss=cfg.loss,
                            batch_size=max(cfg.batch_size, 64), device=device, amp=amp)
        return top_loss(plan.stage2_candidates, losses, plan.stage2_quota)

    return select


def train_curriculum(
    model: nn.Module,
    pack: PackedPairs | str | os.PathLike,
    plan: CurriculumPlan,
    cfg: TrainConfig,
    *,
    seed: int,
    device: str | torch.device = "auto",
    val: Callable[[nn.Module], float] | None = None,
    progress: bool = True,
    state_path: str | Path | None = None,
    stop_at: int | None = None,
) -> CurriculumResult:
    """Run the two-stage curriculum on one pack (crop / augment from ``cfg.crop`` / ``cfg.augment``).

    Stage 2 trains on ``stage1 ∪ chosen``; the other arguments are those of
    :func:`~tripled_fast.train.loop.train_model`. ``stage2_chosen`` is empty when the run was
    stopped (``stop_at``) before stage 2 began.
    """
    data = pack if isinstance(pack, PairPatchDataset) else PairPatchDataset(
        pack, augment=cfg.augment, crop=cfg.crop, seed=seed)
    plan.check_rows(len(data.pack))
    dev = resolve_device(device, cfg)
    s1 = stage1_step_count(cfg)
    phases = [
        Phase(s1, plan.stage1, name="stage1"),
        Phase(cfg.steps - s1, plan.stage1, extend=stage2_selector(data, plan, cfg, dev), name="stage2"),
    ]
    result = train_model(model, data, cfg, seed=seed, device=dev, val=val, progress=progress,
                         state_path=state_path, phases=phases, stop_at=stop_at)
    chosen = result.added_rows.get("stage2", np.empty(0, dtype=np.int64))
    return CurriculumResult(
        train_result=result, stage2_chosen=chosen,
        stage2_patch_ids=np.asarray(data.pack.ids[chosen], dtype=np.int64), stage1_steps=s1,
    )
