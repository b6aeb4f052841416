import multiprocessing as mp
import os

import pytest

from tripled_fast.errors import RunLocked
from tripled_fast.runfiles import RunDir, RunLock, atomic_path, atomic_write_text, fingerprint


def test_atomic_path_leaves_old_file_on_failure(tmp_path):
    p = tmp_path / "out.txt"
    atomic_write_text(p, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(p) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert p.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.txt"]


def test_stage_records(tmp_path):
    run = RunDir(tmp_path)
    k = fingerprint("tiles", {"patch": 64})
    assert not run.is_done("tiles", k)
    run.mark_done("tiles", k, {"patches": 10})
    assert run.is_done("tiles", k)
    assert not run.is_done("tiles", fingerprint("tiles", {"patch": 48}))
    assert run.record("tiles").info == {"patches": 10}
    (tmp_path / "stages" / "tiles.json").write_text("{broken")
    assert not run.is_done("tiles", k)


def _try_lock(path, q):
    try:
        with RunLock(path):
            q.put("got it")
    except RunLocked as exc:
        q.put(str(exc))


def test_lock_excludes_a_second_process(tmp_path):
    q = mp.get_context("fork").Queue()
    with RunLock(tmp_path):
        p = mp.get_context("fork").Process(target=_try_lock, args=(tmp_path, q))
        p.start()
        p.join(10)
        msg = q.get(timeout=5)
    assert "in use by pid" in msg and str(os.getpid()) in msg
    p = mp.get_context("fork").Process(target=_try_lock, args=(tmp_path, q))
    p.start()
    p.join(10)
    assert q.get(timeout=5) == "got it"
