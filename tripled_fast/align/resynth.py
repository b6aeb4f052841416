"""The LQ side of an aligned pair: the aligner's transform, or the degradation re-applied.

:func:`~tripled_fast.align.aligner.align_subset` pushes the GT *and* the LQ patches through the
same aligner CNN. For real camera pairs that is all one can do, but for a synthesised pool (clean
images + a ``--degrade`` spec) it changes the degradation itself: the aligner smooths a noisy
patch as readily as it shifts its tone (measured on a denoising subset: the LQ - GT std fell
from 24.4 to 20.6 grey levels, bench/QUALITY.md), so the model trains on a weaker degradation
than it will meet. Re-synthesising the LQ from the aligned GT with the pair's own spec keeps the
degradation exactly as specified.

``align.lq`` chooses (:data:`LQ_MODES`):

* ``transform`` - the aligner applied to the LQ patch (the only choice for an LQ file on disk);
* ``resynth`` - ``apply_degradation(aligned_gt, spec, rng)`` for every patch; an error if any
  patch's LQ is a file (no spec to re-apply);
* ``auto`` - ``resynth`` where the patch has a spec, ``transform`` where its LQ is a file.

The degradation runs on the patch, not the whole photo: per-pixel ops (noise, low light) and
JPEG on 8-aligned patches match the photo-level LQ in distribution; a blur sees the patch border
(mirror padding) instead of the neighbouring pixels, and haze / rain draw their depth map or
streaks at the patch's size. Each patch draws from its own generator, seeded by
``(seed, key)``, so the result does not depend on the order or on the other patches.
"""
from __future__ import annotations

from typing import Sequence, get_args, get_type_hints

import numpy as np

from ..config import AlignConfig
from ..data.degrade import apply_degradation
from ..data.sources import stable_hash

__all__ = ["LQ_MODES", "resynthesise_lq", "aligned_lq"]

#: values of ``AlignConfig.lq`` (read from the config's type, so the two cannot drift apart)
LQ_MODES = get_args(get_type_hints(AlignConfig)["lq"])


def resynthesise_lq(gt: np.ndarray, specs: Sequence[str], keys: Sequence[object], *, seed: int) -> np.ndarray:
    """Degrade every GT patch with its own spec: ``lq[i] = apply_degradation(gt[i], specs[i], rng_i)``.

    Args:
        gt: ``uint8 (N, h, w, C)`` (aligned) GT patches.
        specs: ``N`` non-empty degradation specs (``tripled_fast.data.degrade`` syntax).
        keys: ``N`` patch identities (e.g. manifest patch ids); ``rng_i`` is seeded by
            ``stable_hash("align-resynth", seed, keys[i])``.
        seed: run seed.

    Returns:
        ``uint8 (N, h', w', C)``; ``h' = h / s`` for a spec with scale ``s``. All specs must give
        the same output size.

    Raises:
        ValueError: on a malformed ``gt``, length mismatches, an empty spec, or specs whose
            outputs differ in size.
    """
    if not isinstance(gt, np.ndarray) or gt.dtype != np.uint8 or gt.ndim != 4:
        raise ValueError(f"gt: expected a uint8 N x h x w x C array, got "
                         f"{getattr(gt, 'dtype', type(gt))} with shape {getattr(gt, 'shape', None)}")
    if len(specs) != gt.shape[0] or len(keys) != gt.shape[0]:
        raise ValueError(f"specs / keys: expected {gt.shape[0]} each (one per patch), got {len(specs)} / {len(keys)}")
    out: list[np.ndarray] = []
    for patch, spec, key in zip(gt, specs, keys):
        if not spec:
            raise ValueError(f"patch {key}: its LQ is a file, not a degradation spec, so it cannot be "
                             f"re-synthesised (align.lq: use 'transform' or 'auto')")
        lq = apply_degradation(patch, spec, np.random.default_rng(stable_hash("align-resynth", seed, key)))
        if out and lq.shape != out[0].shape:
            raise ValueError(f"patch {key}: {spec!r} gives an LQ of {lq.shape}, the first patch's spec "
                             f"{specs[0]!r} gives {out[0].shape}; the subset must share one scale")
        out.append(lq)
    if not out:
        return np.empty((0, *gt.shape[1:]), np.uint8)
    return np.stack(out)


def aligned_lq(mode: str, gt_aligned: np.ndarray, lq_transformed: np.ndarray, specs: Sequence[str],
               keys: Sequence[object], *, seed: int) -> np.ndarray:
    """The LQ side of the aligned subset under ``align.lq`` = ``mode`` (see the module doc).

    Args:
        mode: one of :data:`LQ_MODES`.
        gt_aligned: ``uint8 (N, h, w, C)`` aligned GT.
        lq_transformed: ``uint8 (N, h/s, w/s, C)`` the aligner applied to the original LQ.
        specs: per patch, its degradation spec, ``""`` for an LQ file on disk.
        keys, seed: as in :func:`resynthesise_lq`.

    Returns:
        ``uint8`` array shaped like ``lq_transformed``.
    """
    if mode not in LQ_MODES:
        raise ValueError(f"align.lq: expected one of {list(LQ_MODES)}, got {mode!r}")
    if len(specs) != len(lq_transformed) or len(keys) != len(lq_transformed):
        raise ValueError(f"specs / keys: expected {len(lq_transformed)} each (one per patch), "
                         f"got {len(specs)} / {len(keys)}")
    if mode == "transform":
        return lq_transformed
    rows = np.arange(len(specs)) if mode == "resynth" else np.flatnonzero([bool(s) for s in specs])
    out = lq_transformed.copy()
    if rows.size:
        new = resynthesise_lq(gt_aligned[rows], [specs[i] for i in rows], [keys[i] for i in rows], seed=seed)
        if new.shape[1:] != out.shape[1:]:
            raise ValueError(f"align.lq={mode}: the re-synthesised LQ is {new.shape[1:]}, the pack's LQ "
                             f"{out.shape[1:]}; the spec's scale does not match the pool's")
        out[rows] = new
    return out
