"""kill -9 inside stages, resumption, determinism across processes, the run lock and a read-only
input folder, all through the ``tripled-fast`` command line in subprocesses.

The reference run and the killed-and-resumed run use the same seed and data; the resumed run's
manifest, features, exported subset, checkpoints and eval.json must equal the reference's. The
kills are real SIGKILLs: ``TRIPLED_FAST_FAULT=<point>`` makes the process kill itself at a named
point inside a stage (``runfiles.fault_point``), and one kill comes from outside, while training
writes its resumable state.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from tripled_fast.runfiles import RunLock

ROOT = Path(__file__).resolve().parents[1]

TINY = ["--degrade", "noise:sigma=25", "--patch", "32", "--stride", "32", "--steps", "12", "--budget", "0.2",
        "--seed", "5", "--quiet",
        "--set", "features.backbone=resnet10t", "--set", "features.fallback=none",
        "--set", "features.allow_random=true", "--set", "features.input_size=32",
        "--set", "features.backend=eager", "--set", "features.batch_size=16", "--set", "data.decoder=pil",
        "--set", "scores.stats_backend=torch", "--set", "scores.head_epochs=2",
        "--set", "train.compile=off", "--set", "train.checkpoint_every=4", "--set", "train.batch_size=4",
        "--set", "train.arch_kwargs={depth: 3, width: 8}", "--set", "train.log_every=4",
        "--set", "align.steps=2", "--set", "align.batch_size=8", "--set", "data.holdout=0.25"]

# an audit hook that records every attempt to write, rename, delete or chmod under the input folder
_GUARD = """
import os, sys
ROOT = os.path.realpath(sys.argv[1]) + os.sep
bad = []
def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        mode = str(args[1] or "r") if len(args) > 1 else "r"
        flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
        writing = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        paths = [args[0]]
    elif event in ("os.rename", "os.replace", "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.utime",
                   "os.symlink", "os.link", "os.truncate", "shutil.rmtree"):
        writing, paths = True, [a for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))]
    else:
        return
    for p in paths:
        p = os.fsdecode(p)
        if writing and os.path.realpath(p).startswith(ROOT):
            bad.append(f"{event} {p}")
            raise PermissionError(f"guard: write to the input folder: {p}")
