"""Packed training pairs: selected GT/LQ crops stored once as memory-mappable ``.npy`` files.

A pack with prefix ``<dir>/<name>`` is three files::

    <dir>/<name>_gt.npy   uint8  N x h  x w  x C      (GT patches)
    <dir>/<name>_lq.npy   uint8  N x h' x w' x C      (LQ patches, h = h' * scale)
    <dir>/<name>_ids.npy  int64  N                    (manifest patch_id of each row)

Writers are atomic per file (temporary name + ``os.replace``); the ``_ids`` file is renamed last,
so a reader that finds it finds a complete pack. :class:`PairPatchDataset` turns a pack into a
``torch.utils.data.Dataset`` of BasicSR-style dicts and also offers :meth:`PairPatchDataset.batch`,
the in-process batch assembly the training loop uses (crop, flips and transposes drawn for the
whole batch at once, one strided copy per sample, no DataLoader workers).
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.lib.format import open_memmap
from torch.utils.data import Dataset

_PARTS = ("gt", "lq", "ids")


def pack_paths(prefix: str | os.PathLike) -> dict[str, Path]:
    """The three file paths of the pack ``prefix`` (``{"gt": ..., "lq": ..., "ids": ...}``)."""
    prefix = Path(prefix)
    return {part: prefix.parent / f"{prefix.name}_{part}.npy" for part in _PARTS}


def pack_exists(prefix: str | os.PathLike) -> bool:
    return all(p.is_file() for p in pack_paths(prefix).values())


def _check_pair_shapes(gt_shape: tuple[int, ...], lq_shape: tuple[int, ...], n_ids: int, where: str) -> int:
    """Validate pack shapes; return the integer scale factor."""
    if len(gt_shape) != 4 or len(lq_shape) != 4:
        raise ValueError(f"{where}: expected N x h x w x C arrays, got gt {gt_shape} and lq {lq_shape}")
    if gt_shape[0] != lq_shape[0] or gt_shape[0] != n_ids:
        raise ValueError(f"{where}: row counts differ: gt {gt_shape[0]}, lq {lq_shape[0]}, ids {n_ids}")
    if gt_shape[3] != lq_shape[3] or gt_shape[3] not in (1, 3):
        raise ValueError(f"{where}: expected 1 or 3 channels on both sides, got gt {gt_shape[3]}, lq {lq_shape[3]}")
    (gh, gw), (lh, lw) = gt_shape[1:3], lq_shape[1:3]
    if lh < 1 or lw < 1 or gh % lh or gw % lw or gh // lh != gw // lw:
        raise ValueError(
            f"{where}: GT patch {gh}x{gw} is not an integer multiple (same in both axes) of LQ patch {lh}x{lw}"
        )
    return gh // lh


def _tmp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".npy", dir=path.parent)
    os.close(fd)
    return Path(tmp)


def write_pack(prefix: str | os.PathLike, gt: np.ndarray, lq: np.ndarray, ids: np.ndarray) -> None:
    """Write a whole pack atomically (see the module docstring for the layout).

    Args:
        gt: uint8 ``N x h x w x C``.
        lq: uint8 ``N x h/s x w/s x C`` (``s`` the integer scale; ``s = 1`` for same-size tasks).
        ids: ``N`` manifest patch ids (stored as int64).
    """
    gt, lq, ids = np.asarray(gt), np.asarray(lq), np.asarray(ids)
    if gt.dtype != np.uint8 or lq.dtype != np.uint8:
        raise ValueError(f"write_pack {prefix}: expected uint8 patches, got gt {gt.dtype}, lq {lq.dtype}")
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"write_pack {prefix}: expected a 1-D integer ids array, got {ids.dtype} {ids.shape}")
    _check_pair_shapes(gt.shape, lq.shape, len(ids), f"write_pack {prefix}")
    with PackWriter(prefix, len(ids), gt.shape[1:], lq.shape[1:]) as w:
        w.append(gt, lq, ids)


class PackWriter:
    """Stream patches into a pack of known size ``n`` without holding it in memory.

    >>> with PackWriter(run_dir / "pack" / "full", n, (64, 64, 3), (16, 16, 3)) as w:  # doctest: +SKIP
    ...     for gt_chunk, lq_chunk, id_chunk in chunks:
    ...         w.append(gt_chunk, lq_chunk, id_chunk)

    Rows go to preallocated ``open_memmap`` files under temporary names; leaving the ``with``
    block normally (or :meth:`close`) checks that exactly ``n`` rows were written and renames the
    files into place. An exception inside the block (or :meth:`abort`) removes them.
    """

    def __init__(
        self,
        prefix: str | os.PathLike,
        n: int,
        gt_shape: tuple[int, ...],
        lq_shape: tuple[int, ...],
    ) -> None:
        if n < 0:
            raise ValueError(f"PackWriter {prefix}: expected n >= 0, got {n}")
        self.prefix = Path(prefix)
        self.n = int(n)
        self.scale = _check_pair_shapes((n, *gt_shape), (n, *lq_shape), n, f"PackWriter {prefix}")
        self._final = pack_paths(prefix)
        self._tmp = {k: _tmp_beside(p) for k, p in self._final.items()}
        self._arrays: dict[str, np.memmap] | None = {
            "gt": open_memmap(self._tmp["gt"], mode="w+", dtype=np.uint8, shape=(n, *gt_shape)),
            "lq": open_memmap(self._tmp["lq"], mode="w+", dtype=np.uint8, shape=(n, *lq_shape)),
            "ids": open_memmap(self._tmp["ids"], mode="w+", dtype=np.int64, shape=(n,)),
        }
        self.count = 0

    def append(self, gt: np.ndarray, lq: np.ndarray, ids: np.ndarray) -> None:
        """Append ``k`` rows (``gt`` ``k x h x w x C`` uint8, ``lq`` likewise, ``ids`` ``k``)."""
        if self._arrays is None:
            raise ValueError(f"PackWriter {self.prefix}: already closed")
        ids = np.asarray(ids).reshape(-1)
        k = len(ids)
        a = self._arrays
        if gt.shape != (k, *a["gt"].shape[1:]) or lq.shape != (k, *a["lq"].shape[1:]):
            raise ValueError(
                f"PackWriter {self.prefix}: expected gt {(k, *a['gt'].shape[1:])} and lq "
                f"{(k, *a['lq'].shape[1:])}, got {gt.shape} and {lq.shape}"
            )
        if gt.dtype != np.uint8 or lq.dtype != np.uint8:
            raise ValueError(f"PackWriter {self.prefix}: expected uint8 patches, got {gt.dtype}, {lq.dtype}")
        if self.count + k > self.n:
            raise ValueError(f"PackWriter {self.prefix}: {self.count + k} rows exceed the declared {self.n}")
        sl = slice(self.count, self.count + k)
        a["gt"][sl] = gt
        a["lq"][sl] = lq
        a["ids"][sl] = ids
        self.count += k

    def close(self) -> None:
        """Flush and rename the files into place (``_ids`` last)."""
        if self._arrays is None:
            return
        if self.count != self.n:
            self.abort()
            raise ValueError(f"PackWriter {self.prefix}: {self.count} rows written, {self.n} declared")
        for part in _PARTS:
            arr = self._arrays[part]
            arr.flush()
            del arr
        self._arrays = None
        for part in _PARTS:  # ids last: its presence marks a complete pack
            os.replace(self._tmp[part], self._final[part])

    def abort(self) -> None:
        """Drop the temporary files."""
        self._arrays = None
        for tmp in self._tmp.values():
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> "PackWriter":
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


class PackedPairs:
    """Read-only memory-mapped view of a pack (see the module docstring).

    Attributes: ``gt`` (``N x h x w x C`` uint8 memmap), ``lq``, ``ids`` (int64), ``scale``,
    ``channels``.
    """

    def __init__(self, prefix: str | os.PathLike) -> None:
        self.prefix = Path(prefix)
        paths = pack_paths(prefix)
        for p in paths.values():
            if not p.is_file():
                raise FileNotFoundError(f"{p}: pack file not found (expected {self.prefix}_{{gt,lq,ids}}.npy)")
        self.gt: np.ndarray = np.load(paths["gt"], mmap_mode="r")
        self.lq: np.ndarray = np.load(paths["lq"], mmap_mode="r")
        self.ids: np.ndarray = np.load(paths["ids"], mmap_mode="r")
        if self.gt.dtype != np.uint8 or self.lq.dtype != np.uint8:
            raise ValueError(f"{self.prefix}: expected uint8 patches, got gt {self.gt.dtype}, lq {self.lq.dtype}")
        self.scale = _check_pair_shapes(self.gt.shape, self.lq.shape, len(self.ids), str(self.prefix))
        self.channels = int(self.gt.shape[3])

    def __len__(self) -> int:
        return int(self.gt.shape[0])

    def __repr__(self) -> str:
        return f"PackedPairs({str(self.prefix)!r}, n={len(self)}, gt={self.gt.shape[1:]}, lq={self.lq.shape[1:]})"


def _as_pack(pack: PackedPairs | str | os.PathLike) -> PackedPairs:
    return pack if isinstance(pack, PackedPairs) else PackedPairs(pack)


class PairPatchDataset(Dataset):
    """Paired patches of a pack as BasicSR-style samples.

    Item ``i`` is ``{"lq": Tensor C x h' x w', "gt": Tensor C x h x w, "index": row,
    "patch_id": id}`` with float32 values in ``[0, 1]``; ``row`` is the pack row
    (``indices[i]``).

    Args:
        pack: a :class:`PackedPairs` or its prefix.
        indices: pack rows this dataset exposes (default: all).
        augment: random horizontal flip, vertical flip and transpose (each with p = 0.5; the
            transpose only for square crops), identical on GT and LQ.
        crop: GT crop side (a multiple of the scale, at most the patch side); the LQ crop is
            ``crop // scale`` at the matching position, as BasicSR's ``paired_random_crop``.
            ``None`` keeps whole patches.
        seed: the randomness of item ``i`` is a function of ``(seed, epoch, i)`` only (see
            :meth:`set_epoch`); no global RNG is used, so workers and reruns agree.

    Indices ``i >= len(self)`` are accepted and address pass ``i // len(self)`` of the data
    (item ``i % len(self)`` with the augmentation of epoch ``epoch + i // len(self)``); this is
    how :class:`~tripled_fast.train.dataset.CurriculumSampler` gives repeated visits fresh crops.
    """

    def __init__(
        self,
        pack: PackedPairs | str | os.PathLike,
        indices: np.ndarray | None = None,
        *,
        augment: bool = True,
        crop: int | None = None,
        seed: int = 0,
    ) -> None:
        self.pack = _as_pack(pack)
        n = len(self.pack)
        if indices is None:
            rows = np.arange(n, dtype=np.int64)
        else:
            rows = np.asarray(indices, dtype=np.int64).reshape(-1)
            if rows.size and (rows.min() < 0 or rows.max() >= n):
                raise ValueError(f"PairPatchDataset: indices must lie in [0, {n}), got [{rows.min()}, {rows.max()}]")
        self.rows = rows
        self.scale = self.pack.scale
        gh, gw = self.pack.gt.shape[1:3]
        if crop is not None:
            if crop < self.scale or crop % self.scale or crop > min(gh, gw):
                raise ValueError(
                    f"PairPatchDataset crop: expected a multiple of scale {self.scale} in "
                    f"[{self.scale}, {min(gh, gw)}], got {crop}"
                )
        self.crop = crop
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    @property
    def gt_size(self) -> tuple[int, int]:
        """GT side lengths ``(h, w)`` of the samples (after cropping)."""
        if self.crop is not None:
            return self.crop, self.crop
        return int(self.pack.gt.shape[1]), int(self.pack.gt.shape[2])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    # ------------------------------------------------------------------ single items
    def __getitem__(self, i: int) -> dict[str, Any]:
        n = len(self.rows)
        if i < 0 or n == 0:
            raise IndexError(f"PairPatchDataset index {i} out of range for {n} items")
        pass_, pos = divmod(int(i), n)
        row = int(self.rows[pos])
        lq, gt = self._assemble(np.array([row]), np.random.default_rng((self.seed, self.epoch + pass_, pos)))
        return {
            "lq": _to_float(lq[0], "cpu", False),
            "gt": _to_float(gt[0], "cpu", False),
            "index": row,
            "patch_id": int(self.pack.ids[row]),
        }

    # ------------------------------------------------------------------ whole batches
    def batch(
        self,
        rows: np.ndarray,
        rng: np.random.Generator,
        *,
        device: torch.device | str = "cpu",
        augment: bool | None = None,
        crop: bool = True,
        channels_last: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Assemble a training batch from pack ``rows`` (not dataset positions).

        One vectorised draw from ``rng`` gives every sample its crop offsets and its hflip /
        vflip / transpose; each sample is then copied once, as a strided view of the memmap,
        into a preallocated uint8 ``B x C x h x w`` buffer (no per-op torch thread-pool
        dispatch, which costs milliseconds per op on a busy 2-core machine). The uint8 batch
        moves to ``device`` before the float conversion (4x less host-to-device traffic).
        Item ``i`` of the dataset is exactly ``batch([rows[i]], default_rng((seed, epoch, i)))``.

        Returns ``(lq, gt)``: float32 ``B x C x h' x w'`` and ``B x C x h x w`` in ``[0, 1]``,
        contiguous NCHW (channels-last when ``channels_last``). ``augment`` defaults to the
        dataset's setting; ``crop=False`` ignores the crop size (whole patches, e.g. scoring).
        """
        lq, gt = self._assemble(np.asarray(rows, dtype=np.int64), rng, augment=augment, crop=crop)
        return _to_float(lq, device, channels_last), _to_float(gt, device, channels_last)

    def _assemble(
        self, rows: np.ndarray, rng: np.random.Generator, *, augment: bool | None = None, crop: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """uint8 ``B x C x h' x w'`` LQ and ``B x C x h x w`` GT crops of pack ``rows``."""
        b = len(rows)
        s = self.scale
        gt_mm, lq_mm = self.pack.gt, self.pack.lq
        lh, lw, c = lq_mm.shape[1:4]
        lc_h, lc_w = (self.crop // s, self.crop // s) if (crop and self.crop is not None) else (lh, lw)
        tops = rng.integers(0, lh - lc_h + 1, b).tolist()
        lefts = rng.integers(0, lw - lc_w + 1, b).tolist()
        flips = (rng.random((b, 3)) < 0.5).tolist()
        if not (self.augment if augment is None else augment):
            flips = [[False, False, False]] * b
        square = lc_h == lc_w
        lq_u8 = np.empty((b, c, lc_h, lc_w), np.uint8)
        gt_u8 = np.empty((b, c, lc_h * s, lc_w * s), np.uint8)
        for j, (r, t, l, (hf, vf, tr)) in enumerate(zip(rows.tolist(), tops, lefts, flips)):
            lq_u8[j] = _dihedral_view(lq_mm[r, t : t + lc_h, l : l + lc_w], hf, vf, tr and square)
            gt_u8[j] = _dihedral_view(
                gt_mm[r, t * s : (t + lc_h) * s, l * s : (l + lc_w) * s], hf, vf, tr and square
            )
        return lq_u8, gt_u8


def _dihedral_view(a: np.ndarray, hflip: bool, vflip: bool, transpose: bool) -> np.ndarray:
    """``h x w x C`` view -> flipped/transposed ``C x h x w`` view (no copy)."""
    if hflip:
        a = a[:, ::-1]
    if vflip:
        a = a[::-1]
    return a.transpose(2, 1, 0) if transpose else a.transpose(2, 0, 1)


def _to_float(u8: np.ndarray, device: torch.device | str, channels_last: bool) -> torch.Tensor:
    """uint8 ``(..., C, H, W)`` -> float32 in ``[0, 1]`` (the same values on every path)."""
    dev = torch.device(device)
    if dev.type == "cpu":
        t = torch.from_numpy(np.divide(u8, np.float32(255.0), dtype=np.float32))
    else:
        t = torch.from_numpy(u8).to(dev, non_blocking=True).float().div_(255.0)
    if channels_last and t.dim() == 4:
        t = t.contiguous(memory_format=torch.channels_last)
    return t


