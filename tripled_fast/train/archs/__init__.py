"""Restoration networks, built by name through an explicit registry.

>>> from tripled_fast.train.archs import build_model
>>> net = build_model("dncnn", in_ch=1, out_ch=1, depth=8, width=32, seed=0)
>>> sorted(ARCHS)
['dncnn', 'nafnet']
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import torch
from torch import nn

from .dncnn import DnCNN, load_kair_dncnn
from .nafnet import NAFNet

_REGISTRY: dict[str, Callable[..., nn.Module]] = {
    "dncnn": DnCNN,
    "nafnet": NAFNet,
}

#: Names accepted by :func:`build_model`.
ARCHS: tuple[str, ...] = tuple(_REGISTRY)


def arch_kwargs(arch: str) -> list[str]:
    """The keyword arguments ``arch`` accepts besides ``in_ch``, ``out_ch`` and ``scale``."""
    cls = _lookup(arch)
    params = inspect.signature(cls).parameters
    return [n for n in params if n not in ("in_ch", "out_ch", "scale", "self")]


def _lookup(arch: str) -> Callable[..., nn.Module]:
    try:
        return _REGISTRY[arch]
    except KeyError:
        raise ValueError(f"unknown arch {arch!r}; expected one of {', '.join(ARCHS)}") from None


def build_model(
    arch: str, *, in_ch: int, out_ch: int, scale: int = 1, seed: int | None = None, **kwargs: Any
) -> nn.Module:
    """Build network ``arch`` mapping ``(N, in_ch, H, W)`` to ``(N, out_ch, H*scale, W*scale)``.

    ``kwargs`` are the architecture's own options (see :func:`arch_kwargs`), e.g.
    ``depth``/``width``/``bn`` for ``dncnn``, ``width``/``enc_blocks``/``middle_blocks``/
    ``dec_blocks`` for ``nafnet``. With ``seed`` the weights are initialised from that seed
    without touching the global RNG state; without it they come from torch's global RNG.
    Every model has integer attributes ``scale`` and ``size_multiple`` (input sides are padded
    internally to a multiple of it).
    """
    cls = _lookup(arch)
    allowed = arch_kwargs(arch)
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ValueError(f"arch {arch!r}: unknown option {unknown[0]!r}; expected one of {', '.join(allowed)}")
    if seed is None:
        return cls(in_ch, out_ch, scale=scale, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(in_ch, out_ch, scale=scale, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["ARCHS", "DnCNN", "NAFNet", "arch_kwargs", "build_model", "count_parameters", "load_kair_dncnn"]
