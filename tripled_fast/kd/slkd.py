"""SLKD: dual-teacher, single-student knowledge distillation for image restoration.

After Zhang & Yan, "Knowledge Distillation for Image Restoration: Simultaneous Learning from
Degraded and Clean Images" (SLKD, arXiv:2501.09268); this is an independent implementation.

* **Teacher A** restores degraded images (e.g. KAIR's DnCNN sigma=25).
* **Teacher B** reconstructs clean images: Teacher A's structure trained clean -> clean without
  the global skip (:func:`tripled_fast.kd.autoencoder.train_clean_autoencoder`) when not given.
* **Student**: the same architecture with fewer blocks and narrower channels
  (:func:`tripled_fast.kd.students.make_student`).

Loss per batch (``LQ`` degraded input, ``GT`` clean target)::

    L = w_pixel * |S(LQ) - GT|_1
      + w_drl   * sum_pairs d( BRISQUE(adapter(S_enc(LQ))), BRISQUE(A_enc(LQ)) )   # degradation removal
      + w_irl   * sum_pairs d( PIQE(adapter(S_dec(LQ))),    PIQE(B_dec(GT)) )      # image reconstruction
      + w_output * |S(LQ) - A(LQ)|_1                                               # optional

``d`` is the mean absolute (``l1``) or squared (``l2``) difference. The extractors run on every
feature channel as a single-channel image (``N x C x H x W -> (N C) x 1 x H x W``). Adapters
are 1x1 convolutions from the student's width to the teacher's (the "scale conversion");
equal widths start as the identity. Teachers are frozen (eval mode, ``requires_grad=False``);
only the student and the adapters are optimised.

Feature taps are module names; a ``LayerMap`` pairs teacher and student modules whose forward
outputs are compared (see :func:`tripled_fast.kd.students.default_taps` for the defaults).
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tripled_fast.config import KDConfig
from tripled_fast.kd.autoencoder import sample_crops, to_tensor, train_clean_autoencoder
from tripled_fast.kd.students import default_taps

__all__ = [
    "active_channels",
    "ChannelStats",
    "FeatureAdapter",
    "KDResult",
    "LayerMap",
    "PatchPool",
    "SLKDLoss",
    "TeacherCache",
    "as_patch_pool",
    "build_extractor",
    "distill_model",
    "forward_with_taps",
    "freeze",
    "precompute_teachers",
    "resolve_device",
    "resolve_layer_map",
    "load_teacher",
    "run_kd",
    "training_pool",
    "kd_schedule",
    "KDGradClip",
    "stat_distance",
    "teacher_spread",
    "train_student_alone",
]


# --------------------------------------------------------------------------- extractors
def build_extractor(kind: str) -> nn.Module:
    """The NSS extractor behind a loss term: ``"brisque"`` (DRL) or ``"piqe"`` (IRL)."""
    if kind == "brisque":
        from tripled_fast.metrics.brisque import BRISQUEFeatures

        return BRISQUEFeatures()
    if kind == "piqe":
        from tripled_fast.metrics.piqe import PIQEFeatures

        return PIQEFeatures()
    raise ValueError(f"extractor: expected 'brisque' or 'piqe', got {kind!r}")


def _flatten(out: Any, n: int) -> torch.Tensor:
    """An extractor's output (tensor, mapping or sequence of tensors) as ``n x D``."""
    if isinstance(out, torch.Tensor):
        return out.reshape(n, -1)
    if isinstance(out, Mapping):
        return torch.cat([_flatten(out[k], n) for k in sorted(out)], dim=1)
    if isinstance(out, tuple) and hasattr(out, "_fields") and "score" in out._fields:
        # PIQE-style maps: the 0-100 score is brought to the [0, 1] range of the maps
        return torch.cat([_flatten(getattr(out, f) / (100.0 if f == "score" else 1.0), n) for f in out._fields], dim=1)
    if isinstance(out, (tuple, list)):
        return torch.cat([_flatten(o, n) for o in out], dim=1)
    raise ValueError(f"extractor output: expected tensors, got {type(out).__name__}")


class ChannelStats(nn.Module):
    """Apply a single-channel image extractor to every channel of a feature map.

    ``(N, C, H, W) -> (N, C, D)``; the extractor sees ``(N C, 1, H, W)`` and may return a tensor,
    a mapping or a tuple of tensors with leading dimension ``N C`` (flattened and concatenated).
    """

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        if f.ndim != 4:
            raise ValueError(f"ChannelStats: expected an N x C x H x W feature map, got shape {tuple(f.shape)}")
        n, c, h, w = f.shape
        stats = _flatten(self.extractor(f.reshape(n * c, 1, h, w)), n * c)
        return stats.reshape(n, c, -1)


