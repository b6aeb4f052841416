"""The run directory: atomic writes, the single-writer lock and the per-stage cache records.

Every file a stage produces is written to a temporary name in the same folder and renamed into
place, so a killed run never leaves a half-written output behind. Each finished stage records a
``stages/<name>.json`` with the fingerprint of its inputs (config section, upstream fingerprints,
code version); a rerun skips a stage whose record matches and recomputes it otherwise.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .errors import RunLocked

CODE_VERSION = "0.1.0"  # bump when a stage's output format or semantics change


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    ``suffix`` keeps an extension on the temporary file (numpy appends ``.npy`` otherwise).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (dict keys sorted)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def file_fingerprint(paths: list[str | os.PathLike]) -> str:
    """Fingerprint a list of files by path, size and modification time (cheap, no content read)."""
    items = []
    for p in paths:
        st = os.stat(p)
        items.append((str(p), st.st_size, st.st_mtime_ns))
    return fingerprint(items)


class RunLock:
    """An exclusive, non-blocking lock on a run directory (``.lock``, via ``fcntl.flock``).

    The lock is released by the kernel when the process dies, so a killed run never leaves a
    stale lock behind.
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / ".lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                holder = self.path.read_text().strip() or "another process"
                raise RunLocked(
                    f"{self.path.parent}: run directory is in use by pid {holder}; "
                    "wait for it or choose another --run-dir"
                ) from None
            raise
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass
class StageRecord:
    name: str
    key: str
    info: dict


class RunDir:
    """Paths and stage records of one run directory."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.stages = self.root / "stages"

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def record(self, name: str) -> StageRecord | None:
        p = self.stages / f"{name}.json"
        if not p.exists():
            return None
        try:
            data = json.loads(p.read_text())
            return StageRecord(name, data["key"], data.get("info", {}))
        except (ValueError, KeyError):
            return None  # a damaged record means: recompute the stage

    def is_done(self, name: str, key: str) -> bool:
        rec = self.record(name)
        return rec is not None and rec.key == key

    def mark_done(self, name: str, key: str, info: dict | None = None) -> None:
        atomic_write_json(self.stages / f"{name}.json", {"key": key, "info": info or {}})

    def invalidate(self, name: str) -> None:
        p = self.stages / f"{name}.json"
        if p.exists():
            p.unlink()
