"""Compressed students built from a teacher's architecture, and the feature taps KD uses.

A student keeps the teacher's architecture (so its encoder / decoder structure matches) with
fewer blocks and narrower channels:

* ``dncnn``: ``depth -> round(depth * depth_ratio)`` conv layers (>= 3), ``width -> round(width *
  width_ratio)`` channels; ``bn`` / ``bias`` / ``residual`` are kept.
* ``nafnet``: ``width -> round(width * width_ratio)`` (even); every block count ``b -> ceil(b *
  depth_ratio)`` (a level the teacher populates keeps at least one block); the number of U-Net
  levels is kept, so the encoder/decoder correspondence is one-to-one.

With ``max_ratio`` set (default 0.2), :func:`make_student` additionally narrows the student
until both its parameter count and its FLOPs are at most ``max_ratio`` of the teacher's (measured
with :func:`tripled_fast.metrics.cost.count_flops` on a ``64 x 64`` probe), i.e. >= 80 % compression.

**Feature taps** (:func:`default_taps`) name the modules whose outputs are distilled:

* ``dncnn``: encoder = the ReLU after conv ``depth // 2`` (the end of
  :meth:`DnCNN.encoder_decoder_split`'s encoder); decoder = the ReLU before the last conv.
* ``nafnet``: encoder = ``middle`` (the bottleneck); decoder = ``decoders.<L-1>`` (the
  full-resolution decoder stage, right before ``ending``).
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any

from torch import nn

from tripled_fast.metrics.cost import count_flops, count_params
from tripled_fast.train.archs import ARCHS, DnCNN, NAFNet, build_model

__all__ = [
    "FeatureTaps",
    "arch_defaults",
    "student_kwargs",
    "make_student",
    "infer_arch",
    "default_taps",
]

_CLASSES: dict[str, type[nn.Module]] = {"dncnn": DnCNN, "nafnet": NAFNet}


@dataclass(frozen=True)
class FeatureTaps:
    """Module names (as in ``model.named_modules()``) whose outputs are distilled."""

    encoder: tuple[str, ...]
    decoder: tuple[str, ...]


def _check_arch(arch: str) -> type[nn.Module]:
    if arch not in _CLASSES:
        supported = ", ".join(sorted(_CLASSES))
        raise ValueError(f"arch {arch!r}: students can be made for {supported} (registry has {', '.join(ARCHS)})")
    return _CLASSES[arch]


def arch_defaults(arch: str, kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The architecture's keyword defaults (besides channels / scale) overridden by ``kwargs``."""
    cls = _check_arch(arch)
    out: dict[str, Any] = {}
    for name, p in inspect.signature(cls).parameters.items():
        if name in ("self", "in_ch", "out_ch", "scale") or p.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        out[name] = p.default
    for k, v in (kwargs or {}).items():
        if k not in out:
            raise ValueError(f"arch {arch!r}: unknown option {k!r}; expected one of {', '.join(out)}")
        out[k] = v
    return out


def _round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def student_kwargs(
    arch: str, teacher_kwargs: dict[str, Any] | None, *, width_ratio: float = 0.5, depth_ratio: float = 0.5
) -> dict[str, Any]:
    """Architecture options of the student for a teacher with ``teacher_kwargs``.

    Args:
        arch: ``"dncnn"`` or ``"nafnet"``.
        teacher_kwargs: the teacher's options (missing ones take the architecture defaults).
        width_ratio: channel multiplier in ``(0, 1]``.
        depth_ratio: block / layer multiplier in ``(0, 1]``.
    """
    if not (0.0 < width_ratio <= 1.0) or not (0.0 < depth_ratio <= 1.0):
        raise ValueError(f"width_ratio and depth_ratio: expected values in (0, 1], got {width_ratio}, {depth_ratio}")
    t = arch_defaults(arch, teacher_kwargs)
    s = dict(t)
    if arch == "dncnn":
        s["depth"] = max(3, min(t["depth"], _round_half_up(t["depth"] * depth_ratio)))
        s["width"] = max(1, _round_half_up(t["width"] * width_ratio))
    else:  # nafnet
        s["width"] = max(2, 2 * _round_half_up(t["width"] * width_ratio / 2))

        def shrink(b: int) -> int:
            return 0 if b == 0 else max(1, math.ceil(b * depth_ratio - 1e-9))

        s["enc_blocks"] = [shrink(int(b)) for b in t["enc_blocks"]]
        s["dec_blocks"] = [shrink(int(b)) for b in t["dec_blocks"]]
        s["middle_blocks"] = shrink(int(t["middle_blocks"]))
    return s