def stat_distance(a: torch.Tensor, b: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Mean absolute (``l1``) or squared (``l2``) difference of two equal-shape statistics."""
    if a.shape != b.shape:
        raise ValueError(f"stat_distance: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if kind == "l1":
        return (a - b).abs().mean()
    if kind == "l2":
        return (a - b).pow(2).mean()
    raise ValueError(f"stat_loss: expected 'l1' or 'l2', got {kind!r}")


class FeatureAdapter(nn.Module):
    """1x1 convolution from ``c_in`` student channels to ``c_out`` teacher channels.

    With ``c_in == c_out`` it starts as the identity map. ``(N, c_in, H, W) -> (N, c_out, H, W)``.
    """

    def __init__(self, c_in: int, c_out: int, *, seed: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1)
        with torch.no_grad():
            if c_in == c_out:
                self.conv.weight.copy_(torch.eye(c_in).view(c_in, c_in, 1, 1))
            else:
                gen = torch.Generator().manual_seed(seed)
                self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=gen) / math.sqrt(c_in))
            self.conv.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def teacher_spread(t: torch.Tensor, floor: float = 0.01) -> torch.Tensor:
    """Per-dimension spread of ``(..., D)`` teacher statistics: the population std over all
    leading dimensions, floored at ``floor`` x its mean over the dimensions (and at 1e-12);
    shape ``(D,)``, no gradient."""
    with torch.no_grad():
        flat = t.reshape(-1, t.shape[-1])
        std = flat.std(0, unbiased=False) if flat.shape[0] > 1 else flat.new_zeros(flat.shape[1])
        return std.clamp_min(max(float(std.mean()) * floor, 1e-12))


# --------------------------------------------------------------------------- feature taps
class _StopForward(Exception):
    """Raised by a hook once every requested tap is recorded and the output is not needed."""


def forward_with_taps(
    model: nn.Module, x: torch.Tensor, names: Sequence[str], *, need_output: bool = True
) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """Run ``model(x)`` recording the outputs of the modules called ``names``.

    With ``need_output=False`` the forward stops as soon as the last tap is recorded (the
    output is then None), so e.g. only the encoder half of a teacher runs.
    Returns ``(output, {name: feature map})``.
    """
    modules = dict(model.named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise ValueError(f"feature tap {missing[0]!r} is not a module of {type(model).__name__}")
    feats: dict[str, torch.Tensor] = {}
    wanted = set(names)

    def make_hook(name: str) -> Callable[..., None]:
        def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
            if not isinstance(out, torch.Tensor):
                raise ValueError(f"feature tap {name!r}: expected a tensor output, got {type(out).__name__}")
            feats[name] = out
            if not need_output and wanted.issubset(feats):
                raise _StopForward

        return hook

    handles = [modules[n].register_forward_hook(make_hook(n)) for n in wanted]
    out: torch.Tensor | None = None
    try:
        out = model(x)
    except _StopForward:
        out = None
    finally:
        for h in handles:
            h.remove()
    missing = sorted(wanted - set(feats))
    if missing:
        raise ValueError(f"feature tap {missing[0]!r} was not called during the forward pass")
    return out, feats


@dataclass(frozen=True)
class LayerMap:
    """``(teacher_module, student_module)`` name pairs for the encoder (DRL) and decoder (IRL) terms."""

    encoder: tuple[tuple[str, str], ...]
    decoder: tuple[tuple[str, str], ...]

    def to_dict(self) -> dict[str, list[list[str]]]:
        return {"encoder": [list(p) for p in self.encoder], "decoder": [list(p) for p in self.decoder]}


def _pairs(raw: Sequence[Sequence[str]], where: str) -> tuple[tuple[str, str], ...]:
    out = []
    for i, p in enumerate(raw):
        if len(p) != 2 or not all(isinstance(s, str) and s for s in p):
            raise ValueError(f"{where}[{i}]: expected [teacher_layer, student_layer], got {p!r}")
        out.append((p[0], p[1]))
    return tuple(out)


def resolve_layer_map(teacher: nn.Module, student: nn.Module, cfg: KDConfig) -> LayerMap:
    """The configured layer map, or the default taps paired one to one."""
    enc = _pairs(cfg.encoder_pairs, "kd.encoder_pairs")
    dec = _pairs(cfg.decoder_pairs, "kd.decoder_pairs")
    if not enc or not dec:
        t, s = default_taps(teacher), default_taps(student)
        enc = enc or tuple(zip(t.encoder, s.encoder))
        dec = dec or tuple(zip(t.decoder, s.decoder))
    return LayerMap(encoder=enc, decoder=dec)


# --------------------------------------------------------------------------- the loss
class SLKDLoss(nn.Module):
    """The SLKD objective with its trainable adapters.

    Args:
        layer_map: teacher / student tap pairs.
        enc_channels: ``(teacher_ch, student_ch)`` per encoder pair (same order).
        dec_channels: ``(teacher_ch, student_ch)`` per decoder pair.
        weights: ``w_pixel``, ``w_drl``, ``w_irl``, ``w_output``.
        stat_loss: ``"l1"`` or ``"l2"``.
        stat_norm: ``"none"``, or ``"teacher"``: before the distance, every statistic dimension
            of student and teacher is divided by the spread (population std over the batch and
            channels) of the teacher's statistics in that dimension, floored at ``0.01`` x the mean
            spread of all dimensions, so that e.g. BRISQUE shape parameters (0.2-10) and
            variances (~0.01) weigh alike. ``"dataset"``: the same, with spreads fixed once from
            teacher statistics over many training patches (:meth:`set_spreads`), so that a batch
            in which a statistic happens to be saturated (e.g. a PIQE sigmoid map at 0.99 for
            every sample) does not blow that dimension up.
        stat_floor: the spread floor, as a fraction of the mean spread over the dimensions.
        match_channels: compare at most this many teacher channels per pair (an evenly spaced
            subset, the adapters map onto it) - a cost control, the extractors run per channel.
        drl_extractor, irl_extractor: single-channel extractors (default BRISQUE / PIQE features).
        enc_live, dec_live: per layer pair, the teacher channels eligible for matching (e.g. those
            active on the training patches, :func:`active_channels`); None = all. A dead teacher
            channel (all zero) carries no knowledge, and matching its statistics can only be
            done by killing student channels.
    """

    def __init__(
        self,
        layer_map: LayerMap,
        enc_channels: Sequence[tuple[int, int]],
        dec_channels: Sequence[tuple[int, int]],
        *,
        w_pixel: float = 1.0,
        w_drl: float = 0.1,
        w_irl: float = 0.1,
        w_output: float = 0.0,
        stat_loss: str = "l1",
        stat_norm: str = "none",
        stat_floor: float = 0.01,
        drl_extractor: nn.Module | None = None,
        irl_extractor: nn.Module | None = None,
        match_channels: int | None = None,
        enc_live: Sequence[Sequence[int]] | None = None,
        dec_live: Sequence[Sequence[int]] | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if match_channels is not None and match_channels < 1:
            raise ValueError(f"kd.match_channels: expected a positive integer or None, got {match_channels}")
        if len(enc_channels) != len(layer_map.encoder) or len(dec_channels) != len(layer_map.decoder):
            raise ValueError("SLKDLoss: one (teacher_ch, student_ch) entry is needed per layer pair")
        for name, w in (("w_pixel", w_pixel), ("w_drl", w_drl), ("w_irl", w_irl), ("w_output", w_output)):
            if not math.isfinite(w) or w < 0:
                raise ValueError(f"kd.{name}: expected a finite weight >= 0, got {w}")
        stat_distance(torch.zeros(1), torch.zeros(1), stat_loss)  # validates the name
        if stat_norm not in ("none", "teacher", "dataset"):
            raise ValueError(f"kd.stat_norm: expected 'none', 'teacher' or 'dataset', got {stat_norm!r}")
        if not (math.isfinite(stat_floor) and stat_floor > 0):
            raise ValueError(f"kd.stat_floor: expected a positive number, got {stat_floor}")
        self.stat_norm = stat_norm
        self.stat_floor = stat_floor
        self.spreads: dict[str, list[torch.Tensor]] | None = None
        self.layer_map = layer_map
        self.weights = {"pixel": w_pixel, "drl": w_drl, "irl": w_irl, "output": w_output}
        self.stat_loss = stat_loss
        def kept(ct: int, live: Sequence[int] | None, where: str) -> list[int]:
            cand = list(range(ct)) if live is None else sorted({int(c) for c in live})
            if not cand or cand[0] < 0 or cand[-1] >= ct:
                raise ValueError(f"SLKDLoss: {where}: expected live channel indices in [0, {ct}), got {list(live or [])[:8]}")
            if match_channels is None or match_channels >= len(cand):
                return cand
            return sorted({cand[int(round(v))] for v in np.linspace(0, len(cand) - 1, match_channels)})

        for name, live, chans in (("enc_live", enc_live, enc_channels), ("dec_live", dec_live, dec_channels)):
            if live is not None and len(live) != len(chans):
                raise ValueError(f"SLKDLoss: {name} needs one channel list per layer pair, got {len(live)} for {len(chans)}")
        self.enc_keep = [kept(ct, None if enc_live is None else enc_live[i], f"encoder pair {i}") for i, (ct, _) in enumerate(enc_channels)]
        self.dec_keep = [kept(ct, None if dec_live is None else dec_live[i], f"decoder pair {i}") for i, (ct, _) in enumerate(dec_channels)]
        self.enc_adapters = nn.ModuleList(
            FeatureAdapter(cs, len(k), seed=seed + i) for i, ((_, cs), k) in enumerate(zip(enc_channels, self.enc_keep))
        )
        self.dec_adapters = nn.ModuleList(
            FeatureAdapter(cs, len(k), seed=seed + 1000 + i) for i, ((_, cs), k) in enumerate(zip(dec_channels, self.dec_keep))
        )
        self.drl_stats = ChannelStats(drl_extractor) if w_drl > 0 and drl_extractor is not None else None
        self.irl_stats = ChannelStats(irl_extractor) if w_irl > 0 and irl_extractor is not None else None
        if w_drl > 0 and self.drl_stats is None:
            raise ValueError("SLKDLoss: w_drl > 0 needs a drl_extractor")
        if w_irl > 0 and self.irl_stats is None:
            raise ValueError("SLKDLoss: w_irl > 0 needs an irl_extractor")
        for stats in (self.drl_stats, self.irl_stats):
            if stats is not None:
                for p in stats.parameters():
                    p.requires_grad_(False)

    def set_spreads(self, enc: Sequence[torch.Tensor], dec: Sequence[torch.Tensor]) -> None:
        """Fix the normalising spreads of ``stat_norm="dataset"`` from teacher statistics
        ``(N, C_t, D)`` per layer pair (e.g. :meth:`teacher_targets` of a probe batch)."""
        if len(enc) != len(self.enc_keep) or len(dec) != len(self.dec_keep):
            raise ValueError(
                f"set_spreads: expected {len(self.enc_keep)} encoder and {len(self.dec_keep)} decoder statistics, got {len(enc)} and {len(dec)}"
            )
        self.spreads = {
            "drl": [teacher_spread(t, self.stat_floor) for t in enc],
            "irl": [teacher_spread(t, self.stat_floor) for t in dec],
        }

    def adapter_parameters(self) -> list[nn.Parameter]:
        """The trainable adapter parameters (optimised together with the student)."""
        return [*self.enc_adapters.parameters(), *self.dec_adapters.parameters()]

    def teacher_targets(
        self,
        feats_a: Mapping[str, torch.Tensor] | None,
        feats_b: Mapping[str, torch.Tensor] | None,
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Statistics of the teacher taps: ``(encoder targets, decoder targets)``, one
        ``(N, C_t, D)`` tensor per layer pair (empty lists for disabled terms)."""
        enc: list[torch.Tensor] = []
        dec: list[torch.Tensor] = []
        with torch.no_grad():
            if self.drl_stats is not None:
                if feats_a is None:
                    raise ValueError("SLKDLoss: w_drl > 0 needs Teacher A features")
                enc = [
                    self.drl_stats(feats_a[t].detach()[:, keep])
                    for (t, _), keep in zip(self.layer_map.encoder, self.enc_keep)
                ]
            if self.irl_stats is not None:
                if feats_b is None:
                    raise ValueError("SLKDLoss: w_irl > 0 needs Teacher B features")
                dec = [
                    self.irl_stats(feats_b[t].detach()[:, keep])
                    for (t, _), keep in zip(self.layer_map.decoder, self.dec_keep)
                ]
        return enc, dec

    def _term(
        self,
        stats: ChannelStats,
        adapters: nn.ModuleList,
        pairs: tuple[tuple[str, str], ...],
        feats_s: Mapping[str, torch.Tensor],
        targets: Sequence[torch.Tensor],
        sizes: Sequence[tuple[int, int]] | None,
        kind: str = "drl",
    ) -> torch.Tensor:
        if len(targets) != len(pairs):
            raise ValueError(f"SLKDLoss: expected {len(pairs)} target statistics, got {len(targets)}")
        total = feats_s[pairs[0][1]].new_zeros(())
        for i, (adapter, (_, s_name)) in enumerate(zip(adapters, pairs)):
            fs = adapter(feats_s[s_name])
            if sizes is not None and fs.shape[-2:] != tuple(sizes[i]):
                fs = F.interpolate(fs, size=tuple(sizes[i]), mode="bilinear", align_corners=False)
            s_stats, t_stats = stats(fs), targets[i]
            if self.stat_norm == "teacher":
                spread = teacher_spread(t_stats, self.stat_floor)
                s_stats, t_stats = s_stats / spread, t_stats / spread
            elif self.stat_norm == "dataset":
                if self.spreads is None:
                    raise ValueError("SLKDLoss: stat_norm='dataset' needs set_spreads() before the first loss")
                spread = self.spreads[kind][i].to(s_stats.device)
                s_stats, t_stats = s_stats / spread, t_stats / spread
            total = total + stat_distance(s_stats, t_stats, self.stat_loss)
        return total / len(pairs)

    def forward(
        self,
        *,
        out_s: torch.Tensor,
        gt: torch.Tensor,
        feats_s: Mapping[str, torch.Tensor],
        feats_a: Mapping[str, torch.Tensor] | None = None,
        feats_b: Mapping[str, torch.Tensor] | None = None,
        out_a: torch.Tensor | None = None,
        targets: tuple[Sequence[torch.Tensor], Sequence[torch.Tensor]] | None = None,
        kd_scale: float = 1.0,
        adapters_only: bool = False,
    ) -> dict[str, torch.Tensor]:
        """Loss terms and their weighted ``total``.

        Args:
            out_s: student output ``(N, C, H, W)``; gt: ground truth of the same shape.
            feats_s: student taps (encoder and decoder names of the layer map).
            feats_a: Teacher A taps on the LQ input (for ``w_drl > 0``).
            feats_b: Teacher B taps on the GT input (for ``w_irl > 0``).
            out_a: Teacher A output (for ``w_output > 0``).
            targets: precomputed :meth:`teacher_targets` (replaces ``feats_a`` / ``feats_b``;
                student maps are then resized to the teacher tap size only if they differ from
                the student's own).
            kd_scale: multiplies ``w_drl``, ``w_irl`` and ``w_output`` (warm-up / ramp); at 0
                the KD terms are not computed and reported as 0.
            adapters_only: the DRL / IRL terms see detached student features (their gradient
                reaches only the adapters) and the output term is off: the adapter fit of the
                warm-up (``kd.adapter_fit``); ``kd_scale`` is then ignored (1).
        Returns:
            ``{"pixel", "drl", "irl", "output", "total"}`` scalars (unused terms are 0).
        """
        if out_s.shape != gt.shape:
            raise ValueError(f"SLKDLoss: student output {tuple(out_s.shape)} and GT {tuple(gt.shape)} differ")
        if targets is None:
            targets = self.teacher_targets(feats_a, feats_b)
            enc_sizes = [tuple(feats_a[t].shape[-2:]) for t, _ in self.layer_map.encoder] if feats_a else None
            dec_sizes = [tuple(feats_b[t].shape[-2:]) for t, _ in self.layer_map.decoder] if feats_b else None
        else:
            enc_sizes = dec_sizes = None
        if not math.isfinite(kd_scale) or kd_scale < 0:
            raise ValueError(f"SLKDLoss: kd_scale must be a finite value >= 0, got {kd_scale}")
        if adapters_only:
            feats_s = {k: v.detach() for k, v in feats_s.items()}
            kd_scale = 1.0
        zero = out_s.new_zeros(())
        terms = {"pixel": F.l1_loss(out_s, gt), "drl": zero, "irl": zero, "output": zero}
        if self.drl_stats is not None and kd_scale > 0:
            terms["drl"] = self._term(self.drl_stats, self.enc_adapters, self.layer_map.encoder, feats_s, targets[0], enc_sizes, kind="drl")
        if self.irl_stats is not None and kd_scale > 0:
            terms["irl"] = self._term(self.irl_stats, self.dec_adapters, self.layer_map.decoder, feats_s, targets[1], dec_sizes, kind="irl")
        if self.weights["output"] > 0 and kd_scale > 0 and not adapters_only:
            if out_a is None:
                raise ValueError("SLKDLoss: w_output > 0 needs Teacher A's output")
            terms["output"] = F.l1_loss(out_s, out_a.detach())
        w = {k: self.weights[k] * (1.0 if k == "pixel" else kd_scale) for k in self.weights}
        terms["total"] = sum((w[k] * terms[k] for k in ("pixel", "drl", "irl", "output")), zero)
        return terms


# --------------------------------------------------------------------------- training data
@dataclass
class PatchPool:
    """Training patches: uint8 ``gt`` ``N x H x W x C`` and optional aligned ``lq`` (``H/scale``)."""

    gt: np.ndarray
    lq: np.ndarray | None = None
    scale: int = 1

    def __post_init__(self) -> None:
        if self.gt.dtype != np.uint8 or self.gt.ndim != 4 or self.gt.shape[0] == 0:
            raise ValueError(f"PatchPool.gt: expected a non-empty uint8 N x H x W x C stack, got {self.gt.dtype} {self.gt.shape}")
        if self.lq is not None and (self.lq.dtype != np.uint8 or self.lq.ndim != 4 or self.lq.shape[0] != self.gt.shape[0]):
            raise ValueError(f"PatchPool.lq: expected a uint8 stack of {self.gt.shape[0]} patches, got {self.lq.dtype} {self.lq.shape}")


def _as_uint8_stack(a: Any, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim == 3:
        a = a[..., None]
    if a.dtype != np.uint8 or a.ndim != 4:
        raise ValueError(f"train_pairs.{name}: expected a uint8 N x H x W x C stack, got {a.dtype} {a.shape}")
    return a


def as_patch_pool(train_pairs: Any, scale: int = 1) -> PatchPool:
    """Accept a :class:`PatchPool`, an ``(lq, gt)`` pair of stacks, a GT-only stack, or any object
    with ``gt`` / ``lq`` attributes (e.g. a packed patch dataset)."""
    if isinstance(train_pairs, PatchPool):
        return train_pairs
    if isinstance(train_pairs, (tuple, list)) and len(train_pairs) == 2:
        lq, gt = train_pairs
        return PatchPool(gt=_as_uint8_stack(gt, "gt"), lq=None if lq is None else _as_uint8_stack(lq, "lq"), scale=scale)
    if isinstance(train_pairs, (np.ndarray, torch.Tensor)):
        return PatchPool(gt=_as_uint8_stack(train_pairs, "gt"), scale=scale)
    if hasattr(train_pairs, "gt"):
        lq = getattr(train_pairs, "lq", None)
        return PatchPool(
            gt=_as_uint8_stack(train_pairs.gt, "gt"),
            lq=None if lq is None else _as_uint8_stack(lq, "lq"),
            scale=int(getattr(train_pairs, "scale", scale)),
        )
    raise ValueError(
        f"train_pairs: expected a PatchPool, (lq, gt) stacks, a GT stack or an object with gt/lq, got {type(train_pairs).__name__}"
    )


def _draw_batch(
    rng: np.random.Generator, pool: PatchPool, cfg: KDConfig
) -> tuple[np.ndarray, np.ndarray]:
    """One batch ``(lq, gt)`` of uint8 crops; LQ re-synthesised from GT when ``cfg.degrade`` is set."""
    size = min(cfg.patch, pool.gt.shape[1], pool.gt.shape[2])
    size -= size % pool.scale
    use_lq = pool.lq if not cfg.degrade else None
    gt, lq = sample_crops(rng, pool.gt, use_lq, cfg.batch_size, size, pool.scale)
    if cfg.degrade:
        from tripled_fast.data.degrade import apply_degradation

        lq = np.stack([apply_degradation(g, cfg.degrade, rng) for g in gt])
    if lq is None:
        raise ValueError("train_pairs: no LQ patches and kd.degrade is empty; give (lq, gt) or a degrade spec")
    return lq, gt


# --------------------------------------------------------------------------- training
def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def freeze(model: nn.Module) -> nn.Module:
    """Eval mode and ``requires_grad=False`` on every parameter; returns ``model``."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass
class KDResult:
    """Outcome of :func:`distill_model`.

    ``history``: one row per ``log_every`` window with the mean of each loss term;
    ``losses``: the total loss of every step.
    """

    student: nn.Module
    loss_module: SLKDLoss
    teacher_b: nn.Module | None
    layer_map: LayerMap
    history: list[dict[str, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    teacher_b_seconds: float = 0.0


def _probe_taps(model: nn.Module, x: torch.Tensor, names: Sequence[str]) -> dict[str, torch.Tensor]:
    """The taps ``names`` of ``model`` on ``x`` in eval mode without gradients (the model's
    train / eval mode is restored afterwards)."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, feats = forward_with_taps(model, x, names, need_output=False)
    finally:
        model.train(was)
    return feats


def _channels(model: nn.Module, names: Sequence[str], in_ch: int, side: int, device: torch.device) -> dict[str, int]:
    feats = _probe_taps(model, torch.zeros(1, in_ch, side, side, device=device), names)
    return {n: int(f.shape[1]) for n, f in feats.items()}


@dataclass
class TeacherCache:
    """Teacher targets for every patch of a fixed pool (:func:`precompute_teachers`).

    ``enc`` / ``dec``: per layer pair, ``(N, C_t, D)`` float32 statistics of Teacher A's encoder
    taps on the LQ patches / Teacher B's decoder taps on the GT patches; ``out_a``: Teacher A's
    ``(N, C, H, W)`` outputs (None unless ``w_output > 0``). Rows follow the pool's patch order.
    """

    layer_map: LayerMap
    enc_channels: list[tuple[int, int]]
    dec_channels: list[tuple[int, int]]
    enc: list[torch.Tensor]
    dec: list[torch.Tensor]
    out_a: torch.Tensor | None
    teacher_b: nn.Module | None
    teacher_b_seconds: float = 0.0
    seconds: float = 0.0
    live: tuple[list[list[int]], list[list[int]]] | None = None


def active_channels(model: nn.Module, x: torch.Tensor, names: Sequence[str], rel_tol: float = 1e-6) -> dict[str, list[int]]:
    """Channels of the taps ``names`` that vary over the probe batch ``x`` (``N x C x H x W``).

    A channel is active when its range (max - min over the batch and positions) exceeds
    ``rel_tol`` x the tap's largest absolute value; a dead ReLU channel (all zero) or a constant
    one is not. Returns ``{name: sorted channel indices}``.
    """
    out = {}
    for n, f in _probe_taps(model, x, names).items():
        per = f.transpose(0, 1).flatten(1)
        rng = per.amax(1) - per.amin(1)
        out[n] = [int(i) for i in torch.nonzero(rng > rel_tol * float(f.abs().amax()) + 1e-30).flatten()]
    return out


def _probe_batch(pool: PatchPool, cfg: KDConfig, seed: int, device: torch.device, n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to ``n`` evenly spaced pool patches, centre-cropped to ``cfg.patch``: ``(lq, gt)``
    tensors (LQ synthesised with ``cfg.degrade`` and a generator seeded by ``seed`` when set)."""
    idx = np.unique(np.linspace(0, pool.gt.shape[0] - 1, min(n, pool.gt.shape[0])).round().astype(int))
    size = min(cfg.patch, pool.gt.shape[1], pool.gt.shape[2])
    size -= size % pool.scale
    y0, x0 = (pool.gt.shape[1] - size) // 2, (pool.gt.shape[2] - size) // 2
    y0 -= y0 % pool.scale
    x0 -= x0 % pool.scale
    gt = pool.gt[idx, y0 : y0 + size, x0 : x0 + size]
    if cfg.degrade:
        from tripled_fast.data.degrade import apply_degradation

        rng = np.random.default_rng(seed)
        lq = np.stack([apply_degradation(g, cfg.degrade, rng) for g in gt])
    elif pool.lq is not None:
        s = pool.scale
        lq = pool.lq[idx, y0 // s : (y0 + size) // s, x0 // s : (x0 + size) // s]
    else:
        raise ValueError("train_pairs: no LQ patches and kd.degrade is empty; give (lq, gt) or a degrade spec")
    return to_tensor(lq, device), to_tensor(gt, device)


def _setup(
    teacher_a: nn.Module | None,
    teacher_b: nn.Module | None,
    student: nn.Module,
    pool: PatchPool,
    cfg: KDConfig,
    seed: int,
    device: torch.device,
) -> tuple[
    LayerMap, nn.Module | None, nn.Module | None, list[tuple[int, int]], list[tuple[int, int]], float,
    tuple[list[list[int]], list[list[int]]] | None,
]:
    """Layer map (restricted to the enabled terms), frozen teachers (Teacher B trained if
    missing), the ``(teacher_ch, student_ch)`` per pair and, with ``cfg.live_channels``, the
    teacher channels active on a probe of the training patches (encoder, decoder)."""
    needs_a = cfg.w_drl > 0 or cfg.w_output > 0 or (cfg.w_irl > 0 and teacher_b is None)
    if teacher_a is None and needs_a:
        raise ValueError("distill_model: teacher_a is required when w_drl, w_output or (without teacher_b) w_irl > 0")
    full = resolve_layer_map(teacher_a if teacher_a is not None else student, student, cfg)
    layer_map = LayerMap(encoder=full.encoder if cfg.w_drl > 0 else (), decoder=full.decoder if cfg.w_irl > 0 else ())
    tb_seconds = 0.0
    if cfg.w_irl > 0 and teacher_b is None:
        assert teacher_a is not None
        ae = train_clean_autoencoder(
            teacher_a, pool.gt, steps=cfg.ae_steps, batch_size=cfg.batch_size,
            patch=min(cfg.patch, pool.gt.shape[1], pool.gt.shape[2]), lr=cfg.ae_lr, init=cfg.ae_init,
            seed=seed, device=device,
        )
        teacher_b, tb_seconds = ae.model, ae.seconds
    if teacher_a is not None:
        teacher_a = freeze(teacher_a.to(device))
    if teacher_b is not None:
        teacher_b = freeze(teacher_b.to(device))
    side = max(16, min(cfg.patch, pool.gt.shape[1]) // pool.scale)
    in_ch = pool.gt.shape[3]
    s_ch = _channels(student.to(device), [s for _, s in layer_map.encoder + layer_map.decoder], in_ch, side, device)
    enc_ch: list[tuple[int, int]] = []
    dec_ch: list[tuple[int, int]] = []
    if layer_map.encoder:
        assert teacher_a is not None
        a_ch = _channels(teacher_a, [t for t, _ in layer_map.encoder], in_ch, side, device)
        enc_ch = [(a_ch[t], s_ch[s]) for t, s in layer_map.encoder]
    if layer_map.decoder:
        assert teacher_b is not None
        b_ch = _channels(teacher_b, [t for t, _ in layer_map.decoder], in_ch, side, device)
        dec_ch = [(b_ch[t], s_ch[s]) for t, s in layer_map.decoder]
    live = None
    if cfg.live_channels and (layer_map.encoder or layer_map.decoder):
        lq, gt = _probe_batch(pool, cfg, seed, device)
        enc_live: list[list[int]] = []
        dec_live: list[list[int]] = []
        if layer_map.encoder:
            assert teacher_a is not None
            act = active_channels(teacher_a, lq, [t for t, _ in layer_map.encoder])
            enc_live = [act[t] for t, _ in layer_map.encoder]
        if layer_map.decoder:
            assert teacher_b is not None
            act = active_channels(teacher_b, gt, [t for t, _ in layer_map.decoder])
            dec_live = [act[t] for t, _ in layer_map.decoder]
        for where, pairs, lv in (("Teacher A", layer_map.encoder, enc_live), ("Teacher B", layer_map.decoder, dec_live)):
            for (t, _), chans in zip(pairs, lv):
                if not chans:
                    raise ValueError(f"kd.live_channels: {where} tap {t!r} has no active channel on the training patches")
        live = (enc_live, dec_live)
    return layer_map, teacher_a, teacher_b, enc_ch, dec_ch, tb_seconds, live


def _loss_module(
    layer_map: LayerMap,
    enc_ch: list[tuple[int, int]],
    dec_ch: list[tuple[int, int]],
    cfg: KDConfig,
    seed: int,
    drl_extractor: nn.Module | None,
    irl_extractor: nn.Module | None,
    live: tuple[list[list[int]], list[list[int]]] | None = None,
) -> SLKDLoss:
    return SLKDLoss(
        layer_map, enc_ch, dec_ch,
        w_pixel=cfg.w_pixel, w_drl=cfg.w_drl, w_irl=cfg.w_irl, w_output=cfg.w_output, stat_loss=cfg.stat_loss,
        stat_norm=cfg.stat_norm, stat_floor=cfg.stat_floor,
        drl_extractor=(drl_extractor or build_extractor("brisque")) if cfg.w_drl > 0 else None,
        irl_extractor=(irl_extractor or build_extractor("piqe")) if cfg.w_irl > 0 else None,
        match_channels=cfg.match_channels,
        enc_live=live[0] if live is not None and enc_ch else None,
        dec_live=live[1] if live is not None and dec_ch else None,
        seed=seed,
    )


def _teacher_step(
    teacher_a: nn.Module | None,
    teacher_b: nn.Module | None,
    loss_fn: SLKDLoss,
    lq: torch.Tensor,
    gt: torch.Tensor,
    need_output: bool,
) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor | None]:
    """Teacher targets of one batch: ``(encoder stats, decoder stats, Teacher A output)``."""
    a_taps = [t for t, _ in loss_fn.layer_map.encoder]
    b_taps = [t for t, _ in loss_fn.layer_map.decoder]
    feats_a = feats_b = None
    out_a = None
    with torch.no_grad():
        if teacher_a is not None and (a_taps or need_output):
            out_a, feats_a = forward_with_taps(teacher_a, lq, a_taps, need_output=need_output)
        if teacher_b is not None and b_taps:
            _, feats_b = forward_with_taps(teacher_b, gt, b_taps, need_output=False)
        enc, dec = loss_fn.teacher_targets(feats_a, feats_b)
    return enc, dec, out_a


def precompute_teachers(
    teacher_a: nn.Module | None,
    teacher_b: nn.Module | None,
    student: nn.Module,
    train_pairs: Any,
    cfg: KDConfig,
    *,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    drl_extractor: nn.Module | None = None,
    irl_extractor: nn.Module | None = None,
) -> TeacherCache:
    """Run the teachers once over every patch of a fixed ``(lq, gt)`` pool.

    The cache only depends on the teachers, the layer map and the extractors, so it serves
    every student seed (pass it to :func:`distill_model` as ``cache``). ``student`` is only
    probed for its tap widths. Needs LQ patches (``cfg.degrade`` must be empty).
    """
    if cfg.degrade:
        raise ValueError("kd.cache_teachers: needs fixed LQ patches, but kd.degrade re-synthesises them every batch")
    seed = cfg.seed if seed is None else seed
    device = torch.device(device)
    pool = as_patch_pool(train_pairs, scale=cfg.scale)
    if pool.lq is None:
        raise ValueError("kd.cache_teachers: train_pairs has no LQ patches")
    layer_map, teacher_a, teacher_b, enc_ch, dec_ch, tb_seconds, live = _setup(
        teacher_a, teacher_b, student, pool, cfg, seed, device
    )
    loss_fn = _loss_module(layer_map, enc_ch, dec_ch, cfg, seed, drl_extractor, irl_extractor, live).to(device)
    start = time.perf_counter()
    enc_parts: list[list[torch.Tensor]] = [[] for _ in enc_ch]
    dec_parts: list[list[torch.Tensor]] = [[] for _ in dec_ch]
    outs: list[torch.Tensor] = []
    for lo in range(0, pool.gt.shape[0], cfg.batch_size):
        lq = to_tensor(pool.lq[lo : lo + cfg.batch_size], device)
        gt = to_tensor(pool.gt[lo : lo + cfg.batch_size], device)
        enc, dec, out_a = _teacher_step(teacher_a, teacher_b, loss_fn, lq, gt, cfg.w_output > 0)
        for parts, vals in ((enc_parts, enc), (dec_parts, dec)):
            for i, v in enumerate(vals):
                parts[i].append(v.float().cpu())
        if cfg.w_output > 0 and out_a is not None:
            outs.append(out_a.float().cpu())
    return TeacherCache(
        layer_map=layer_map, enc_channels=enc_ch, dec_channels=dec_ch,
        enc=[torch.cat(p) for p in enc_parts], dec=[torch.cat(p) for p in dec_parts],
        out_a=torch.cat(outs) if outs else None, teacher_b=teacher_b, teacher_b_seconds=tb_seconds,
        seconds=time.perf_counter() - start, live=live,
    )


def distill_model(
    teacher_a: nn.Module | None,
    teacher_b: nn.Module | None,
    student: nn.Module,
    train_pairs: Any,
    cfg: KDConfig,
    *,
    seed: int | None = None,
    device: str | torch.device = "cpu",
    drl_extractor: nn.Module | None = None,
    irl_extractor: nn.Module | None = None,
    cache: TeacherCache | None = None,
) -> KDResult:
    """Train ``student`` (in place) with the SLKD objective; returns a :class:`KDResult`.

    Args:
        teacher_a: the restoration teacher (frozen here). May be None only when
            ``w_drl == w_irl == w_output == 0`` (plain supervised training) or with ``cache``.
        teacher_b: the clean autoencoder; None with ``w_irl > 0`` trains one from ``teacher_a``
            on the GT patches (``cfg.ae_*``).
        student: the network to train (its encoder / decoder taps must exist, see ``cfg``).
        train_pairs: see :func:`as_patch_pool`. Without a cache, each step draws random aligned
            crops of side ``cfg.patch`` with a random flip / rotation; with ``cfg.degrade`` set
            the LQ is re-synthesised from the GT crops (seeded), else the given LQ is cropped.
        cfg: loss weights, layer map, Adam with cosine decay ``lr -> min_lr``, steps, batch.
        seed: data order, crops, augmentation, degradations and adapter init (default
            ``cfg.seed``). The data stream does not depend on the loss weights, so runs that
            differ only in the loss see the same batches.
        drl_extractor, irl_extractor: override the BRISQUE / PIQE feature extractors.
        cache: teacher targets from :func:`precompute_teachers` (or made here when
            ``cfg.cache_teachers``); batches are then whole pool patches drawn by index
            (no crop / augmentation) and the teachers are not run during training.
    """
    seed = cfg.seed if seed is None else seed
    device = torch.device(device)
    if cfg.steps < 0 or cfg.batch_size < 1 or cfg.patch < 1 or cfg.log_every < 1:
        raise ValueError(
            f"kd: expected steps >= 0, batch_size >= 1, patch >= 1, log_every >= 1; got "
            f"{cfg.steps}, {cfg.batch_size}, {cfg.patch}, {cfg.log_every}"
        )
    if cfg.kd_clip is not None and not (math.isfinite(cfg.kd_clip) and cfg.kd_clip > 0):
        raise ValueError(f"kd.kd_clip: expected a positive number or None, got {cfg.kd_clip}")
    if cfg.kd_warmup < 0 or cfg.kd_ramp < 0 or cfg.adapter_fit < 0:
        raise ValueError(
            f"kd: expected kd_warmup, kd_ramp and adapter_fit >= 0, got {cfg.kd_warmup}, {cfg.kd_ramp}, {cfg.adapter_fit}"
        )
    pool = as_patch_pool(train_pairs, scale=cfg.scale)
    uses_teachers = cfg.w_drl > 0 or cfg.w_irl > 0 or cfg.w_output > 0
    if cache is None and cfg.cache_teachers and uses_teachers:
        cache = precompute_teachers(
            teacher_a, teacher_b, student, pool, cfg, seed=seed, device=device,
            drl_extractor=drl_extractor, irl_extractor=irl_extractor,
        )
    if cache is not None and uses_teachers:
        if cache.enc and cache.enc[0].shape[0] != pool.gt.shape[0] or cache.dec and cache.dec[0].shape[0] != pool.gt.shape[0]:
            raise ValueError("distill_model: cache rows do not match the number of training patches")
        if cfg.w_output > 0 and cache.out_a is None:
            raise ValueError("distill_model: w_output > 0 but the cache holds no Teacher A outputs")
        if pool.lq is None or cfg.degrade:
            raise ValueError("distill_model: a teacher cache needs fixed LQ patches and an empty kd.degrade")
        layer_map = LayerMap(cache.layer_map.encoder if cfg.w_drl > 0 else (), cache.layer_map.decoder if cfg.w_irl > 0 else ())
        enc_ch = cache.enc_channels if cfg.w_drl > 0 else []
        dec_ch = cache.dec_channels if cfg.w_irl > 0 else []
        teacher_a = teacher_b = None
        live = None if cache.live is None else (cache.live[0] if cfg.w_drl > 0 else [], cache.live[1] if cfg.w_irl > 0 else [])
        tb_seconds = cache.teacher_b_seconds
        out_teacher_b = cache.teacher_b
    else:
        cache = None
        layer_map, teacher_a, teacher_b, enc_ch, dec_ch, tb_seconds, live = _setup(
            teacher_a, teacher_b, student, pool, cfg, seed, device
        )
        out_teacher_b = teacher_b
    student = student.to(device).train()
    loss_fn = _loss_module(layer_map, enc_ch, dec_ch, cfg, seed, drl_extractor, irl_extractor, live).to(device)
    if cfg.stat_norm == "dataset" and (layer_map.encoder or layer_map.decoder):
        if cache is not None:
            loss_fn.set_spreads(cache.enc if layer_map.encoder else [], cache.dec if layer_map.decoder else [])
        else:  # teacher statistics of up to 64 evenly spaced training patches
            lq_p, gt_p = _probe_batch(pool, cfg, seed, device)
            enc_p, dec_p, _ = _teacher_step(teacher_a, teacher_b, loss_fn, lq_p, gt_p, False)
            loss_fn.set_spreads(enc_p, dec_p)
    s_params = [p for p in student.parameters() if p.requires_grad]
    params = s_params + loss_fn.adapter_parameters()
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(cfg.steps, 1), eta_min=cfg.min_lr)
    rng = np.random.default_rng(seed)
    s_taps = [s for _, s in layer_map.encoder + layer_map.decoder]
    fit_from = cfg.kd_warmup - min(cfg.adapter_fit, cfg.kd_warmup)  # warm-up steps after this fit the adapters

    def fitting(step: int) -> bool:
        return bool(layer_map.encoder or layer_map.decoder) and fit_from < step <= cfg.kd_warmup

    clipper = KDGradClip(s_params, cfg.kd_clip) if cfg.kd_clip is not None else None
    history: list[dict[str, float]] = []
    losses: list[float] = []
    window: dict[str, list[float]] = {}
    start = time.perf_counter()
    for step in range(1, cfg.steps + 1):
        if cache is not None:
            assert pool.lq is not None
            idx = np.sort(rng.integers(0, pool.gt.shape[0], size=cfg.batch_size))
            lq, gt = to_tensor(pool.lq[idx], device), to_tensor(pool.gt[idx], device)
            t_idx = torch.from_numpy(idx)
            targets = ([e[t_idx].to(device) for e in cache.enc], [d[t_idx].to(device) for d in cache.dec])
            out_a = cache.out_a[t_idx].to(device) if cache.out_a is not None and cfg.w_output > 0 else None
        else:
            lq_np, gt_np = _draw_batch(rng, pool, cfg)
            lq, gt = to_tensor(lq_np, device), to_tensor(gt_np, device)
            if kd_schedule(step, cfg) > 0 or fitting(step):
                enc, dec, out_a = _teacher_step(teacher_a, teacher_b, loss_fn, lq, gt, cfg.w_output > 0)
            else:  # warm-up: the KD terms are off, the teachers need not run
                enc, dec, out_a = [], [], None
            targets = (enc, dec)
        out_s, feats_s = forward_with_taps(student, lq, s_taps)
        assert out_s is not None
        terms = loss_fn(
            out_s=out_s, gt=gt, feats_s=feats_s, out_a=out_a, targets=targets, kd_scale=kd_schedule(step, cfg),
            adapters_only=fitting(step),
        )
        opt.zero_grad(set_to_none=True)
        if clipper is not None:
            w_out = loss_fn.weights["output"] * (0.0 if fitting(step) else kd_schedule(step, cfg))
            terms["kd_clipped"] = torch.tensor(
                clipper.backward(terms, loss_fn.weights["pixel"], loss_fn.adapter_parameters(), w_output=w_out)
            )
        else:
            terms["total"].backward()
        opt.step()
        sched.step()
        losses.append(float(terms["total"].detach()))
        for k, v in terms.items():
            window.setdefault(k, []).append(float(v.detach()))
        if step % cfg.log_every == 0 or step == cfg.steps:
            row = {"step": float(step), "lr": float(sched.get_last_lr()[0])}
            row.update({k: float(np.mean(v)) for k, v in window.items()})
            history.append(row)
            window = {}
    student.eval()
    return KDResult(
        student=student, loss_module=loss_fn, teacher_b=out_teacher_b, layer_map=layer_map,
        history=history, losses=losses, seconds=time.perf_counter() - start, teacher_b_seconds=tb_seconds,
    )


class KDGradClip:
    """Per-element cap of the KD gradient on the student at ``ratio`` x the running RMS of the
    pixel-loss gradient of that element.

    Adam divides each update by the running RMS of its gradient, which adapts slowly
    (``beta2 = 0.999``). When the KD terms switch on with gradients far larger than the pixel
    loss's, the first updates are up to ``1 / sqrt(1 - beta2)`` (~31) x the learning rate per
    element and can wreck a warmed-up student in a few steps. Capping each KD gradient element
    at ``ratio`` x the pixel gradient's RMS (an exponential average with ``beta``, bias
    corrected, updated at every step including the warm-up) keeps the total gradient on the
    scale Adam has adapted to, whatever the KD terms' raw scale. Adapter parameters (KD only)
    are not capped.
    """

    def __init__(self, student_params: Sequence[nn.Parameter], ratio: float, beta: float = 0.99) -> None:
        if not (math.isfinite(ratio) and ratio > 0) or not (0.0 < beta < 1.0):
            raise ValueError(f"KDGradClip: expected ratio > 0 and 0 < beta < 1, got {ratio}, {beta}")
        self.params = list(student_params)
        self.ratio, self.beta = ratio, beta
        self.sq = [torch.zeros_like(p) for p in self.params]
        self.steps = 0

    def backward(
        self, terms: Mapping[str, torch.Tensor], w_pixel: float, extra_params: Sequence[nn.Parameter], w_output: float = 0.0
    ) -> float:
        """Accumulate the pixel gradient plus the capped KD gradient into ``.grad``; returns the
        fraction of student gradient elements whose KD part was capped (0 without KD terms).

        ``w_output`` x ``terms["output"]`` (the effective weight of the output term, when it is
        given) counts with the pixel part: it is an image-space L1 like the pixel loss, on the
        same scale, so only the feature-statistics terms (DRL, IRL) are capped; the running RMS
        is still that of the pixel gradient alone."""
        pix = w_pixel * terms["pixel"]
        out = w_output * terms["output"] if w_output > 0 and "output" in terms else None
        kd = terms["total"] - pix - (out if out is not None else 0.0)
        extra = list(extra_params)
        has_kd = kd.requires_grad
        g_pix = torch.autograd.grad(pix, self.params, retain_graph=True, allow_unused=True)
        g_out = (
            torch.autograd.grad(out, self.params, retain_graph=has_kd, allow_unused=True)
            if out is not None and out.requires_grad else (None,) * len(self.params)
        )
        g_kd = torch.autograd.grad(kd, self.params + extra, allow_unused=True) if has_kd else (None,) * (len(self.params) + len(extra))
        self.steps += 1
        corr = 1.0 - self.beta**self.steps
        clipped = total = 0
        for i, p in enumerate(self.params):
            gp = g_pix[i] if g_pix[i] is not None else torch.zeros_like(p)
            self.sq[i].mul_(self.beta).addcmul_(gp, gp, value=1.0 - self.beta)
            g = gp if g_out[i] is None else gp + g_out[i]
            if g_kd[i] is not None:
                cap = (self.sq[i] / corr).sqrt_().mul_(self.ratio)
                gk = torch.maximum(torch.minimum(g_kd[i], cap), -cap)
                clipped += int((gk != g_kd[i]).sum())
                total += gk.numel()
                g = g + gk
            p.grad = g if p.grad is None else p.grad + g
        for j, p in enumerate(extra):
            gk = g_kd[len(self.params) + j]
            if gk is not None:
                p.grad = gk if p.grad is None else p.grad + gk
        return clipped / total if total else 0.0


def kd_schedule(step: int, cfg: KDConfig) -> float:
    """Factor on the KD weights at 1-based ``step``: 0 for the first ``cfg.kd_warmup`` steps
    (pixel loss only), then a linear ramp to 1 over ``cfg.kd_ramp`` steps, then 1."""
    if step <= cfg.kd_warmup:
        return 0.0
    if cfg.kd_ramp <= 0:
        return 1.0
    return min(1.0, (step - cfg.kd_warmup) / cfg.kd_ramp)


def train_student_alone(
    student: nn.Module, train_pairs: Any, cfg: KDConfig, *, seed: int | None = None, device: str | torch.device = "cpu"
) -> KDResult:
    """The baseline: the same loop, batches and optimiser as :func:`distill_model` with only the
    pixel loss (no teachers)."""
    import dataclasses

    plain = dataclasses.replace(cfg, w_drl=0.0, w_irl=0.0, w_output=0.0)
    return distill_model(None, None, student, train_pairs, plain, seed=seed, device=device)


# --------------------------------------------------------------------------- CLI entry
def load_teacher(cfg: KDConfig) -> nn.Module:
    """Teacher A from ``cfg.teacher_weights``: a KAIR DnCNN file (``model.<i>.*`` keys) or a
    safetensors / weights-only torch state dict (BasicSR ``params`` / ``params_ema`` wrappers
    accepted) for ``cfg.teacher_arch`` built with ``cfg.teacher_kwargs``."""
    from tripled_fast.train.archs import build_model, load_kair_dncnn

    if not cfg.teacher_weights:
        raise ValueError("kd.teacher_weights: a trained Teacher A is required (safetensors or weights-only torch file)")
    path = Path(cfg.teacher_weights)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: teacher weight file not found")
    from ..weights import load_state_file

    state: Any = load_state_file(path)
    if isinstance(state, dict):
        for key in ("params_ema", "params", "state_dict"):
            if key in state and isinstance(state[key], dict):
                state = state[key]
                break
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    if cfg.teacher_arch == "dncnn" and any(k.startswith("model.") for k in state):
        return load_kair_dncnn(path)
    model = build_model(cfg.teacher_arch, in_ch=cfg.in_ch, out_ch=cfg.in_ch, scale=cfg.scale, **cfg.teacher_kwargs)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _load_sources(sources: Sequence[Any], seed: int, color: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from tripled_fast.data.sources import collect_pairs, load_pair

    out = []
    for pair in collect_pairs(sources):
        lq, gt = load_pair(pair, color=color, seed=seed)
        out.append((pair.image_id, lq, gt))
    return out


def training_pool(cfg: KDConfig) -> PatchPool:
    """Non-overlapping ``cfg.patch`` tiles of the ``cfg.train`` sources as a :class:`PatchPool`."""
    from tripled_fast.data.tiles import crop_pair, tile_grid

    color = "gray" if cfg.in_ch == 1 else "rgb"
    gts, lqs = [], []
    for _, lq, gt in _load_sources(cfg.train, cfg.seed, color):
        for y, x in tile_grid(gt.shape[0], gt.shape[1], cfg.patch, cfg.patch, cfg.scale):
            lq_c, gt_c = crop_pair(lq, gt, int(y), int(x), cfg.patch, cfg.scale)
            gts.append(gt_c)
            lqs.append(lq_c)
    if not gts:
        raise ValueError(f"kd.train: no image is at least {cfg.patch} pixels on each side")
    return PatchPool(gt=np.stack(gts), lq=np.stack(lqs), scale=cfg.scale)


def run_kd(cfg: KDConfig) -> dict[str, Any]:
    """``tripled-fast kd``: distil ``cfg.teacher_weights`` into a compressed student.

    Steps: load Teacher A (:func:`load_teacher`); build the student (``cfg.student_kwargs`` or
    :func:`make_student` with ``width_ratio`` / ``depth_ratio`` / ``max_ratio``); tile the
    ``cfg.train`` sources into ``cfg.patch`` patches; load Teacher B from
    ``cfg.teacher_b_weights`` or train it; run :func:`distill_model`; with ``cfg.baseline`` also
    train the same student alone (same seed and batches); evaluate teacher / student / baseline
    on the ``cfg.test`` sources (PSNR / SSIM, BasicSR conventions); count params and FLOPs on
    ``1 x in_ch x 256 x 256``.

    Writes into ``cfg.out_dir`` (atomically): ``student.safetensors`` (+ ``baseline.safetensors``,
    ``teacher_b.safetensors`` when trained here) and ``kd_report.json`` (config, student
    arch / kwargs, costs, metrics, loss history). Returns the report dict.
    """
    from safetensors.torch import save_file

    from tripled_fast.config import EvalConfig
    from tripled_fast.metrics.cost import model_cost
    from tripled_fast.kd.students import infer_arch, make_student
    from tripled_fast.metrics.evaluate import evaluate_pairs
    from tripled_fast.runfiles import atomic_path, atomic_write_json
    from tripled_fast.train.archs import build_model

    if not cfg.train:
        raise ValueError("kd.train: at least one training source is required")
    device = resolve_device(cfg.device)
    out_dir = Path(cfg.out_dir)
    teacher = load_teacher(cfg)
    arch, t_kwargs = infer_arch(teacher)

    def new_student() -> tuple[nn.Module, dict[str, Any]]:
        if cfg.student_kwargs:
            net = build_model(arch, in_ch=cfg.in_ch, out_ch=cfg.in_ch, scale=cfg.scale, seed=cfg.seed, **cfg.student_kwargs)
            return net, dict(cfg.student_kwargs)
        return make_student(
            arch, t_kwargs, in_ch=cfg.in_ch, scale=cfg.scale, width_ratio=cfg.width_ratio,
            depth_ratio=cfg.depth_ratio, max_ratio=cfg.max_ratio, seed=cfg.seed,
        )

    pool = training_pool(cfg)
    teacher_b = None
    if cfg.teacher_b_weights:
        from safetensors.torch import load_file

        from tripled_fast.kd.autoencoder import clean_autoencoder_copy

        teacher_b = clean_autoencoder_copy(teacher)
        teacher_b.load_state_dict(load_file(cfg.teacher_b_weights), strict=True)
    student, s_kwargs = new_student()
    result = distill_model(teacher, teacher_b, student, pool, cfg, seed=cfg.seed, device=device)
    models: dict[str, nn.Module] = {"teacher": teacher, "student": result.student}
    histories = {"student": result.history}
    if cfg.baseline:
        base, _ = new_student()
        alone = train_student_alone(base, pool, cfg, seed=cfg.seed, device=device)
        models["baseline"] = alone.student
        histories["baseline"] = alone.history

    shape = (1, cfg.in_ch, 256, 256)
    report: dict[str, Any] = {
        "config": cfg.to_dict(), "arch": arch, "teacher_kwargs": t_kwargs, "student_kwargs": s_kwargs,
        "layer_map": result.layer_map.to_dict(), "history": histories, "train_patches": int(pool.gt.shape[0]),
        "seconds": {"distill": result.seconds, "teacher_b": result.teacher_b_seconds}, "models": {},
    }
    test = _load_sources(cfg.test, cfg.seed, "gray" if cfg.in_ch == 1 else "rgb") if cfg.test else []
    ev_cfg = EvalConfig(max_images=cfg.max_test_images)
    for name, model in models.items():
        row = model_cost(model.to(device), shape, device=device).to_dict()
        if test:
            ev = evaluate_pairs(model, test, scale=cfg.scale, cfg=ev_cfg, device=device)
            row.update(psnr=ev.psnr, ssim=ev.ssim, images=len(ev.rows))
        report["models"][name] = row
    out_dir.mkdir(parents=True, exist_ok=True)
    to_save = {"student": result.student, "baseline": models.get("baseline")}
    if teacher_b is None and result.teacher_b is not None:
        to_save["teacher_b"] = result.teacher_b
    for name, model in to_save.items():
        if model is None:
            continue
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        with atomic_path(out_dir / f"{name}.safetensors") as tmp:
            save_file(state, str(tmp))
    atomic_write_json(out_dir / "kd_report.json", report)
    return report
