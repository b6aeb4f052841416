"""Kernel herding: a subset whose kernel mean embedding follows the pool's.

Greedy k-center covers the *support* of the feature distribution, so most of its picks are
isolated, atypical patches; a uniform random subset follows the *density* but with the variance
of a few dozen draws. Kernel herding (Chen, Welling & Smola, UAI 2010) is the deterministic
middle: it picks, one at a time, the point that most lowers the maximum mean discrepancy (MMD)
between the picks and the pool under a Gaussian kernel ``k(x, y) = exp(-|x - y|^2 / (2 s^2))``.
With ``t`` points ``S`` picked, the next is

    argmax_x  (t + 1) * mu(x) - sum_{s in S} k(x, s),      mu(x) = mean_{y in pool} k(x, y)

(the kernel density of the pool at ``x`` pulls picks to typical patches; the second term pushes
them away from what is already picked). ``mu`` is measured against up to ``max_ref`` pool rows
spaced evenly over the array (deterministic, no RNG; exact when the pool is no larger); the
bandwidth ``s`` is the median pairwise distance of those rows unless given (the usual median
heuristic). One greedy step costs one ``(M, D) x (D,)`` product, like a k-center step; memory is
``O(M)`` beyond the gathered candidate rows.
"""
from __future__ import annotations

import numpy as np

from tripled_fast.select.kcenter import group_room

_CHUNK = 4096


def _ref_rows(n: int, max_ref: int) -> np.ndarray:
    if n <= max_ref:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, max_ref).round().astype(np.int64))


def _sq_dists(a: np.ndarray, b: np.ndarray, bn: np.ndarray) -> np.ndarray:
    d2 = np.einsum("ij,ij->i", a, a)[:, None] + bn[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0, out=d2)


def median_bandwidth(x: np.ndarray, max_ref: int = 4096) -> float:
    """Median pairwise Euclidean distance among up to ``max_ref`` evenly spaced rows of ``x``.

    Args:
        x: ``(N, D)`` rows, ``N >= 2``.
        max_ref: largest number of rows compared (>= 2).

    Returns:
        The distance (> 0; ``1e-6`` when every compared row is the same point).
    """
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"median_bandwidth: expected an (N, D) array with N >= 2, got shape {x.shape}")
    if max_ref < 2:
        raise ValueError(f"median_bandwidth: expected max_ref >= 2, got {max_ref}")
    r = np.ascontiguousarray(x[_ref_rows(x.shape[0], max_ref)], dtype=np.float32)
    rn = np.einsum("ij,ij->i", r, r)
    upper = []
    for s in range(0, r.shape[0], _CHUNK):
        d2 = _sq_dists(r[s:s + _CHUNK], r, rn)
        i, j = np.triu_indices(d2.shape[0], k=1, m=r.shape[0] - s)
        upper.append(d2[i, j + s])
    return max(float(np.sqrt(np.median(np.concatenate(upper)))), 1e-6)


def kernel_density(x: np.ndarray, ref: np.ndarray, bandwidth: float) -> np.ndarray:
    """``(N,)`` float64 mean Gaussian kernel of every row of ``x`` against the rows of ``ref``.

    Args:
        x: ``(N, D)`` rows.
        ref: ``(R, D)`` reference rows, ``R >= 1``.
        bandwidth: kernel width ``s`` (> 0).
    """
    if x.ndim != 2 or ref.ndim != 2 or x.shape[1] != ref.shape[1] or ref.shape[0] < 1:
        raise ValueError(f"kernel_density: expected (N, D) and (R, D) arrays with R >= 1, got {x.shape}, {ref.shape}")
    if not bandwidth > 0:
        raise ValueError(f"kernel_density: expected a bandwidth > 0, got {bandwidth}")
    ref = np.ascontiguousarray(ref, dtype=np.float32)
    rn = np.einsum("ij,ij->i", ref, ref)
    gamma = 1.0 / (2.0 * bandwidth * bandwidth)
    out = np.empty(x.shape[0], np.float64)
    for s in range(0, x.shape[0], _CHUNK):
        block = np.ascontiguousarray(x[s:s + _CHUNK], dtype=np.float32)
        d2 = _sq_dists(block, ref, rn)
        out[s:s + block.shape[0]] = np.exp(-gamma * d2).mean(1, dtype=np.float64)
    return out


