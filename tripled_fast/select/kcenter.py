"""Greedy k-center (farthest-first traversal) coverage selection.

Gonzalez' greedy: repeatedly pick the candidate farthest from every centre chosen so far. Its
covering radius is at most twice the optimum. Memory is ``O(N)``: one vector of squared
distances to the nearest centre, updated after every new centre in row chunks -- an ``N x k``
distance matrix is never formed.

Backends:

* ``"numpy"`` -- chunked BLAS on the CPU; features may be a float16 memmap.
* ``"torch"`` -- the candidate rows are copied once to the device (CUDA when available) as
  float32 and updated there.
* ``"triton"`` -- like ``"torch"``, but each greedy step calls the fused kernel
  ``tripled_fast.kernels.kcenter.kcenter_update(x, min_dist, center)``, which lowers
  ``min_dist`` in place to ``min(min_dist, ||x - x[center]||^2)`` (``x``: ``(M, D)`` float32
  candidate rows, ``min_dist``: ``(M,)`` float32, same device; it computes the difference
  directly rather than through the norm expansion).
* ``"auto"`` -- ``"triton"`` when CUDA is present and the kernel module imports, else
  ``"torch"`` when CUDA is present, else ``"numpy"``.

The numpy and torch backends compute squared distances as ``|x|^2 + |c|^2 - 2 x.c`` (clipped
at 0) in float32.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

_EXCLUDED = -1.0          # marker in the min-distance vector: already a centre, never picked again
_TEMP_ELEMENTS = 1 << 22  # bound on the (rows x centres) temporary of multi-centre updates
_GATHER_BYTES = 1 << 29   # candidate rows up to this size are gathered once as contiguous float32


def _resolve_backend(backend: str) -> str:
    if backend not in ("auto", "numpy", "torch", "triton"):
        raise ValueError(
            f"kcenter_greedy: backend expected 'auto', 'numpy', 'torch' or 'triton', got {backend!r}"
        )
    if backend != "auto":
        return backend
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return "numpy"
    if not torch.cuda.is_available():
        return "numpy"
    try:
        from tripled_fast.kernels.kcenter import kcenter_update  # noqa: F401
    except ImportError:
        return "torch"
    return "triton"


class _NumpyRows:
    """Candidate rows read from a (possibly memmapped) array in chunks.

    When the candidate rows are a subset (``rows``) or not float32 C-contiguous and fit in
    ``_GATHER_BYTES``, they are gathered / converted once, so the greedy steps read one
    contiguous float32 block instead of re-gathering (and re-converting) every step.
    """

    def __init__(self, x: np.ndarray, rows: np.ndarray | None, chunk: int) -> None:
        self.m = x.shape[0] if rows is None else rows.shape[0]
        plain = rows is None and x.dtype == np.float32 and x.flags.c_contiguous
        if not plain and self.m * x.shape[1] * 4 <= _GATHER_BYTES:
            gathered = np.empty((self.m, x.shape[1]), dtype=np.float32)
            for s in range(0, self.m, chunk):
                gathered[s:s + chunk] = x[s:s + chunk] if rows is None else x[rows[s:s + chunk]]
            x, rows = gathered, None
        self.x, self.rows, self.chunk = x, rows, chunk
        self.sqn = np.empty(self.m, dtype=np.float32)
        for s, block in self.blocks():
            self.sqn[s:s + block.shape[0]] = np.einsum("ij,ij->i", block, block)

    def blocks(self, chunk: int | None = None):
        step = chunk or self.chunk
        for s in range(0, self.m, step):
            if self.rows is None:
                block = self.x[s:s + step]
            else:
                block = self.x[self.rows[s:s + step]]
            yield s, np.ascontiguousarray(block, dtype=np.float32)

    def mean(self) -> np.ndarray:
        total = np.zeros(self.x.shape[1], dtype=np.float64)
        for _, block in self.blocks():
            total += block.sum(0, dtype=np.float64)
        return (total / self.m).astype(np.float32)

    def nearest(self, point: np.ndarray) -> int:
        best, best_d2 = 0, np.inf
        for s, block in self.blocks():
            d2 = block @ point
            d2 *= -2.0
            d2 += self.sqn[s:s + block.shape[0]]
            i = int(np.argmin(d2))  # |point|^2 is common to all rows
            if d2[i] < best_d2:
                best, best_d2 = s + i, float(d2[i])
        return best

    def update_pos(self, min_d2: np.ndarray, pos: int) -> None:
        """Lower ``min_d2`` with the squared distances to candidate row ``pos``."""
        row = pos if self.rows is None else int(self.rows[pos])
        self.update(min_d2, np.ascontiguousarray(self.x[row:row + 1], dtype=np.float32))

    def update(self, min_d2: np.ndarray, centres: np.ndarray) -> None:
        """Lower ``min_d2`` with the squared distances to ``centres`` ``(C, D)`` float32."""
        cn = np.einsum("ij,ij->i", centres, centres)
        step = max(1, min(self.chunk, _TEMP_ELEMENTS // max(1, centres.shape[0])))
        for s, block in self.blocks(step):
            e = s + block.shape[0]
            if centres.shape[0] == 1:
                d2 = block @ centres[0]
                d2 *= -2.0
                d2 += self.sqn[s:e]
                d2 += cn[0]
            else:
                d2 = (self.sqn[s:e, None] + cn[None, :] - 2.0 * (block @ centres.T)).min(1)
            np.maximum(d2, 0.0, out=d2)
            np.minimum(min_d2[s:e], d2, out=min_d2[s:e])


class _TorchRows:
    """Candidate rows held as one float32 tensor on the device."""

    def __init__(self, x: np.ndarray, rows: np.ndarray | None, chunk: int,
                 update_one: Callable | None) -> None:
        import torch

        self.torch = torch
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.chunk = chunk
        self.m = x.shape[0] if rows is None else rows.shape[0]
        self.t = torch.empty((self.m, x.shape[1]), dtype=torch.float32, device=self.device)
        for s in range(0, self.m, chunk):
            block = x[s:s + chunk] if rows is None else x[rows[s:s + chunk]]
            self.t[s:s + block.shape[0]] = torch.from_numpy(
                np.ascontiguousarray(block, dtype=np.float32)).to(self.device)
        self.sqn = (self.t * self.t).sum(1)
        self.update_one = update_one

    def mean(self) -> np.ndarray:
        return self.t.double().mean(0).float().cpu().numpy()

    def nearest(self, point: np.ndarray) -> int:
        p = self.torch.from_numpy(point).to(self.device)
        d2 = self.sqn + (p @ p) - 2.0 * (self.t @ p)
        return int(self.torch.argmin(d2).item())

    def update_pos(self, min_d2, pos: int) -> None:
        """Lower ``min_d2`` with the squared distances to candidate row ``pos``."""
        if self.update_one is not None:
            self.update_one(self.t, min_d2, int(pos))
            return
        self._update(min_d2, self.t[pos:pos + 1])

    def update(self, min_d2, centres: np.ndarray) -> None:
        """Lower ``min_d2`` with the squared distances to ``centres`` ``(C, D)``."""
        c = self.torch.from_numpy(np.ascontiguousarray(centres, dtype=np.float32)).to(self.device)
        self._update(min_d2, c)

    def _update(self, min_d2, c) -> None:
        torch = self.torch
        cn = (c * c).sum(1)
        step = max(1, min(self.chunk, _TEMP_ELEMENTS // max(1, c.shape[0])))
        for s in range(0, self.m, step):
            e = min(s + step, self.m)
            d2 = (self.sqn[s:e, None] + cn[None, :] - 2.0 * (self.t[s:e] @ c.T)).amin(1)
            torch.minimum(min_d2[s:e], d2.clamp_min_(0.0), out=min_d2[s:e])


def group_room(groups: np.ndarray | None, room: np.ndarray | None, n: int,
               who: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Check a per-row group cap: ``groups`` ``(N,)`` non-negative integers and ``room`` one
    non-negative integer per group, given together or not at all.

    Returns:
        ``(groups, room)`` as arrays (``room`` an int64 copy the caller may decrement), or
        ``(None, None)``.
    """
    if (groups is None) != (room is None):
        raise ValueError(f"{who}: groups and room go together (give both or neither)")
    if groups is None:
        return None, None
    g_all = np.asarray(groups)
    left = np.asarray(room).astype(np.int64).copy()
    if g_all.shape != (n,) or not np.issubdtype(g_all.dtype, np.integer) or (n and g_all.min() < 0):
        raise ValueError(f"{who}: groups expected ({n},) non-negative integers, got shape {g_all.shape}")
    if left.ndim != 1 or (n and left.size <= int(g_all.max())) or (left < 0).any():
        raise ValueError(f"{who}: room expected one non-negative integer per group")
    return g_all, left


