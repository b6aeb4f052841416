"""Budgeted subset selection: task (or cluster) quotas, k-center coverage within them, stage lists.

Random subsets are a strong baseline for restoration training (on Train400 denoising, the 2 %
most complex patches trained 2.2 dB worse than a random 2 %), so the selection leans on
*distribution coverage* and uses complexity only as a mild bias:

1. the budget is split across task tags in proportion to their patch counts (``per_task``),
2. with ``quotas="clusters"``, each task's share is split across its clusters in proportion to
   cluster mass (largest-remainder method, exact totals, never more than a cluster holds); with
   ``quotas="strata"`` the same is done over ``strata`` equal-count complexity quantiles of each
   task (:func:`complexity_strata`), so the subset's complexity mix follows the pool's (the
   default's subset leans to complex patches; on the four validation splits strata was not
   adopted: bench/QUALITY.md, Defaults, "complexity-quantile quotas"); with
   ``quotas="tasks"`` the clusters are ignored here and each task's pool is one group (coverage
   over the whole task pool, like the k-center baseline; the default, chosen on the validation
   splits in bench/QUALITY.md: +0.05-0.07 dB on x4 SR, equal within the seed spread on denoising),
3. within a group (a task's pool, or a cluster) with quota ``m``: ``round(complexity_weight * m)``
   patches by highest complexity, the rest by greedy k-center coverage of the group's features seeded with
   those (``complexity_weight = 0`` is pure coverage; with ``coverage="herding"`` the rest are
   picked by kernel herding instead, :mod:`tripled_fast.select.herding`, which follows the
   group's feature density rather than its support; validated on the four splits, not adopted:
   bench/QUALITY.md, Defaults, "kernel herding"); near-duplicates
   (cosine >= ``dedup_threshold``) are skipped and replaced by the next pick. A group that runs
   out of distinct patches hands its shortfall to the other groups of its task, then to all
   groups; only when the whole pool has too few distinct patches are duplicates accepted.
   With ``cross_task`` (default) a group's duplicate test and coverage also count the picks
   already made in the *other tasks'* groups (tasks are filled in sorted order): an all-in-one
   pool made by degrading one clean set several ways has identical GT features in every task,
   and without it each task would pick the same contents (measured on Urban100 x 6
   degradations at 1 %: 95 distinct contents among 570 patches; with it, 570).
   With ``coverage_trim`` > 0 coverage picks only among the group's patches outside its
   ``coverage_trim`` fraction with the largest 10-NN radius (:mod:`tripled_fast.select.density`;
   plain k-center spends most picks on that isolated tail). Off by default: on the validation
   splits it helped at the smallest budget and cost PSNR at the next (bench/QUALITY.md).
   With ``image_cap`` (needs ``image``, the source photo of each patch - the harness and the
   pipeline pass its GT file, so the degraded copies of one clean photo are one photo) no photo
   gives the complexity and coverage picks more than its share, rounded up: on a pool of a few
   photos k-center otherwise spends most picks on the most atypical one. The share is of each
   task's quota, ``ceil(quota_t * n_(t,photo) / N_t)`` (``image_cap_scope='task'``, the
   default), or of the whole budget across tasks, ``ceil(budget * n_photo / N)`` (``'pool'``:
   the tasks filled first can then use up a photo's room and leave the last task a few photos).
   Only the last resort that accepts duplicates may exceed it, and the stage-2 candidates, which
   training re-ranks by loss, are not capped. On by default (validation: bench/QUALITY.md,
   Defaults); a caller that passes no ``image`` gets the uncapped selection.
   With ``pool_share`` < 1 all of this runs on a uniform random share of the pool drawn by the
   seed (:mod:`tripled_fast.select.share`; at least the budget, which stays the whole pool's
   count), so the subset changes with the seed as a random subset does.
4. per group, the ``stage1_fraction`` of its picks with the lowest complexity (easy
   representatives) form curriculum stage 1; the others are provisional stage 2. The stage-2
   candidate pool adds, per group, the next most complex / uncertain unselected patches, to
   about ``stage2_pool`` times the stage-2 quota (training later re-ranks them by loss).

Coverage and duplicate tests use L2-normalised features (cosine geometry, like the spherical
k-means of :mod:`tripled_fast.select.cluster`). Memory is ``O(N)`` plus one group's features
(with ``pool_share`` < 1, plus a copy of the share's features, read from a memmap if given).
Rounding of ``x * m`` is half-up everywhere. Ties in complexity orderings are broken by a
seeded random permutation (so flat patches with equal ranks are not taken from the first
images); everything else is deterministic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

import numpy as np

from tripled_fast.config import SelectConfig
from tripled_fast.select.density import knn_radius, typical_mask
from tripled_fast.select.herding import herding_greedy
from tripled_fast.select.kcenter import kcenter_greedy
from tripled_fast.select.share import share_rows

_ALL_TASKS = "all"
_DENSITY_K = 10   # neighbour rank of the k-NN radius behind ``coverage_trim``
_DUP_EPS = 1e-6  # float32 slack on squared distances of unit vectors (exact duplicates -> ~0)


@dataclass
class Selection:
    """Output of :func:`select_subset`; every index array is sorted int64.

    Attributes:
        selected: the chosen patches, exactly the budget.
        stage1: curriculum stage-1 patches (low-complexity representatives), subset of ``selected``.
        stage2: provisional stage-2 patches, ``selected`` minus ``stage1``.
        stage2_candidates: stage-2 candidate pool, a superset of ``stage2`` disjoint from
            ``stage1`` (training picks ``stage2_quota`` of them by loss).
        stage2_quota: number of stage-2 patches (``len(stage2)``).
        quotas: ``(task, cluster) -> number of selected patches`` (``task`` is ``"all"`` when
            ``per_task`` is off; ``cluster`` is 0 with ``quotas="tasks"``); sums to the budget.
        info: counts: ``budget``, ``pool``, ``groups``, ``complexity_picks``, ``coverage_picks``,
            ``duplicates_skipped``, ``dedup_reassigned``, ``forced_duplicates``, ``planned_quotas``.
    """

    selected: np.ndarray
    stage1: np.ndarray
    stage2: np.ndarray
    stage2_candidates: np.ndarray
    stage2_quota: int
    quotas: dict[tuple[str, int], int]
    info: dict = field(default_factory=dict)


def _round_half_up(x: float) -> int:
    return int(Decimal(repr(float(x))).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def resolve_budget(budget: float, n: int) -> int:
    """Number of patches a budget setting means for a pool of ``n``.

    Args:
        budget: ``0 < budget < 1``: a fraction of ``n`` (``round(budget * n)`` half up, at least
            1); ``budget >= 1``: a patch count (must be a whole number <= ``n``).
        n: pool size (>= 1).

    Returns:
        The patch count in ``[1, n]``.
    """
    if n < 1:
        raise ValueError(f"select.budget: the pool is empty (n={n})")
    b = float(budget)
    if not math.isfinite(b) or b <= 0:
        raise ValueError(f"select.budget: expected a fraction in (0, 1) or a count >= 1, got {budget}")
    if b < 1:
        count = int((Decimal(repr(b)) * n).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return max(1, count)
    if not b.is_integer():
        raise ValueError(
            f"select.budget: a budget >= 1 is a patch count, expected a whole number, got {budget}"
        )
    if b > n:
        raise ValueError(f"select.budget: asked for {int(b)} patches but the pool holds only {n}")
    return int(b)


def largest_remainder(weights: np.ndarray, total: int, caps: np.ndarray | None = None) -> np.ndarray:
    """Split ``total`` into integers proportional to ``weights`` (Hamilton / largest remainder).

    Every group gets ``floor(total * w / W)``; the leftover units go one each to the groups with
    the largest remainders (ties: lowest index). With ``caps``, a group never exceeds its cap: a
    capped group is fixed at its cap and the rest is re-split among the others. If all weights
    of the groups that still have room are 0, the room left is used as the weight.

    Args:
        weights: ``(G,)`` non-negative integers.
        total: non-negative integer to split.
        caps: ``(G,)`` non-negative integer upper bounds (``sum(caps) >= total``), or None.

    Returns:
        ``(G,)`` int64 summing exactly to ``total``.
    """
    w = np.asarray(weights)
    if w.ndim != 1 or (w.size and not np.issubdtype(w.dtype, np.integer)) or (w < 0).any():
        raise ValueError("largest_remainder: weights expected a 1-D array of non-negative integers")
    w = w.astype(np.int64)
    total = int(total)
    if total < 0:
        raise ValueError(f"largest_remainder: expected total >= 0, got {total}")
    if caps is None:
        # no group can get more than ``total``, so this cap never binds (and, unlike a huge
        # sentinel, cannot overflow int64 when summed over five or more groups)
        cap = np.full(w.shape, total, np.int64)
    else:
        cap = np.asarray(caps, np.int64)
    if cap.shape != w.shape or (cap < 0).any():
        raise ValueError("largest_remainder: caps expected non-negative integers, one per weight")
    cap_sum = int(np.minimum(cap, total).sum())  # clipped at total: no overflow for huge caps
    if cap_sum < total:
        raise ValueError(f"largest_remainder: caps sum to {cap_sum} < total {total}")
    alloc = np.zeros(w.shape, np.int64)
    remaining = total
    active = np.flatnonzero(cap > 0)
    while remaining > 0:
        wa = w[active]
        if wa.sum() == 0:
            wa = cap[active] - alloc[active]
        big_w = int(wa.sum())
        base = (remaining * wa) // big_w
        rem = (remaining * wa) % big_w
        extra = remaining - int(base.sum())
        order = np.lexsort((np.arange(active.size), -rem))
        base[order[:extra]] += 1
        room = cap[active] - alloc[active]
        over = base > room
        if not over.any():
            alloc[active] += base
            break
        alloc[active[over]] = cap[active[over]]
        remaining -= int(room[over].sum())
        active = active[~over]
    return alloc


# --------------------------------------------------------------------------- group internals
class _Group:
    """One (task, cluster) cell: its members and the picks made so far."""

    def __init__(self, task: str, cluster: int, members: np.ndarray) -> None:
        self.task = task
        self.cluster = cluster
        self.members = members            # sorted global indices
        self.picks: list[int] = []        # local indices into members, in pick order
        self.exhausted = False            # no further distinct patch can be added

    @property
    def room(self) -> int:
        return 0 if self.exhausted else self.members.size - len(self.picks)


def _unit_rows(features: np.ndarray, idx: np.ndarray) -> np.ndarray:
    x = np.ascontiguousarray(features[idx], dtype=np.float32)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d2, 0.0)


def _distinct_in_order(x: np.ndarray, order: np.ndarray, need: int, taken: np.ndarray,
                       dup_d2: float | None, group: np.ndarray | None = None,
                       room: np.ndarray | None = None) -> tuple[list[int], int]:
    """Walk ``order`` (local indices) and accept up to ``need`` rows that are not near-duplicates
    (squared distance <= ``dup_d2``) of ``taken`` rows or of rows accepted before them; with
    ``group`` (per row of ``x``) and ``room`` (per group, decremented in place), a row whose
    group has no room left is passed over.

    Returns the accepted local indices and the number of rows skipped as duplicates.
    """
    if dup_d2 is None:
        if group is None:
            return [int(i) for i in order[:need]], 0
        accepted_nodup: list[int] = []
        for i in order:
            if len(accepted_nodup) == need:
                break
            if room[group[i]] > 0:
                room[group[i]] -= 1
                accepted_nodup.append(int(i))
        return accepted_nodup, 0
    accepted: list[int] = []
    skipped = 0
    ref = x[taken] if taken.size else np.zeros((0, x.shape[1]), np.float32)
    pos = 0
    while len(accepted) < need and pos < order.size:
        block = order[pos:pos + min(1024, max(64, 2 * (need - len(accepted))))]
        pos += block.size
        xb = x[block]
        ok = np.ones(block.size, bool)
        if ref.shape[0]:
            for s in range(0, ref.shape[0], 4096):
                ok &= _sq_dist(xb, ref[s:s + 4096]).min(1) > dup_d2
        inner = _sq_dist(xb, xb) <= dup_d2
        new: list[int] = []
        for i in range(block.size):
            if len(accepted) + len(new) == need:
                break
            if group is not None and room[group[block[i]]] <= 0:
                continue
            if not ok[i]:
                skipped += 1
                continue
            new.append(i)
            ok &= ~inner[i]
            if group is not None:
                room[group[block[i]]] -= 1
        accepted.extend(int(block[i]) for i in new)
        ref = np.concatenate([ref, xb[new]])
    return accepted, skipped


def complexity_strata(complexity: np.ndarray, task_code: np.ndarray, k: int, tie: np.ndarray) -> np.ndarray:
    """``(N,)`` int64 complexity stratum per patch: within each task, the patches sorted by
    ascending complexity (ties by ascending ``tie``) are cut into ``k`` bins of equal count
    (stratum ``rank * k // n_task``: sizes differ by at most one, stratum 0 = the least complex;
    a task with fewer than ``k`` patches leaves some strata empty).

    Args:
        complexity: ``(N,)`` complexity score.
        task_code: ``(N,)`` non-negative integer task per patch.
        k: number of strata (>= 1).
        tie: ``(N,)`` tie-break key (e.g. a seeded permutation).
    """
    if k < 1:
        raise ValueError(f"complexity_strata: expected k >= 1, got {k}")
    out = np.zeros(complexity.shape[0], np.int64)
    for t in np.unique(task_code):
        rows = np.flatnonzero(task_code == t)
        ranked = rows[np.lexsort((tie[rows], complexity[rows]))]
        out[ranked] = (np.arange(rows.size, dtype=np.int64) * k) // rows.size
    return out


def _desc_order(score: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """Indices sorting ``score`` descending, ties by ascending ``tie``."""
    return np.lexsort((tie, -score.astype(np.float64)))


def select_subset(*, task: np.ndarray, complexity: np.ndarray, uncertainty: np.ndarray,
                  features: np.ndarray, assign: np.ndarray, cfg: SelectConfig,
                  seed: int, image: np.ndarray | None = None) -> Selection:
    """Choose the distilled subset and its curriculum stages (see the module docstring).

    Args:
        task: ``(N,)`` task tag per patch (str or object array).
        complexity: ``(N,)`` complexity score (higher = harder), e.g. percentile ranks.
        uncertainty: ``(N,)`` uncertainty score (higher = more atypical).
        features: ``(N, D)`` backbone features (float16/float32, memmap allowed).
        assign: ``(N,)`` non-negative integer cluster per patch.
        cfg: budget, quotas, complexity_weight, dedup_threshold, stage1_fraction, stage2_pool, per_task,
            cross_task, coverage_trim, image_cap, image_cap_scope, pool_share.
        seed: seeds the tie-breaking permutation of complexity orderings and the
            ``pool_share`` draw.
        image: ``(N,)`` source photo per patch (any labels numpy can sort, e.g. GT paths), for
            ``image_cap``; None = unknown, no cap.

    Returns:
        :class:`Selection`.
    """
    complexity = np.asarray(complexity, dtype=np.float64)
    uncertainty = np.asarray(uncertainty, dtype=np.float64)
    assign = np.asarray(assign)
    task = np.asarray(task)
    n = complexity.shape[0]
    if complexity.ndim != 1:
        raise ValueError(f"select_subset: complexity expected shape (N,), got {complexity.shape}")
    for name, arr in (("uncertainty", uncertainty), ("assign", assign), ("task", task)):
        if arr.shape != (n,):
            raise ValueError(f"select_subset: {name} expected shape ({n},), got {arr.shape}")
    if features.ndim != 2 or features.shape[0] != n:
        raise ValueError(f"select_subset: features expected shape ({n}, D), got {features.shape}")
    if not np.all(np.isfinite(complexity)) or not np.all(np.isfinite(uncertainty)):
        raise ValueError("select_subset: complexity / uncertainty contain NaN or inf")
    if not np.issubdtype(assign.dtype, np.integer) or (n and assign.min() < 0):
        raise ValueError("select_subset: assign expected non-negative integer cluster ids")
    if cfg.quotas not in ("clusters", "tasks", "strata"):
        raise ValueError(f"select.quotas: expected 'clusters', 'tasks' or 'strata', got {cfg.quotas!r}")
    if isinstance(cfg.strata, bool) or not isinstance(cfg.strata, int) or cfg.strata < 1:
        raise ValueError(f"select.strata: expected an integer >= 1, got {cfg.strata!r}")
    if not 0.0 <= cfg.complexity_weight <= 1.0:
        raise ValueError(f"select.complexity_weight: expected a value in [0, 1], got {cfg.complexity_weight}")
    if not 0.0 <= cfg.stage1_fraction <= 1.0:
        raise ValueError(f"select.stage1_fraction: expected a value in [0, 1], got {cfg.stage1_fraction}")
    if not cfg.stage2_pool >= 1.0:
        raise ValueError(f"select.stage2_pool: expected a value >= 1, got {cfg.stage2_pool}")
    if not 0.0 <= cfg.coverage_trim < 1.0:
        raise ValueError(f"select.coverage_trim: expected a fraction in [0, 1), got {cfg.coverage_trim}")
    if not math.isfinite(cfg.dedup_threshold):
        raise ValueError(f"select.dedup_threshold: expected a finite cosine, got {cfg.dedup_threshold}")
    if cfg.coverage not in ("kcenter", "herding"):
        raise ValueError(f"select.coverage: expected 'kcenter' or 'herding', got {cfg.coverage!r}")
    if cfg.image_cap_scope not in ("task", "pool"):
        raise ValueError(f"select.image_cap_scope: expected 'task' or 'pool', got {cfg.image_cap_scope!r}")
    budget = resolve_budget(cfg.budget, n)
    if cfg.pool_share != 1.0:  # choose the whole pool's budget from the seed's share of it
        kept = share_rows(n, cfg.pool_share, seed, at_least=budget)
        if kept.size < n:
            part = select_subset(
                task=task[kept], complexity=complexity[kept], uncertainty=uncertainty[kept],
                features=features[kept], assign=assign[kept],
                cfg=replace(cfg, budget=float(budget), pool_share=1.0), seed=seed,
                image=None if image is None else np.asarray(image)[kept])
            info = {**part.info, "pool": n, "pool_share_rows": int(kept.size)}
            return Selection(selected=kept[part.selected], stage1=kept[part.stage1], stage2=kept[part.stage2],
                             stage2_candidates=kept[part.stage2_candidates], stage2_quota=part.stage2_quota,
                             quotas=part.quotas, info=info)
    if cfg.per_task:
        task_names, task_code = np.unique(task, return_inverse=True)
        task_names = [str(t) for t in task_names]
    else:
        task_names, task_code = [_ALL_TASKS], np.zeros(n, np.int64)
    task_code = task_code.astype(np.int64)
    task_size = np.bincount(task_code, minlength=len(task_names))
    task_quota = largest_remainder(task_size, budget)
    img_code = img_room = None
    if cfg.image_cap and image is not None:
        image = np.asarray(image)
        if image.shape != (n,):
            raise ValueError(f"select_subset: image expected shape ({n},), got {image.shape}")
        _, photo = np.unique(image, return_inverse=True)
        # the cap's units: per (task, photo) for scope 'task', per photo over one budget for 'pool'
        if cfg.image_cap_scope == "task":
            unit_task, quota, size = task_code, task_quota, task_size
        else:
            unit_task, quota, size = np.zeros(n, np.int64), np.array([budget]), np.array([n])
        _, first, img_code = np.unique(unit_task * (int(photo.max(initial=0)) + 1) + photo,
                                       return_index=True, return_inverse=True)
        img_code = img_code.astype(np.int64)
        ut = unit_task[first]
        # each unit may give its share rounded up: ceil(quota_t * n_unit / n_t)
        img_room = (np.bincount(img_code) * quota[ut] + size[ut] - 1) // size[ut]
    dup_d2 = None if cfg.dedup_threshold > 1.0 else max(2.0 * (1.0 - cfg.dedup_threshold), 0.0) + _DUP_EPS
    tie = np.random.default_rng(seed).permutation(n)

    # ---- groups: (task, cluster) cells with sorted members
    if cfg.quotas == "tasks":  # one group per task: coverage over the whole task pool
        assign = np.zeros(n, np.int64)
    elif cfg.quotas == "strata":  # one group per complexity quantile of each task
        assign = complexity_strata(complexity, task_code, cfg.strata, tie)
    n_clusters = int(assign.max()) + 1
    key = task_code * n_clusters + assign.astype(np.int64)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], n]
    groups = [
        _Group(task_names[int(sorted_key[s] // n_clusters)], int(sorted_key[s] % n_clusters), order[s:e])
        for s, e in zip(starts, ends)
    ]
    group_task = np.array([int(sorted_key[s] // n_clusters) for s in starts], np.int64)
    sizes = np.array([g.members.size for g in groups], np.int64)

    # ---- (i) tasks (task_quota above), (ii) clusters
    planned = np.zeros(len(groups), np.int64)
    for t in range(len(task_names)):
        gi = np.flatnonzero(group_task == t)
        planned[gi] = largest_remainder(sizes[gi], int(task_quota[t]), caps=sizes[gi])

    stats = {"duplicates_skipped": 0, "complexity_picks": 0, "coverage_picks": 0}

    def other_task_picks(gi: int) -> np.ndarray:
        """Global indices picked so far in the groups of the other tasks (``cross_task``)."""
        parts = [groups[j].members[np.asarray(groups[j].picks, np.int64)] for j in range(len(groups))
                 if group_task[j] != group_task[gi] and groups[j].picks]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    typical_cache: dict[int, np.ndarray] = {}

    def typical_rows(gi: int, x: np.ndarray) -> np.ndarray:
        """``(m,)`` bool: the group's rows kept as coverage candidates (``coverage_trim``)."""
        if gi not in typical_cache:
            m = groups[gi].members.size
            typical_cache[gi] = typical_mask(knn_radius(x[:m], k=_DENSITY_K), cfg.coverage_trim)
        return typical_cache[gi]

    def fill(gi: int, target: int, dedup: bool) -> None:
        """Extend ``g.picks`` to ``target`` (fewer only when it runs out of distinct patches)."""
        g = groups[gi]
        need = target - len(g.picks)
        if need <= 0:
            return
        d2 = dup_d2 if dedup else None
        x = _unit_rows(features, g.members)
        m = g.members.size
        typical = typical_rows(gi, x) if cfg.coverage_trim > 0 else None
        # rows m.. of x are the other tasks' picks: never candidates, only references
        others = other_task_picks(gi) if cfg.cross_task else np.zeros(0, np.int64)
        if others.size:
            x = np.concatenate([x, _unit_rows(features, others)])
        ref = np.arange(m, x.shape[0], dtype=np.int64)
        # image_cap: every pass that still tests duplicates keeps to the images' room (the last
        # resort, accepting duplicates, ignores it, as it ignores distinctness)
        img_x = None
        if img_room is not None and dedup:
            img_x = img_code[g.members] if not others.size else np.concatenate([img_code[g.members], img_code[others]])
        if not g.picks:
            n_cx = _round_half_up(cfg.complexity_weight * target)
            if n_cx:
                cx_order = _desc_order(complexity[g.members], tie[g.members])
                cx, skipped = _distinct_in_order(x, cx_order, n_cx, ref, d2, group=img_x,
                                                 room=None if img_x is None else img_room)
                stats["duplicates_skipped"] += skipped
                stats["complexity_picks"] += len(cx)
                g.picks.extend(cx)
        need = target - len(g.picks)
        if need > 0 and len(g.picks) < m:
            need = min(need, m - len(g.picks))
            cand = np.arange(m, dtype=np.int64) if ref.size else None
            if typical is not None:
                free_typical = int(typical.sum()) - int(typical[np.asarray(g.picks, np.int64)].sum())
                if free_typical >= need:  # else the atypical rows are needed to fill the quota
                    cand = np.flatnonzero(typical)
            if cfg.coverage == "herding":  # other tasks' picks: duplicate references only
                cov = herding_greedy(
                    x, need, initial=np.asarray(g.picks, np.int64), avoid=ref, candidates=cand,
                    dup_radius=None if d2 is None else math.sqrt(d2),
                    groups=img_x, room=None if img_x is None else img_room,
                )
            else:
                cov = kcenter_greedy(
                    x, need, seed=seed, initial=np.concatenate([np.asarray(g.picks, np.int64), ref]),
                    candidates=cand,
                    stop_radius=None if d2 is None else math.sqrt(d2),
                    groups=img_x, room=None if img_x is None else img_room,
                )
            if img_x is not None:
                np.subtract.at(img_room, img_x[cov], 1)
            stats["coverage_picks"] += cov.size
            g.picks.extend(int(i) for i in cov)
        if len(g.picks) < target:
            g.exhausted = True

    # ---- (iii) fill every group, then move shortfalls (distinct patches exhausted)
    for gi, q in enumerate(planned):
        fill(gi, int(q), dedup=dup_d2 is not None)

    def redistribute(gidx: np.ndarray, shortfall: int, dedup: bool) -> int:
        while shortfall > 0:
            gidx = np.array([i for i in gidx if groups[i].room > 0], np.int64)
            if gidx.size == 0:
                break
            room = np.array([groups[i].room for i in gidx], np.int64)
            take = min(shortfall, int(room.sum()))
            share = largest_remainder(sizes[gidx], take, caps=room)
            for i, s in zip(gidx, share):
                if s:
                    g = groups[i]
                    before = len(g.picks)
                    fill(int(i), before + int(s), dedup)
                    shortfall -= len(g.picks) - before
        return shortfall

    def picked_total() -> int:
        return sum(len(g.picks) for g in groups)

    dedup_on = dup_d2 is not None
    missing = budget - picked_total()
    reassigned = missing
    if missing > 0 and dedup_on:
        for t in range(len(task_names)):
            gi = np.flatnonzero(group_task == t)
            short = int(task_quota[t]) - sum(len(groups[i].picks) for i in gi)
            redistribute(gi, short, dedup=True)
        redistribute(np.arange(len(groups)), budget - picked_total(), dedup=True)
    forced = budget - picked_total()
    if forced > 0:  # the pool has too few distinct patches: accept duplicates
        for g in groups:
            g.exhausted = False
        redistribute(np.arange(len(groups)), forced, dedup=False)
    assert picked_total() == budget, "internal error: selection does not match the budget"

    # ---- (iv) stages
    stage1_parts, stage2_parts, quotas = [], [], {}
    stage2_count = np.zeros(len(groups), np.int64)
    for i, g in enumerate(groups):
        if not g.picks:
            continue
        local = np.asarray(g.picks, np.int64)
        glob = g.members[local]
        quotas[(g.task, g.cluster)] = int(glob.size)
        n1 = _round_half_up(cfg.stage1_fraction * glob.size)
        asc = np.lexsort((tie[glob], complexity[glob]))
        stage1_parts.append(glob[asc[:n1]])
        stage2_parts.append(glob[asc[n1:]])
        stage2_count[i] = glob.size - n1
    stage1 = np.sort(np.concatenate(stage1_parts)) if stage1_parts else np.zeros(0, np.int64)
    stage2 = np.sort(np.concatenate(stage2_parts)) if stage2_parts else np.zeros(0, np.int64)
    quota2 = int(stage2.size)

    # stage-2 candidate pool: provisional stage 2 + next complex / uncertain items per group
    pool = min(_round_half_up(cfg.stage2_pool * quota2), n - int(stage1.size))
    extra_total = max(pool - quota2, 0)
    cand_parts = [stage2]
    if extra_total > 0:
        room = np.array([g.members.size - len(g.picks) for g in groups], np.int64)
        extra_total = min(extra_total, int(room.sum()))
        share = largest_remainder(stage2_count, extra_total, caps=room)
        hard = complexity + uncertainty
        for g, s in zip(groups, share):
            if not s:
                continue
            chosen = np.zeros(g.members.size, bool)
            chosen[np.asarray(g.picks, np.int64)] = True
            free = np.flatnonzero(~chosen)
            order_free = free[_desc_order(hard[g.members[free]], tie[g.members[free]])]
            if dup_d2 is not None:
                x = _unit_rows(features, g.members)
            else:  # no duplicate test: features are not needed
                x = np.zeros((g.members.size, 0), np.float32)
            extra, skipped = _distinct_in_order(x, order_free, int(s), np.asarray(g.picks, np.int64), dup_d2)
            stats["duplicates_skipped"] += skipped
            cand_parts.append(g.members[np.asarray(extra, np.int64)])
    stage2_candidates = np.sort(np.concatenate(cand_parts)).astype(np.int64)

    selected = np.sort(np.concatenate([stage1, stage2])).astype(np.int64)
    info = {
        "budget": budget, "pool": n, "groups": len(groups), "tasks": len(task_names),
        "dedup_reassigned": int(max(reassigned, 0)) if dedup_on else 0,
        "forced_duplicates": int(max(forced, 0)),
        "planned_quotas": {(groups[i].task, groups[i].cluster): int(q) for i, q in enumerate(planned) if q},
        **stats,
    }
    return Selection(selected=selected, stage1=stage1.astype(np.int64), stage2=stage2.astype(np.int64),
                     stage2_candidates=stage2_candidates, stage2_quota=quota2, quotas=quotas, info=info)
