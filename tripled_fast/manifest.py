"""The manifest: one row per LQ/GT patch pair of the training pool (an Arrow table on disk).

Stages read the columns they need and add their own (see docs/ARCHITECTURE.md for the schema).
Writes are atomic (Parquet to a temporary file, then rename).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .runfiles import atomic_path

BASE_COLUMNS: dict[str, pa.DataType] = {
    "patch_id": pa.int64(),
    "image_id": pa.string(),
    "source": pa.string(),
    "task": pa.string(),
    "gt_path": pa.string(),
    "lq_path": pa.string(),
    "degrade": pa.string(),
    "scale": pa.int16(),
    "y": pa.int32(),
    "x": pa.int32(),
    "size": pa.int32(),
}

STAGE_COLUMNS: dict[str, pa.DataType] = {
    "mean": pa.float32(),
    "var": pa.float32(),
    "entropy": pa.float32(),
    "grad_energy": pa.float32(),
    "lap_var": pa.float32(),
    "interp_err": pa.float32(),
    "complexity": pa.float32(),
    "complexity_lowlevel": pa.float32(),
    "complexity_head": pa.float32(),
    "feat_var": pa.float32(),
    "uncertainty": pa.float32(),
    "cluster": pa.int32(),
    "selected": pa.bool_(),
    "stage": pa.int8(),
    "in_random": pa.bool_(),
}

#: stage codes
STAGE_NONE, STAGE_ONE, STAGE_TWO_CANDIDATE, STAGE_TWO = 0, 1, 2, 3


def new_manifest(columns: Mapping[str, np.ndarray | list]) -> pa.Table:
    """Build a manifest from the base columns; raises ValueError on a missing or extra column."""
    missing = [c for c in BASE_COLUMNS if c not in columns]
    extra = [c for c in columns if c not in BASE_COLUMNS]
    if missing or extra:
        raise ValueError(f"manifest columns: missing {missing}, unexpected {extra}")
    arrays = [pa.array(columns[c], type=t) for c, t in BASE_COLUMNS.items()]
    table = pa.Table.from_arrays(arrays, names=list(BASE_COLUMNS))
    ids = table.column("patch_id").to_numpy()
    if len(ids) and not np.array_equal(ids, np.arange(len(ids))):
        raise ValueError("manifest: patch_id must equal the row index 0..N-1")
    return table


def with_columns(table: pa.Table, columns: Mapping[str, np.ndarray]) -> pa.Table:
    """Return ``table`` with ``columns`` added or replaced (types from STAGE_COLUMNS when known)."""
    for name, values in columns.items():
        values = np.asarray(values)
        if len(values) != table.num_rows:
            raise ValueError(f"manifest column {name!r}: {len(values)} values for {table.num_rows} rows")
        arr = pa.array(values, type=STAGE_COLUMNS.get(name))
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, arr)
        else:
            table = table.append_column(name, arr)
    return table


def column(table: pa.Table, name: str) -> np.ndarray:
    """A column as a numpy array (strings as an object array)."""
    if name not in table.column_names:
        raise KeyError(f"manifest has no column {name!r} (has: {', '.join(table.column_names)})")
    col = table.column(name)
    if pa.types.is_string(col.type):
        return np.asarray(col.to_pylist(), dtype=object)
    return col.to_numpy()


def write_manifest(path: str | Path, table: pa.Table) -> None:
    with atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_manifest(path: str | Path, columns: list[str] | None = None) -> pa.Table:
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: manifest not found (has the run's tiles stage finished?)")
    return pq.read_table(path, columns=columns)
