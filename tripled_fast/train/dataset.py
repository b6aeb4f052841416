"""Use a distilled subset from your own training code (BasicSR / KAIR style loops).

A finished run directory holds packs written by the pipeline through
:func:`~tripled_fast.train.packed.write_pack` (``pack/<subset>_{gt,lq,ids}.npy``) and the
``manifest.parquet`` whose ``stage`` column marks the curriculum (1 = stage one, 3 = chosen for
stage two).

Example::

    from torch.utils.data import DataLoader
    from tripled_fast.train.dataset import CurriculumSampler, DistilledDataset

    ds = DistilledDataset("runs/denoise", crop=48, seed=0)  # the final aligned subset
    sampler = CurriculumSampler(ds, stage1_steps=4000, total_steps=10000, batch_size=16, seed=0)
    loader = DataLoader(ds, batch_size=16, sampler=sampler, num_workers=2)
    for step, batch in enumerate(loader):       # 10000 batches: 4000 from stage 1, then all
        lq, gt = batch["lq"], batch["gt"]       # float32 B x C x h x w in [0, 1]
        ...

Every item's crop and flips depend on ``(seed, epoch, index)`` only, so workers, reruns and
machines agree; the sampler makes repeated visits of a patch distinct (see
:class:`~tripled_fast.train.packed.PairPatchDataset`).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from torch.utils.data import Sampler

from .packed import PackedPairs, PairPatchDataset

SUBSETS = ("distilled", "aligned", "random", "full")
#: manifest ``stage`` codes
STAGE_ONE, STAGE_TWO_CANDIDATE, STAGE_TWO_CHOSEN = 1, 2, 3


def read_stages(manifest: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``(patch_id int64, stage int8)`` columns of a ``manifest.parquet``."""
    import pyarrow.parquet as pq

    manifest = Path(manifest)
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest}: manifest not found")
    try:
        table = pq.read_table(manifest, columns=["patch_id", "stage"])
    except (KeyError, ValueError) as exc:
        raise ValueError(f"{manifest}: expected columns patch_id and stage ({exc})") from None
    return (np.asarray(table.column("patch_id").to_numpy(), dtype=np.int64),
            np.asarray(table.column("stage").to_numpy(), dtype=np.int8))


