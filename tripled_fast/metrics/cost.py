"""Model cost: parameter counts, FLOPs and CPU latency on a stated input size.

FLOPs are counted with :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
multiply-adds as **two** FLOPs for convolutions, transposed convolutions, matmuls and
attention (``FLOPs = 2 x MACs``); element-wise ops (ReLU, norms, gates, bias adds,
interpolation) are not counted. For a ``k x k`` convolution with ``C_in`` inputs, ``C_out``
outputs and ``g`` groups producing an ``H_out x W_out`` map on a batch of ``N``::

    FLOPs = 2 * N * H_out * W_out * C_out * (C_in / g) * k * k

Numbers are only comparable on the same ``input_shape``; reports should always state it.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

__all__ = ["ModelCost", "count_params", "count_flops", "measure_latency", "model_cost", "conv2d_flops"]


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``model`` (all of them, or only those with ``requires_grad``).

    Shared tensors are counted once.
    """
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def conv2d_flops(
    c_in: int, c_out: int, kernel: int | tuple[int, int], out_hw: tuple[int, int], *, groups: int = 1, batch: int = 1
) -> int:
    """Closed-form FLOPs (2 x MACs, bias excluded) of one 2-D convolution, for hand checks."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    if c_in % groups or c_out % groups:
        raise ValueError(f"conv2d_flops: channels ({c_in}, {c_out}) must be divisible by groups={groups}")
    return 2 * batch * out_hw[0] * out_hw[1] * c_out * (c_in // groups) * kh * kw


def _check_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"input_shape: expected a positive (N, C, H, W) tuple, got {input_shape!r}")
    return shape


def count_flops(model: nn.Module, input_shape: tuple[int, int, int, int], *, device: str | torch.device = "cpu") -> int:
    """FLOPs (2 x MACs) of one forward pass of ``model`` on a zero tensor of ``input_shape``.

    Args:
        model: any ``nn.Module`` taking one ``(N, C, H, W)`` tensor; it runs in eval mode under
            ``torch.no_grad`` and its training flag is restored afterwards.
        input_shape: ``(N, C, H, W)``; the count scales linearly with N and (for fully
            convolutional nets) with H * W.
    Returns:
        Total FLOPs as counted by ``FlopCounterMode`` (see the module docstring).
    """
    from torch.utils.flop_counter import FlopCounterMode

    shape = _check_shape(input_shape)
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(shape, device=device)
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(x)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, int, int, int],
    *,
    repeats: int = 5,
    warmup: int = 1,
    device: str | torch.device = "cpu",
) -> float:
    """Median wall-clock seconds of one ``torch.inference_mode`` forward on random input."""
    shape = _check_shape(input_shape)
    if repeats < 1 or warmup < 0:
        raise ValueError(f"measure_latency: expected repeats >= 1 and warmup >= 0, got {repeats}, {warmup}")
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=gen).to(device)
    was_training = model.training
    model.eval()
    times: list[float] = []
    try:
        with torch.inference_mode():
            for i in range(warmup + repeats):
                if torch.device(device).type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                model(x)
                if torch.device(device).type == "cuda":
                    torch.cuda.synchronize()
                if i >= warmup:
                    times.append(time.perf_counter() - t0)
    finally:
        model.train(was_training)
    times.sort()
    return times[len(times) // 2]


@dataclass
class ModelCost:
    """Parameters and FLOPs of a model on ``input_shape`` (and optionally latency in seconds)."""

    params: int
    flops: int
    input_shape: tuple[int, int, int, int]
    latency_s: float | None = None

    def ratio_to(self, other: "ModelCost") -> dict[str, float]:
        """``{"params": self/other, "flops": self/other}`` (e.g. student cost / teacher cost)."""
        if self.input_shape != other.input_shape:
            raise ValueError(f"ModelCost.ratio_to: input shapes differ ({self.input_shape} vs {other.input_shape})")
        return {"params": self.params / other.params, "flops": self.flops / other.flops}

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        return d


def model_cost(
    model: nn.Module, input_shape: tuple[int, int, int, int], *, latency: bool = False, device: str | torch.device = "cpu"
) -> ModelCost:
    """Parameters, FLOPs and (with ``latency=True``) median CPU/GPU latency on ``input_shape``."""
    shape = _check_shape(input_shape)
    return ModelCost(
        params=count_params(model),
        flops=count_flops(model, shape, device=device),  # type: ignore[arg-type]
        input_shape=shape,  # type: ignore[arg-type]
        latency_s=measure_latency(model, shape, device=device) if latency else None,  # type: ignore[arg-type]
    )
