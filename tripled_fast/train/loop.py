"""The training engine: AdamW + warm-up/cosine LR + L1/L2 loss + weight EMA, resumable.

Batches are assembled in-process from the memory-mapped pack (:meth:`PairPatchDataset.batch`):
the rows of step ``t`` and their crops/flips are a pure function of ``(seed, t)`` (epoch-wise
shuffles and per-step crops/flips from ``numpy.random.Generator`` s seeded by ``(seed, epoch)``
and ``(seed, step)``). The global RNG is never touched, a run is bitwise reproducible on the CPU, and a resumed run needs
only the step number to continue exactly where it stopped.

Speed rules (measured on the 2-core development machine, see ``tests/test_train_loop.py``):

* ``compile="auto"`` compiles on CUDA always. On the CPU it compiles only when the predicted
  saving ``remaining_steps * t_eager * (1 - 1/1.2)`` exceeds the predicted compile time
  :func:`cpu_compile_seconds` (``5 s + 2 s`` per leaf module). ``t_eager`` is predicted from the
  model's FLOPs on the first batch (:func:`cpu_step_seconds`), never timed, so the decision - and
  with it the numbers, since compiled and eager kernels round differently - does not depend on
  the machine's load: the same run on the same machine gives the same weights. Measured on the
  shared 2-core box (load ~8, one thread, batch 16 of 48x48 gray): DnCNN depth 8 width 32
  compiled in 25 s and ran 0.35 s/step vs 0.44 eager (1.25x); the default NAFNet (width 16,
  101 leaf modules) took 235 s to compile for 1.21x. Eager training on an idle core ran at
  36-40 GFLOP/s (3 x forward FLOPs per step; DnCNN d8w32 0.34 s/step, d5w16 0.040 s/step), so
  the rule assumes 30 GFLOP/s per thread: with one thread DnCNN-d8 (0.41 s/step predicted, 47 s
  compile) compiles from ~690 remaining steps on, with two from ~1370.
  A failing compile falls back to eager and is recorded in :attr:`TrainResult.compile_error`.
* CUDA: bf16 autocast (``amp="auto"``), channels-last tensors, fused AdamW.
"""
from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import TrainConfig
from ..runfiles import fingerprint
from .checkpoint import load_tensors, save_tensors
from .packed import PairPatchDataset

#: CPU inductor compile-time model: base seconds plus seconds per leaf module (measured, see above).
CPU_COMPILE_BASE_S = 5.0
CPU_COMPILE_PER_MODULE_S = 2.0
#: Conservative CPU speed-up assumed for compiled small restoration nets (measured 1.2-1.25x).
CPU_COMPILE_SPEEDUP = 1.2
#: Eager CPU training throughput assumed per thread (3 x forward FLOPs per step; measured 36-40).
CPU_TRAIN_FLOPS_PER_THREAD = 30e9

_LOSSES = ("l1", "l2")
_STATE_VERSION = 1