def make_student(
    teacher_arch: str,
    teacher_kwargs: dict[str, Any] | None = None,
    *,
    in_ch: int,
    out_ch: int | None = None,
    scale: int = 1,
    width_ratio: float = 0.5,
    depth_ratio: float = 0.5,
    max_ratio: float | None = 0.2,
    probe_size: int = 64,
    seed: int | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Build a compressed student of ``teacher_arch``; returns ``(student, student_kwargs)``.

    ``max_ratio``: when set, the width is reduced further (one step of 2 channels at a time for
    NAFNet, 1 for DnCNN) until student params and FLOPs are both ``<= max_ratio`` x the teacher's
    on a ``(1, in_ch, probe_size, probe_size)`` input; ValueError if no width achieves it.
    ``seed`` initialises the student's weights without touching the global RNG.
    """
    out_ch = in_ch if out_ch is None else out_ch
    t_kwargs = arch_defaults(teacher_arch, teacher_kwargs)
    s_kwargs = student_kwargs(teacher_arch, t_kwargs, width_ratio=width_ratio, depth_ratio=depth_ratio)
    if max_ratio is not None:
        if not (0.0 < max_ratio <= 1.0):
            raise ValueError(f"max_ratio: expected a value in (0, 1] or None, got {max_ratio}")
        probe = (1, in_ch, probe_size, probe_size)
        teacher = build_model(teacher_arch, in_ch=in_ch, out_ch=out_ch, scale=scale, seed=0, **t_kwargs)
        t_params, t_flops = count_params(teacher), count_flops(teacher, probe)
        step = 2 if teacher_arch == "nafnet" else 1
        floor = 2 if teacher_arch == "nafnet" else 1
        while True:
            cand = build_model(teacher_arch, in_ch=in_ch, out_ch=out_ch, scale=scale, seed=0, **s_kwargs)
            if count_params(cand) <= max_ratio * t_params and count_flops(cand, probe) <= max_ratio * t_flops:
                break
            if s_kwargs["width"] - step < floor:
                raise ValueError(
                    f"make_student: no {teacher_arch} width reaches max_ratio={max_ratio} with depth_ratio={depth_ratio}; "
                    "lower depth_ratio or raise max_ratio"
                )
            s_kwargs["width"] -= step
    student = build_model(teacher_arch, in_ch=in_ch, out_ch=out_ch, scale=scale, seed=seed, **s_kwargs)
    return student, s_kwargs


def infer_arch(model: nn.Module) -> tuple[str, dict[str, Any]]:
    """``(arch, kwargs)`` reproducing ``model``'s structure (for :class:`DnCNN` / :class:`NAFNet`)."""
    if isinstance(model, DnCNN):
        convs = [m for m in model.body if isinstance(m, nn.Conv2d)]
        bias = convs[1].bias is not None if len(convs) > 2 else (not model.bn)
        kw = {"depth": model.depth, "width": model.width, "bn": model.bn, "bias": bias, "residual": model.residual}
        return "dncnn", kw
    if isinstance(model, NAFNet):
        kw = {
            "width": model.width,
            "enc_blocks": [len(e) for e in model.encoders],
            "middle_blocks": len(model.middle),
            "dec_blocks": [len(d) for d in model.decoders],
        }
        return "nafnet", kw
    raise ValueError(f"infer_arch: expected a DnCNN or NAFNet module, got {type(model).__name__}")


def default_taps(model: nn.Module) -> FeatureTaps:
    """Encoder / decoder feature taps of a :class:`DnCNN` or :class:`NAFNet` (see module doc)."""
    if isinstance(model, DnCNN):
        encoder, _ = model.encoder_decoder_split()
        enc_idx = len(encoder) - 1
        dec_idx = len(model.body) - 2  # the ReLU before the output conv
        if dec_idx <= enc_idx:
            raise ValueError(f"default_taps: DnCNN depth {model.depth} too shallow for separate encoder/decoder taps")
        return FeatureTaps(encoder=(f"body.{enc_idx}",), decoder=(f"body.{dec_idx}",))
    if isinstance(model, NAFNet):
        return FeatureTaps(encoder=("middle",), decoder=(f"decoders.{len(model.decoders) - 1}",))
    raise ValueError(f"default_taps: expected a DnCNN or NAFNet module, got {type(model).__name__}")
