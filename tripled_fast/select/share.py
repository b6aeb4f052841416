"""The seeded share of a pool that a selection chooses from (``select.pool_share``).

A deterministic selection (k-center coverage, herding) returns nearly the same subset for every
seed, so one user gets one subset and its luck, good or bad, is never averaged out. Choosing
from a uniform random share of the pool, drawn by the seed, makes the subset vary by seed the
way a random subset does (bench/QUALITY.md, "The subset's luck"). The draw has its own random
stream, ``default_rng([seed, 0x6A17])``, so the seed's other draws are not shifted; the quality
harness's ``pool_jitter`` uses the same rows (``share = 1 - pool_jitter``).
"""
from __future__ import annotations

import math

import numpy as np

#: second word of the share's random stream (``np.random.default_rng([seed, SHARE_STREAM])``)
SHARE_STREAM = 0x6A17


def share_rows(n: int, share: float, seed: int, at_least: int = 1) -> np.ndarray:
    """Sorted rows of a uniform random ``max(round(share * n), at_least)`` of ``n`` patches.

    Args:
        n: pool size (>= 1).
        share: fraction in ``(0, 1]``; 1 returns every row.
        seed: draws the rows (same seed, same rows).
        at_least: the fewest rows to keep (e.g. the budget, so the share can always fill it).

    Returns:
        ``(K,)`` sorted int64 row indices, ``K = min(n, max(round(share * n), at_least, 1))``.
    """
    if not (isinstance(share, (int, float)) and math.isfinite(share) and 0.0 < share <= 1.0):
        raise ValueError(f"select.pool_share: expected a fraction in (0, 1], got {share!r}")
    if n < 1:
        raise ValueError(f"select.pool_share: the pool is empty (n={n})")
    keep = min(n, max(1, int(at_least), int(round(share * n))))
    if keep == n:
        return np.arange(n, dtype=np.int64)
    rows = np.random.default_rng([seed, SHARE_STREAM]).choice(n, keep, replace=False)
    return np.sort(rows).astype(np.int64)