class DistilledDataset(PairPatchDataset):
    """The patches of one pack of a run directory, optionally restricted to a curriculum stage.

    Args:
        run_dir: the run directory.
        subset: ``"aligned"`` (default: the TripleD subset after distribution alignment, what
            the pipeline trains on and exports), ``"distilled"`` (the same rows as cropped),
            ``"random"`` or ``"full"`` (baselines).
        stage: ``2`` (default) the final subset: stage one plus the patches chosen for stage
            two (manifest stage 1 or 3), exactly the budget; ``1`` the stage-one patches;
            ``None`` every row of the pack (for the TripleD packs this includes the stage-two
            candidates that were not chosen).
        augment, crop, seed: as :class:`~tripled_fast.train.packed.PairPatchDataset`.

    Attributes: ``stages`` (the manifest stage of every item, int8), ``stage1_positions``
    (dataset positions of the stage-one items) and ``stage2_positions`` (those of stage one or
    chosen for stage two; every position when the manifest marks none).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        *,
        subset: str = "aligned",
        stage: int | None = 2,
        augment: bool = True,
        crop: int | None = None,
        seed: int = 0,
    ) -> None:
        if subset not in SUBSETS:
            raise ValueError(f"subset: expected one of {SUBSETS}, got {subset!r}")
        if stage not in (None, 1, 2):
            raise ValueError(f"stage: expected None, 1 or 2, got {stage!r}")
        run_dir = Path(run_dir)
        pack = PackedPairs(run_dir / "pack" / subset)
        ids = np.asarray(pack.ids)
        manifest = run_dir / "manifest.parquet"
        if manifest.is_file():
            pid, st = read_stages(manifest)
            lookup = np.zeros(int(max(pid.max(initial=-1), ids.max(initial=-1))) + 1, dtype=np.int8)
            lookup[pid] = st
            stages = lookup[ids] if ids.size else np.zeros(0, np.int8)
        elif stage is None:
            stages = np.zeros(len(ids), dtype=np.int8)
        else:
            raise FileNotFoundError(f"{manifest}: needed to select stage {stage}")
        if stage is None:
            rows = np.arange(len(ids), dtype=np.int64)
        elif stage == 1:
            rows = np.flatnonzero(stages == STAGE_ONE)
        else:
            rows = np.flatnonzero((stages == STAGE_ONE) | (stages == STAGE_TWO_CHOSEN))
        if rows.size == 0:
            raise ValueError(f"{run_dir}: pack {subset!r} has no rows for stage {stage}")
        super().__init__(pack, rows, augment=augment, crop=crop, seed=seed)
        self.subset = subset
        self.stages = stages[rows]
        self.stage1_positions = np.flatnonzero(self.stages == STAGE_ONE)
        trained = np.flatnonzero((self.stages == STAGE_ONE) | (self.stages == STAGE_TWO_CHOSEN))
        self.stage2_positions = trained if trained.size else np.arange(len(rows), dtype=np.int64)


class CurriculumSampler(Sampler[int]):
    """Dataset indices for ``total_steps`` batches: the first ``stage1_steps`` from stage one,
    the rest from the stage-two set (``dataset.stage2_positions``: stage one plus the chosen
    stage-two patches; all items when the dataset has no such attribute).

    Within each stage the positions are reshuffled every pass (seeded by ``(seed, stage,
    pass)``); pass ``p`` of the data is yielded as ``index + p * len(dataset)`` so that
    :class:`PairPatchDataset` gives every visit its own crop and flips. Use with
    ``DataLoader(dataset, batch_size=batch_size, sampler=sampler)``.

    Args:
        dataset: a :class:`DistilledDataset` (or any ``PairPatchDataset`` with a
            ``stage1_positions`` attribute).
        stage1_steps: number of stage-one batches (an int), or a float in ``[0, 1]``: that
            fraction of ``total_steps``.
    """

    def __init__(
        self,
        dataset: PairPatchDataset,
        stage1_steps: int | float,
        total_steps: int,
        batch_size: int,
        seed: int = 0,
    ) -> None:
        if isinstance(stage1_steps, float):
            if not 0.0 <= stage1_steps <= 1.0:
                raise ValueError(f"stage1_steps: a float must be a fraction in [0, 1], got {stage1_steps}")
            stage1_steps = round(stage1_steps * total_steps)
        if not 0 <= stage1_steps <= total_steps or batch_size < 1:
            raise ValueError(
                f"CurriculumSampler: expected 0 <= stage1_steps <= total_steps and batch_size >= 1, "
                f"got {stage1_steps}, {total_steps}, {batch_size}"
            )
        pos1 = np.asarray(getattr(dataset, "stage1_positions", np.arange(len(dataset))), dtype=np.int64)
        if stage1_steps and pos1.size == 0:
            raise ValueError("CurriculumSampler: the dataset has no stage-one items")
        self.n = len(dataset)
        pos2 = np.asarray(getattr(dataset, "stage2_positions", np.arange(len(dataset))), dtype=np.int64)
        if stage1_steps < total_steps and pos2.size == 0:
            raise ValueError("CurriculumSampler: the dataset has no stage-two items")
        self.stage1, self.stage2 = pos1, pos2
        self.stage1_steps, self.total_steps = int(stage1_steps), int(total_steps)
        self.batch_size, self.seed = int(batch_size), int(seed)

    def __len__(self) -> int:
        return self.total_steps * self.batch_size

    def _passes(self, positions: np.ndarray, count: int) -> int:
        return -(-count // len(positions)) if count else 0

    def _stream(self, positions: np.ndarray, count: int, stage: int, first_pass: int) -> Iterator[int]:
        k = len(positions)
        for p in range(self._passes(positions, count)):
            perm = positions[np.random.default_rng((self.seed, stage, p)).permutation(k)]
            take = min(k, count - p * k)
            yield from (perm[:take] + (first_pass + p) * self.n).tolist()

    def __iter__(self) -> Iterator[int]:
        c1 = self.stage1_steps * self.batch_size
        c2 = (self.total_steps - self.stage1_steps) * self.batch_size
        yield from self._stream(self.stage1, c1, 1, 0)
        yield from self._stream(self.stage2, c2, 2, self._passes(self.stage1, c1) if c1 else 0)