# --------------------------------------------------------------------------- small pure pieces
def warmup_steps(cfg: TrainConfig) -> int:
    """Linear warm-up length: ``cfg.warmup_steps`` or ``min(100, steps // 20)``."""
    w = cfg.warmup_steps if cfg.warmup_steps is not None else min(100, cfg.steps // 20)
    return max(0, min(int(w), cfg.steps))


def lr_at(step: int, total: int, lr: float, min_lr: float, warmup: int) -> float:
    """Learning rate of step ``step`` (0-based) of ``total``: linear warm-up, then one cosine."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return min_lr + 0.5 * (lr - min_lr) * (1.0 + math.cos(math.pi * min(1.0, t)))


def per_sample_loss(out: torch.Tensor, gt: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """``(B, C, H, W) x 2 -> (B,)`` mean absolute (``l1``) or squared (``l2``) error, in float32."""
    d = out.float() - gt.float()
    if kind == "l1":
        return d.abs().flatten(1).mean(1)
    if kind == "l2":
        return d.square().flatten(1).mean(1)
    raise ValueError(f"loss: expected one of {_LOSSES}, got {kind!r}")


def pixel_loss(out: torch.Tensor, gt: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Batch-mean pixel loss (BasicSR ``L1Loss`` / ``MSELoss`` with ``reduction='mean'``)."""
    if kind == "l1":
        return F.l1_loss(out.float(), gt)
    if kind == "l2":
        return F.mse_loss(out.float(), gt)
    raise ValueError(f"loss: expected one of {_LOSSES}, got {kind!r}")


def cpu_compile_seconds(model: nn.Module) -> float:
    """Predicted CPU ``torch.compile`` time (forward + backward graphs) of ``model``."""
    leaves = sum(1 for m in model.modules() if not any(True for _ in m.children()))
    return CPU_COMPILE_BASE_S + CPU_COMPILE_PER_MODULE_S * leaves


def cpu_step_seconds(model: nn.Module, batch_shape: tuple[int, int, int, int]) -> float:
    """Predicted eager CPU seconds of one training step (forward + backward) on ``batch_shape``
    ``(N, C, H, W)``: ``3 x`` forward FLOPs at :data:`CPU_TRAIN_FLOPS_PER_THREAD` per torch thread."""
    from ..metrics.cost import count_flops

    flops = count_flops(model, batch_shape)
    return 3.0 * flops / (CPU_TRAIN_FLOPS_PER_THREAD * max(1, torch.get_num_threads()))


def resolve_device(device: str | torch.device = "auto", cfg: TrainConfig | None = None) -> torch.device:
    """``"auto"`` defers to ``cfg.device``; an ``"auto"`` there means CUDA when available."""
    if str(device) == "auto" and cfg is not None:
        device = cfg.device
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available on this machine")
    return dev


class RowStream:
    """Epoch-wise shuffled batches over ``rows``: the batch of step ``t`` is a pure function of t.

    Positions ``t*B ... t*B+B-1`` of the infinite sequence ``perm_0 + perm_1 + ...`` where
    ``perm_e`` is a permutation of ``rows`` drawn from ``default_rng((seed, 2, tag, e))``.
    """

    def __init__(self, rows: np.ndarray, batch_size: int, seed: int, tag: int) -> None:
        self.rows = np.asarray(rows, dtype=np.int64)
        if self.rows.size == 0:
            raise ValueError("training rows: expected at least one patch, got none")
        self.batch_size, self.seed, self.tag = int(batch_size), int(seed), int(tag)
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        p = self._perms.get(epoch)
        if p is None:
            if len(self._perms) > 4:
                self._perms.clear()
            p = self.rows[np.random.default_rng((self.seed, 2, self.tag, epoch)).permutation(len(self.rows))]
            self._perms[epoch] = p
        return p

    def batch_rows(self, t: int) -> np.ndarray:
        n, b = len(self.rows), self.batch_size
        pos = np.arange(t * b, (t + 1) * b, dtype=np.int64)
        epochs, offs = np.divmod(pos, n)
        out = np.empty(b, dtype=np.int64)
        for e in np.unique(epochs).tolist():
            m = epochs == e
            out[m] = self._perm(e)[offs[m]]
        return out


@dataclass(frozen=True)
class Phase:
    """A stretch of ``steps`` training steps drawing batches from pack ``rows``.

    ``extend``, if given, is called once when the phase starts with the live model (eval mode,
    no grad) and returns extra pack rows added to ``rows`` for this phase. Its result is stored
    in the resumable state, so a resumed run does not call it again.
    """

    steps: int
    rows: np.ndarray
    extend: Callable[[nn.Module], np.ndarray] | None = None
    name: str = ""


class _Ema:
    """Exponential moving average of a model's parameters (buffers are copied).

    The decay ramps up as ``min(decay, (1 + t) / (10 + t))`` so short runs are not dominated by
    the initial weights.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = min(self.decay, (1.0 + step) / (10.0 + step))
        ema_p = list(self.module.parameters())
        cur_p = list(model.parameters())
        torch._foreach_lerp_(ema_p, cur_p, 1.0 - d)
        for eb, b in zip(self.module.buffers(), model.buffers()):
            eb.copy_(b)


# --------------------------------------------------------------------------- results
@dataclass
class TrainResult:
    """Outcome of :func:`train_model`.

    ``model`` carries the EMA weights when ``cfg.ema > 0`` (eval mode). ``history`` rows:
    ``{"step", "loss", "lr", "seconds"}`` every ``cfg.log_every`` steps, plus ``"val"`` where the
    callback ran. ``steps_per_s`` counts the steps of this call over its wall time (compile
    included). ``added_rows`` maps phase names to the rows their ``extend`` returned.
    """

    model: nn.Module
    history: list[dict[str, float]]
    seconds: float
    steps_per_s: float
    compiled: bool
    compile_error: str | None = None
    compile_seconds: float = 0.0
    step: int = 0
    finished: bool = True
    resumed_from: int = 0
    device: str = "cpu"
    added_rows: dict[str, np.ndarray] = field(default_factory=dict)


# --------------------------------------------------------------------------- resumable state
def _state_fingerprint(cfg: TrainConfig, seed: int, data: PairPatchDataset, phases: Sequence[Phase]) -> str:
    relevant = {k: v for k, v in cfg.to_dict().items()
                if k not in ("log_every", "checkpoint_every", "val_every", "compile", "device", "baselines",
                             "full_max_patches")}
    return fingerprint(
        relevant, int(seed), len(data.pack), data.crop, data.augment,
        [(p.name, p.steps, int(len(p.rows)), fingerprint(np.asarray(p.rows).tolist()), p.extend is not None)
         for p in phases],
    )


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for idx, st in opt.state_dict()["state"].items():
        for name, value in st.items():
            if torch.is_tensor(value):
                out[f"optim.{idx}.{name}"] = value
    return out


def _load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    opt.load_state_dict({"state": state, "param_groups": opt.state_dict()["param_groups"]})


def _prefixed(prefix: str, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    n = len(prefix)
    return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix)}


def load_train_state(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """Read a resumable state file: ``({"model": sd, "ema": sd, "optim": {...}}, meta)``."""
    tensors, meta = load_tensors(path)
    return {
        "model": _prefixed("model.", tensors),
        "ema": _prefixed("ema.", tensors),
        "optim": {k: v for k, v in tensors.items() if k.startswith("optim.")},
    }, meta


# --------------------------------------------------------------------------- the engine
def train_model(
    model: nn.Module,
    train_data: PairPatchDataset,
    cfg: TrainConfig,
    *,
    seed: int,
    device: str | torch.device = "auto",
    val: Callable[[nn.Module], float] | None = None,
    progress: bool = True,
    state_path: str | Path | None = None,
    phases: Sequence[Phase] | None = None,
    stop_at: int | None = None,
) -> TrainResult:
    """Train ``model`` for ``cfg.steps`` steps on ``train_data`` (a :class:`PairPatchDataset`).

    Args:
        model: the network (modified in place and returned in the result).
        train_data: patches and their crop/augment settings; batches of ``cfg.batch_size`` rows
            of ``train_data.rows`` (shuffled per epoch) unless ``phases`` is given.
        cfg: steps, batch size, LR (``lr`` -> ``min_lr`` cosine after ``warmup_steps``), ``loss``,
            ``ema``, ``compile``, ``amp``, ``log_every``, ``checkpoint_every``, ``val_every``.
        seed: all sampling randomness derives from it (non-negative).
        device: ``"auto"`` uses ``cfg.device`` (itself ``"auto"`` = CUDA when available).
        val: called with the evaluation model (EMA if enabled, eval mode, no grad) every
            ``cfg.val_every`` steps and at the end; its float lands in ``history``.
        progress: show a tqdm bar.
        state_path: a ``.safetensors`` file for the resumable state (model, EMA, AdamW moments,
            step, history, phase rows) written atomically every ``cfg.checkpoint_every`` steps
            and at the end. If it exists, training resumes from it (it must come from the same
            config, seed and data, else ``ValueError``) and ends with the same weights as an
            uninterrupted run.
        phases: consecutive :class:`Phase` s whose ``steps`` sum to ``cfg.steps`` (one cosine
            schedule and one EMA across them), e.g. the TripleD curriculum; default one phase
            over ``train_data.rows``.
        stop_at: stop after this many steps in total (saving the state), e.g. before a job's
            time limit; rerun to continue.
    """
    if seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed}")
    if cfg.loss not in _LOSSES:
        raise ValueError(f"train.loss: expected one of {_LOSSES}, got {cfg.loss!r}")
    if cfg.compile not in ("auto", "on", "off"):
        raise ValueError(f"train.compile: expected auto, on or off, got {cfg.compile!r}")
    if cfg.amp not in ("auto", "off", "bf16"):
        raise ValueError(f"train.amp: expected auto, off or bf16, got {cfg.amp!r}")
    if cfg.steps < 1 or cfg.batch_size < 1:
        raise ValueError(f"train: expected steps >= 1 and batch_size >= 1, got {cfg.steps} and {cfg.batch_size}")
    if not 0.0 <= cfg.ema < 1.0:
        raise ValueError(f"train.ema: expected a decay in [0, 1), got {cfg.ema}")
    if not isinstance(train_data, PairPatchDataset):
        raise ValueError(
            f"train_data: expected a PairPatchDataset, got {type(train_data).__name__} "
            "(for a CurriculumPlan use tripled_fast.train.curriculum.train_curriculum)"
        )
    phases = list(phases) if phases is not None else [Phase(cfg.steps, train_data.rows, name="train")]
    if sum(p.steps for p in phases) != cfg.steps or any(p.steps < 0 for p in phases):
        raise ValueError(f"phases: expected non-negative steps summing to {cfg.steps}, got {[p.steps for p in phases]}")
    total = cfg.steps
    stop = total if stop_at is None else max(0, min(int(stop_at), total))

    dev = resolve_device(device, cfg)
    cuda = dev.type == "cuda"
    model.to(dev)
    if cuda:
        model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.99),
        **({"fused": True} if cuda else {}),
    )
    ema = _Ema(model, cfg.ema) if cfg.ema > 0 else None
    use_amp = cfg.amp == "bf16" or (cfg.amp == "auto" and cuda)
    autocast = (lambda: torch.autocast(dev.type, dtype=torch.bfloat16)) if use_amp else nullcontext
    warm = warmup_steps(cfg)

    # ---- resume
    state_path = Path(state_path) if state_path is not None else None
    fp = _state_fingerprint(cfg, seed, train_data, phases)
    step, history, prev_seconds = 0, [], 0.0
    added: dict[str, np.ndarray] = {}
    compiled_before = False
    if state_path is not None and state_path.exists():
        groups, meta = load_train_state(state_path)
        if meta.get("version") != _STATE_VERSION or meta.get("fingerprint") != fp:
            raise ValueError(
                f"{state_path}: training state belongs to a different config, seed or data set; "
                "delete it to start over"
            )
        model.load_state_dict(groups["model"])
        if ema is not None:
            ema.module.load_state_dict(groups["ema"])
        if groups["optim"]:
            _load_optimizer(opt, groups["optim"])
        step = int(meta["step"])
        history = list(meta["history"])
        prev_seconds = float(meta["seconds"])
        added = {k: np.asarray(v, dtype=np.int64) for k, v in meta["added_rows"].items()}
        compiled_before = bool(meta.get("compiled", False))
        window = meta.get("loss_window", [0.0, 0])
    else:
        window = [0.0, 0]
    resumed_from = step

    def save_state() -> None:
        if state_path is None:
            return
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        if ema is not None:
            tensors.update({f"ema.{k}": v for k, v in ema.module.state_dict().items()})
        tensors.update(_optimizer_tensors(opt))
        save_tensors(state_path, tensors, {
            "version": _STATE_VERSION, "fingerprint": fp, "step": step, "history": history,
            "seconds": prev_seconds + (time.perf_counter() - t_start),
            "added_rows": {k: v.tolist() for k, v in added.items()},
            "compiled": compiled or compiled_before,
            "loss_window": [float(loss_sum.item()), n_window],
        })

    # ---- compile decision
    fwd: Callable[[torch.Tensor], torch.Tensor] = model
    compiled, compile_error, compile_seconds = False, None, 0.0
    decide_cpu = cfg.compile == "auto" and not cuda  # decided on the first batch, from FLOPs
    if cfg.compile == "on" or (cfg.compile == "auto" and cuda):
        fwd, pending_compile = torch.compile(model, dynamic=False), True
    else:
        pending_compile = False

    def eval_model() -> nn.Module:
        return ema.module if ema is not None else model

    def run_val() -> float:
        m = eval_model()
        was_training = m.training
        m.eval()
        with torch.no_grad():
            v = float(val(m))  # type: ignore[misc]
        m.train(was_training)
        return v

    def one_step(lq: torch.Tensor, gt: torch.Tensor, f: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        with autocast():
            out = f(lq)
        loss = pixel_loss(out, gt, cfg.loss)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.detach()

    from tqdm.auto import tqdm

    bar = tqdm(total=total, initial=step, disable=not progress, desc="train", unit="step",
               dynamic_ncols=True, leave=False)
    t_start = time.perf_counter()
    loss_sum = torch.tensor(float(window[0]), dtype=torch.float32, device=dev)
    n_window = int(window[1])
    phase_start = 0
    try:
        for pi, phase in enumerate(phases):
            phase_end = phase_start + phase.steps
            if step >= phase_end or phase.steps == 0:
                phase_start = phase_end
                continue
            key = phase.name or str(pi)
            if phase.extend is not None and key not in added:
                model.eval()
                with torch.no_grad():
                    added[key] = np.asarray(phase.extend(model), dtype=np.int64).reshape(-1)
                model.train()
            rows = np.asarray(phase.rows, dtype=np.int64)
            if key in added:
                rows = np.unique(np.concatenate([rows, added[key]]))
            stream = RowStream(rows, cfg.batch_size, seed, tag=pi)
            while step < min(phase_end, stop):
                lr = lr_at(step, total, cfg.lr, cfg.min_lr, warm)
                for g in opt.param_groups:
                    g["lr"] = lr
                brows = stream.batch_rows(step - phase_start)
                lq, gt = train_data.batch(brows, np.random.default_rng((seed, 1, step)), device=dev,
                                          channels_last=cuda)
                if decide_cpu:
                    saving = (stop - step) * cpu_step_seconds(model, tuple(lq.shape)) * (1.0 - 1.0 / CPU_COMPILE_SPEEDUP)
                    if saving > cpu_compile_seconds(model):
                        fwd, pending_compile = torch.compile(model, dynamic=False), True
                    decide_cpu = False
                if pending_compile:
                    t0 = time.perf_counter()
                    try:
                        loss = one_step(lq, gt, fwd)
                        compiled = True
                    except Exception as exc:  # noqa: BLE001 - any compiler failure falls back to eager
                        compile_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                        fwd = model
                        opt.zero_grad(set_to_none=True)
                        loss = one_step(lq, gt, fwd)
                    compile_seconds = time.perf_counter() - t0
                    pending_compile = False
                else:
                    loss = one_step(lq, gt, fwd)
                if ema is not None:
                    ema.update(model, step)
                step += 1
                loss_sum += loss
                n_window += 1
                bar.update(1)
                row: dict[str, float] | None = None
                if step % cfg.log_every == 0 or step == total:
                    row = {"step": step, "loss": float(loss_sum.item()) / max(n_window, 1), "lr": lr,
                           "seconds": prev_seconds + time.perf_counter() - t_start}
                    loss_sum.zero_()
                    n_window = 0
                    bar.set_postfix(loss=f"{row['loss']:.4g}", lr=f"{lr:.2e}")
                if val is not None and ((cfg.val_every and step % cfg.val_every == 0) or step == total):
                    row = row or {"step": step, "lr": lr, "seconds": prev_seconds + time.perf_counter() - t_start}
                    row["val"] = run_val()
                if row is not None:
                    history.append(row)
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < stop:
                    save_state()
            phase_start = phase_end
            if step >= stop:
                break
        if step > resumed_from or not (state_path and state_path.exists()):
            save_state()
    finally:
        bar.close()
    elapsed = time.perf_counter() - t_start
    if ema is not None:
        model.load_state_dict(ema.module.state_dict())
    model.eval()
    ran = step - resumed_from
    return TrainResult(
        model=model, history=history, seconds=prev_seconds + elapsed,
        steps_per_s=ran / elapsed if ran and elapsed > 0 else 0.0,
        compiled=compiled or (compiled_before and ran == 0), compile_error=compile_error,
        compile_seconds=compile_seconds, step=step, finished=step >= total, resumed_from=resumed_from,
        device=str(dev), added_rows=dict(added),
    )