def kcenter_greedy(x: np.ndarray, k: int, *, seed: int, initial: np.ndarray | None = None,
                   candidates: np.ndarray | None = None, chunk: int = 65536,
                   backend: str = "auto", start: str = "mean",
                   stop_radius: float | None = None, groups: np.ndarray | None = None,
                   room: np.ndarray | None = None) -> np.ndarray:
    """Greedy k-center: ``k`` new centres, each the candidate farthest from all earlier centres.

    Args:
        x: ``(N, D)`` points (float32/float16, memmap allowed for the numpy backend).
        k: number of new centres (>= 0).
        seed: seeds the first centre when ``start="random"``; the default ``start="mean"`` is
            deterministic and does not use it.
        initial: indices into ``x`` of centres already chosen (they seed the distances, are never
            picked again and are not part of the result). Need not be candidates.
        candidates: indices into ``x`` that may be picked (default: all rows). Only candidate
            rows are scored.
        chunk: rows per chunk (bounds the temporaries).
        backend: ``"auto"``, ``"numpy"``, ``"torch"`` or ``"triton"`` (see module docstring).
        start: first centre when ``initial`` is empty: ``"mean"`` = the candidate nearest the
            candidates' mean, ``"random"`` = a seeded uniform candidate.
        stop_radius: stop early (returning fewer than ``k``) once every remaining candidate lies
            within this Euclidean distance of a centre (used to skip near-duplicates).
        groups: ``(N,)`` non-negative integer group per row of ``x`` (e.g. its source image);
            with ``room``, a cap on the picks per group.
        room: ``(G,)`` non-negative integers, the number of new centres each group may still
            give (``G > groups.max()``); a group whose room is used up is never picked again.

    Returns:
        ``(k',)`` int64 indices into ``x`` in pick order, ``k' <= k`` (``k' < k`` only through
        ``stop_radius`` or when the groups' room runs out). Ties are broken by the lowest index.
    """
    if x.ndim != 2:
        raise ValueError(f"kcenter_greedy: expected an (N, D) array, got shape {x.shape}")
    n = x.shape[0]
    if k < 0:
        raise ValueError(f"kcenter_greedy: expected k >= 0, got {k}")
    if chunk < 1:
        raise ValueError(f"kcenter_greedy: expected chunk >= 1, got {chunk}")
    if start not in ("mean", "random"):
        raise ValueError(f"kcenter_greedy: start expected 'mean' or 'random', got {start!r}")
    rows = None
    if candidates is not None:
        rows = np.unique(np.asarray(candidates, dtype=np.int64))
        if rows.size and (rows[0] < 0 or rows[-1] >= n):
            raise ValueError(f"kcenter_greedy: candidates expected indices in [0, {n})")
    init = np.unique(np.asarray(initial if initial is not None else [], dtype=np.int64))
    if init.size and (init[0] < 0 or init[-1] >= n):
        raise ValueError(f"kcenter_greedy: initial expected indices in [0, {n})")
    m = n if rows is None else rows.shape[0]
    # positions (within the candidate rows) of initial centres that are candidates themselves
    if rows is None:
        init_pos = init
    else:
        hit = np.searchsorted(rows, init)
        hit = np.minimum(hit, max(m - 1, 0))
        init_pos = hit[(m > 0) & (rows[hit] == init)] if m else np.zeros(0, np.int64)
    available = m - init_pos.shape[0]
    if k > available:
        raise ValueError(
            f"kcenter_greedy: asked for k={k} new centres but only {available} candidates are free"
        )
    g_all, left = group_room(groups, room, n, "kcenter_greedy")
    if left is not None:
        g_pos = g_all if rows is None else g_all[rows]  # group of each candidate position
        by_group = np.argsort(g_pos, kind="stable")     # candidate positions, grouped
        g_start = np.searchsorted(g_pos[by_group], np.arange(left.size + 1))
    if k == 0:
        return np.zeros(0, dtype=np.int64)

    name = _resolve_backend(backend)
    if name == "numpy":
        data = _NumpyRows(x, rows, chunk)
        min_d2 = np.full(m, np.inf, dtype=np.float32)
        argmax = lambda v: int(np.argmax(v))  # noqa: E731  first maximum = lowest index
        top = lambda v, i: float(v[i])  # noqa: E731
    else:
        import torch

        update_one = None
        if name == "triton":
            from tripled_fast.kernels.kcenter import kcenter_update

            update_one = kcenter_update
        data = _TorchRows(x, rows, chunk, update_one)
        min_d2 = torch.full((m,), float("inf"), dtype=torch.float32, device=data.device)
        argmax = lambda v: int(torch.argmax(v).item())  # noqa: E731  first maximum (documented)
        top = lambda v, i: float(v[i].item())  # noqa: E731

    def centre_rows(idx: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x[np.sort(idx)], dtype=np.float32)

    if init.size:
        batch = max(1, min(256, init.size))
        for s in range(0, init.size, batch):
            data.update(min_d2, centre_rows(init[s:s + batch]))
        min_d2[init_pos] = _EXCLUDED
        first = None
    elif start == "mean":
        first = data.nearest(data.mean())
    else:
        first = int(np.random.default_rng(seed).integers(m))

    def close_group(grp: int) -> None:
        """Exclude every candidate of a group whose room is used up."""
        idx = by_group[g_start[grp]:g_start[grp + 1]]
        min_d2[idx if name == "numpy" else data.torch.from_numpy(idx).to(data.device)] = _EXCLUDED

    if left is not None:
        for grp in np.flatnonzero(left == 0):
            close_group(int(grp))
        if first is not None and left[g_pos[first]] == 0:
            first = None

    stop_d2 = None if stop_radius is None else float(stop_radius) ** 2
    picks: list[int] = []
    pos = first
    while len(picks) < k:
        if pos is None:
            pos = argmax(min_d2)
            if top(min_d2, pos) < 0.0:  # every candidate is a centre or in a full group
                break
            if stop_d2 is not None and top(min_d2, pos) <= stop_d2:
                break
        picks.append(pos if rows is None else int(rows[pos]))
        data.update_pos(min_d2, pos)
        min_d2[pos] = _EXCLUDED
        if left is not None:
            grp = int(g_pos[pos])
            left[grp] -= 1
            if left[grp] == 0:
                close_group(grp)
        pos = None
    return np.asarray(picks, dtype=np.int64)
