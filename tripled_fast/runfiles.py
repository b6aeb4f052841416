"""The run directory: atomic writes, the single-writer lock and the per-stage cache records.

Every file a stage produces is written to a temporary name in the same folder and renamed into
place, so a killed run never leaves a half-written output behind. Each finished stage records a
``stages/<name>.json`` with the fingerprint of its inputs (config section, upstream fingerprints,
code version, the input files' content hashes); a rerun skips a stage whose record matches and
recomputes it otherwise. A stage drops its own record before it starts writing, so outputs left
by a killed or differently configured run are never taken for finished ones.

Input files are identified by their SHA-256 (:class:`FileMemo`), memoised per
``(path, size, mtime_ns, ctime_ns, inode)`` in ``cache/files.json``: a rerun re-reads only files
whose metadata changed, and an edit whose mtime was restored still changes ``ctime`` (which no
user call can set), so it is re-hashed.

``TRIPLED_FAST_FAULT=<point>`` is a test hook: :func:`fault_point` SIGKILLs the process at the
named point (see docs/RELIABILITY.md); it is a no-op when the variable is unset.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import signal
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import RunLocked

PACKAGE_VERSION = "0.1.0"  # bump when a stage's output format or semantics change
FAULT_ENV = "TRIPLED_FAST_FAULT"
HASH_BLOCK = 1 << 20  # bytes read per step when hashing a file


def _source_digest() -> str:
    """SHA-256 (12 hex) of the package's Python sources: any code edit changes every cache key."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        if "__pycache__" in f.parts:
            continue
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


#: the code version in every cache key: the package version plus a hash of its source files
CODE_VERSION = f"{PACKAGE_VERSION}+{_source_digest()}"


def fault_point(name: str) -> None:
    """Test hook: SIGKILL this process (a real kill, no cleanup) when ``$TRIPLED_FAST_FAULT == name``."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


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
    """Fingerprint a list of files by path, size and modification time (cheap, no content read).

    Not used for cache keys of input data (an edit with a restored mtime would go unnoticed):
    use :func:`content_fingerprint`.
    """
    items = []
    for p in paths:
        st = os.stat(p)
        items.append((str(p), st.st_size, st.st_mtime_ns))
    return fingerprint(items)


def file_sha256(path: str | os.PathLike, block: int = HASH_BLOCK) -> str:
    """Hex SHA-256 of a file's bytes, streamed ``block`` bytes at a time (memory stays O(block))."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def _stat_signature(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


class FileMemo:
    """Per-file facts (the SHA-256, plus whatever callers store) memoised by stat signature.

    An entry is reused only while the file's ``(size, mtime_ns, ctime_ns, inode)`` is unchanged;
    any change drops every fact of that file. ``path=None`` keeps the memo in memory only.
    Thread-safe; :meth:`save` writes the JSON atomically.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._data: dict[str, dict] = {}
        self._dirty = False
        if self.path is not None and self.path.exists():
            try:
                data = json.loads(self.path.read_text())
                self._data = data if isinstance(data, dict) else {}
            except (OSError, ValueError):
                self._data = {}  # a damaged memo only costs re-hashing

    def fact(self, path: str | os.PathLike, name: str, compute: Callable[[str], Any]) -> Any:
        """``compute(path)`` memoised under ``name`` for the file's current stat signature."""
        key = os.path.abspath(os.fspath(path))
        sig = _stat_signature(key)
        with self._lock:
            entry = self._data.get(key)
            if entry is not None and entry.get("sig") == sig and name in entry:
                return entry[name]
        value = compute(key)
        with self._lock:
            entry = self._data.get(key)
            if entry is None or entry.get("sig") != sig:
                entry = self._data[key] = {"sig": sig}
            entry[name] = value
            self._dirty = True
        return value

    def sha256(self, path: str | os.PathLike) -> str:
        return self.fact(path, "sha256", file_sha256)

    def map(self, paths: Sequence[str | os.PathLike], name: str, compute: Callable[[str], Any],
            workers: int | None = None) -> list[Any]:
        """:meth:`fact` for many files, ``workers`` threads (file reads and decoders release the GIL)."""
        workers = workers or min(4, os.cpu_count() or 1)
        if workers <= 1 or len(paths) < 2:
            return [self.fact(p, name, compute) for p in paths]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda p: self.fact(p, name, compute), paths))

    def save(self) -> None:
        if self.path is not None and self._dirty:
            with self._lock:
                atomic_write_text(self.path, json.dumps(self._data, sort_keys=True))
                self._dirty = False


def content_fingerprint(paths: Sequence[str | os.PathLike], memo: FileMemo | None = None) -> str:
    """Fingerprint of the files' contents (SHA-256 each) in the given order, paths included."""
    memo = memo if memo is not None else FileMemo()
    digests = memo.map(list(paths), "sha256", file_sha256)
    return fingerprint([(os.fspath(p), d) for p, d in zip(paths, digests)])


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

    def sweep_temporaries(self) -> list[Path]:
        """Delete the temporary files a killed run left behind (call while holding the lock).

        Matches the names the writers use: ``.<final>.<8 mkstemp chars><suffix>`` (``atomic_path``,
        pack writers) and ``.<final>.<pid>.tmp`` (the feature writer). Resumable training states
        (``.<name>.<key>.state``) and ``.lock`` do not match and are kept.
        """
        import re

        pattern = re.compile(r"^\.(?P<final>.+?)\.[a-z0-9_]{8}(?P<suffix>\.[^.]+)?$")
        removed = []
        if not self.root.exists():
            return removed
        for p in self.root.rglob(".*"):
            if not p.is_file() or p.is_symlink():
                continue
            m = pattern.match(p.name)
            stale = p.name.endswith(".tmp") or (
                m is not None and (m["suffix"] or "") == (Path(m["final"]).suffix or ".tmp"))
            if stale:
                p.unlink(missing_ok=True)
                removed.append(p)
        return removed

    def invalidate(self, name: str) -> None:
        p = self.stages / f"{name}.json"
        if p.exists():
            p.unlink()