def herding_greedy(x: np.ndarray, k: int, *, initial: np.ndarray | None = None,
                   avoid: np.ndarray | None = None, candidates: np.ndarray | None = None,
                   bandwidth: float | None = None, max_ref: int = 4096,
                   dup_radius: float | None = None, groups: np.ndarray | None = None,
                   room: np.ndarray | None = None) -> np.ndarray:
    """Greedy kernel herding: ``k`` new picks among ``candidates`` (see the module docstring).

    The target distribution is the candidate rows themselves.

    Args:
        x: ``(N, D)`` points (e.g. L2-normalised features).
        k: number of new picks (>= 0).
        initial: indices into ``x`` already picked: they count in the herding sum, are never
            picked again and are not part of the result.
        avoid: indices into ``x`` that are not picks and not part of the target (e.g. another
            task's picks): only the duplicate test sees them.
        candidates: indices into ``x`` that may be picked and that define the target
            distribution (default: every row not in ``avoid``).
        bandwidth: kernel width ``s`` (> 0); None = the median heuristic on the candidates.
        max_ref: largest number of candidate rows ``mu`` and the median are measured on.
        dup_radius: a candidate within this Euclidean distance of a pick, an ``initial`` or an
            ``avoid`` row is never picked (near-duplicates); None = no test.
        groups: ``(N,)`` non-negative integer group per row (e.g. its source photo); with
            ``room``, a cap on the new picks per group.
        room: ``(G,)`` non-negative integers, the number of new picks each group may still give.

    Returns:
        ``(k',)`` int64 indices into ``x`` in pick order; ``k' < k`` only when every candidate
        left is a pick, a near-duplicate or in a group without room. Ties go to the lowest index.
    """
    if x.ndim != 2:
        raise ValueError(f"herding_greedy: expected an (N, D) array, got shape {x.shape}")
    n = x.shape[0]
    if k < 0:
        raise ValueError(f"herding_greedy: expected k >= 0, got {k}")

    def index_set(name: str, v: np.ndarray | None) -> np.ndarray:
        idx = np.unique(np.asarray(v if v is not None else [], dtype=np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= n):
            raise ValueError(f"herding_greedy: {name} expected indices in [0, {n})")
        return idx

    init, avoid_idx = index_set("initial", initial), index_set("avoid", avoid)
    if candidates is None:
        rows = np.setdiff1d(np.arange(n, dtype=np.int64), avoid_idx)
    else:
        rows = index_set("candidates", candidates)
    g_all, left = group_room(groups, room, n, "herding_greedy")
    if bandwidth is not None and not bandwidth > 0:
        raise ValueError(f"herding_greedy: expected a bandwidth > 0, got {bandwidth}")
    if k == 0 or rows.size == 0:
        return np.zeros(0, dtype=np.int64)

    xc = np.ascontiguousarray(x[rows], dtype=np.float32)
    m = rows.size
    if bandwidth is None:
        bandwidth = median_bandwidth(xc, max_ref) if m >= 2 else 1.0
    gamma = 1.0 / (2.0 * bandwidth * bandwidth)
    density = kernel_density(xc, xc[_ref_rows(m, max_ref)], bandwidth)
    sqn = np.einsum("ij,ij->i", xc, xc)
    pushed = np.zeros(m, np.float64)            # sum of k(x, s) over the picks so far
    open_ = np.ones(m, bool)                    # still pickable
    dup_d2 = None if dup_radius is None else float(dup_radius) ** 2
    g_pos = None if left is None else g_all[rows]

    def dist2_to(p: np.ndarray) -> np.ndarray:
        d2 = sqn + float(p @ p) - 2.0 * (xc @ p)
        return np.maximum(d2, 0.0, out=d2)

    def close_near(d2: np.ndarray) -> None:
        if dup_d2 is not None:
            open_[d2 <= dup_d2] = False

    # rows already picked count in the sum; they and the avoided rows close their near-duplicates
    for idx, counts in ((init, True), (avoid_idx, False)):
        for s in range(0, idx.size, 256):
            ref = np.ascontiguousarray(x[idx[s:s + 256]], dtype=np.float32)
            d2 = _sq_dists(xc, ref, np.einsum("ij,ij->i", ref, ref))
            if counts:
                pushed += np.exp(-gamma * d2).sum(1)
            close_near(d2.min(1))
        open_[np.isin(rows, idx)] = False
    if left is not None:
        open_ &= left[g_pos] > 0

    t = init.size
    picks: list[int] = []
    while len(picks) < k and open_.any():
        score = (t + 1) * density - pushed
        score[~open_] = -np.inf
        pos = int(np.argmax(score))              # first maximum = lowest index
        picks.append(int(rows[pos]))
        d2 = dist2_to(xc[pos])
        pushed += np.exp(-gamma * d2)
        open_[pos] = False
        close_near(d2)
        t += 1
        if left is not None:
            grp = int(g_pos[pos])
            left[grp] -= 1
            if left[grp] == 0:
                open_[g_pos == grp] = False
    return np.asarray(picks, dtype=np.int64)