sys.addaudithook(hook)
sys.argv = sys.argv[1:]
from tripled_fast.cli import main
code = main(sys.argv[1:])
sys.exit(code)
"""


def _env(fault: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIPLED_FAST_")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    if fault:
        env["TRIPLED_FAST_FAULT"] = fault
    return env


def _cli(data: Path, run_dir: Path, fault: str | None = None, guard: Path | None = None
         ) -> subprocess.CompletedProcess:
    head = [sys.executable, str(guard), str(data)] if guard else [sys.executable, "-m", "tripled_fast.cli"]
    cmd = [*head, "run", str(data), "--run-dir", str(run_dir), *TINY]
    return subprocess.run(cmd, env=_env(fault), capture_output=True, text=True, timeout=300, cwd=str(ROOT))


def _tree_digest(folder: Path) -> dict[str, tuple[str, int, int]]:
    out = {}
    for p in sorted(folder.rglob("*")):
        st = p.lstat()
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() and not p.is_symlink() else ""
        out[p.relative_to(folder).as_posix()] = (digest, st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """Four 96 px photos, a zero-byte file and a truncated PNG (skipped and counted), read-only."""
    import skimage.data

    root = tmp_path_factory.mktemp("reliab") / "data with spaces é"
    root.mkdir()
    for n in ["astronaut", "coffee", "rocket", "brick"]:
        img = getattr(skimage.data, n)()
        img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img
        Image.fromarray(np.ascontiguousarray(img[:96, :96, :3])).save(root / f"{n}.png")
    (root / "empty.png").write_bytes(b"")
    raw = (root / "coffee.png").read_bytes()
    (root / "truncated.png").write_bytes(raw[: len(raw) // 2])
    for p in [*root.iterdir(), root]:
        p.chmod(0o555 if p.is_dir() else 0o444)
    yield root
    for p in [root, *root.iterdir()]:
        p.chmod(0o755)


@pytest.fixture(scope="module")
def reference(dataset, tmp_path_factory) -> Path:
    """An uninterrupted run under the input-write guard (the data folder is read-only)."""
    before = _tree_digest(dataset)
    guard = tmp_path_factory.mktemp("guard") / "guard.py"
    guard.write_text(_GUARD)
    run = tmp_path_factory.mktemp("ref") / "run"
    res = _cli(dataset, run, guard=guard)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "guard:" not in res.stderr
    assert _tree_digest(dataset) == before  # contents, mtimes and modes unchanged
    return run


def _assert_same_outputs(a: Path, b: Path) -> None:
    leftovers = sorted(p.name for p in b.rglob(".*") if p.name != ".lock")
    assert leftovers == [], leftovers  # temporaries of the killed runs were swept
    ta, tb = pq.read_table(a / "manifest.parquet"), pq.read_table(b / "manifest.parquet")
    assert ta.column_names == tb.column_names
    assert ta.equals(tb)
    assert (a / "features.npy").read_bytes() == (b / "features.npy").read_bytes()
    for name in ["meta_info.txt", *[f"{s}/{f.name}" for s in ("gt", "lq") for f in (a / "subset" / s).iterdir()]]:
        assert (a / "subset" / name).read_bytes() == (b / "subset" / name).read_bytes(), name
    assert sorted(p.name for p in (a / "subset" / "gt").iterdir()) == sorted(p.name for p in (b / "subset" / "gt").iterdir())
    from safetensors.numpy import load_file

    for name in ["distilled", "random", "full"]:
        wa, wb = load_file(a / "models" / f"{name}.safetensors"), load_file(b / "models" / f"{name}.safetensors")
        assert wa.keys() == wb.keys()
        for k in wa:
            np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{name}:{k}")
    ea, eb = json.loads((a / "eval.json").read_text()), json.loads((b / "eval.json").read_text())
    assert ea == eb


def test_reference_run_skips_and_counts_bad_files(reference, dataset):
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["skipped_pairs"] == 2
    skipped = json.loads((reference / "skipped.json").read_text())
    reasons = " ".join(skipped["data.sources"])
    assert "empty.png: empty file (0 bytes)" in reasons and "truncated.png: cannot decode image" in reasons
    assert "## Skipped input pairs: 2" in (reference / "report.md").read_text()
    # 3 training images (one held out) x 9 tiles of 32 px
    assert pq.read_table(reference / "manifest.parquet").num_rows == 27


def _kill_chain(dataset: Path, run: Path, faults: list[str]) -> None:
    for fault in faults:
        res = _cli(dataset, run, fault=fault)
        assert res.returncode == -signal.SIGKILL, (fault, res.returncode, res.stderr[-2000:])
        rec = run / "stages" / f"{fault}.json"
        assert not rec.exists(), f"{fault}: killed inside the stage but its record was written"


def _kill_while_training(dataset: Path, run: Path) -> None:
    """SIGKILL from outside once the distilled model's resumable training state appears."""
    cmd = [sys.executable, "-m", "tripled_fast.cli", "run", str(dataset), "--run-dir", str(run), *TINY]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=str(ROOT))
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < 240 and proc.poll() is None:
            if list((run / "models").glob(".distilled.*.state")) if (run / "models").exists() else []:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before training could be killed"
    assert not (run / "stages" / "train_distilled.json").exists()


def test_killed_in_stages_then_resumed_equals_uninterrupted(reference, dataset, tmp_path):
    """Also the determinism check: the resumed run ran in other processes than the reference."""
    run = tmp_path / "run"
    _kill_chain(dataset, run, ["scan"])
    _kill_while_training(dataset, run)
    res = _cli(dataset, run)
    assert res.returncode == 0, res.stderr[-3000:]
    _assert_same_outputs(reference, run)


@pytest.mark.slow
def test_killed_in_every_stage_then_resumed(reference, dataset, tmp_path):
    run = tmp_path / "run"
    _kill_chain(dataset, run, ["tiles", "scan", "cluster", "scores", "select", "pack", "align", "train_distilled",
                               "train_random", "train_full", "evaluate", "export", "report"])
    res = _cli(dataset, run)
    assert res.returncode == 0, res.stderr[-3000:]
    _assert_same_outputs(reference, run)


def test_second_run_on_a_locked_run_directory_is_refused(dataset, tmp_path, capsys):
    from tripled_fast.cli import main

    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from tripled_fast.runfiles import RunLock; "
         "l = RunLock(sys.argv[1]); l.acquire(); print('locked', flush=True); time.sleep(120)", str(run)],
        env=_env(), stdout=subprocess.PIPE, text=True, cwd=str(ROOT))
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert main(["run", str(dataset), "--run-dir", str(run), *TINY]) == 2
        err = capsys.readouterr().err.strip()
        assert err == (f"tripled-fast: error: {run}: run directory is in use by pid {holder.pid}; "
                       "wait for it or choose another --run-dir")
        assert sorted(p.name for p in run.iterdir()) == [".lock"]  # nothing written while locked
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run):  # a killed holder leaves no stale lock
        pass
