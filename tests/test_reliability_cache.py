"""Cache keys: content hashes (memoised by stat signature), the config and the code version;
temporaries of a killed run are swept."""
from __future__ import annotations

import hashlib
import os

import numpy as np
from PIL import Image

from tripled_fast.config import RunConfig
from tripled_fast.runfiles import CODE_VERSION, PACKAGE_VERSION, FileMemo, RunDir, content_fingerprint, file_sha256


def test_file_sha256_streams_and_matches_hashlib(tmp_path):
    p = tmp_path / "f.bin"
    data = np.random.default_rng(1).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    p.write_bytes(data)
    assert file_sha256(p, block=1 << 20) == hashlib.sha256(data).hexdigest() == file_sha256(p, block=4096)


def test_memo_rereads_only_changed_files_and_sees_edits_with_restored_mtime(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"x" * 100), b.write_bytes(b"y" * 100)
    calls = []

    def counted(path):
        calls.append(os.path.basename(path))
        return file_sha256(path)

    memo = FileMemo(tmp_path / "memo.json")
    first = memo.map([a, b], "sha256", counted)
    memo.save()
    memo = FileMemo(tmp_path / "memo.json")          # a rerun: reloaded from disk, nothing re-read
    assert memo.map([a, b], "sha256", counted) == first and sorted(calls) == ["a.bin", "b.bin"]
    st = os.stat(a)
    a.write_bytes(b"z" * 100)                        # same size, then the old mtime restored
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(a).st_mtime_ns == st.st_mtime_ns and os.stat(a).st_size == st.st_size
    again = memo.map([a, b], "sha256", counted)
    assert sorted(calls) == ["a.bin", "a.bin", "b.bin"]
    assert again[0] == hashlib.sha256(b"z" * 100).hexdigest() != first[0] and again[1] == first[1]


def test_damaged_memo_only_costs_a_rehash(tmp_path):
    (tmp_path / "memo.json").write_text("{not json")
    f = tmp_path / "a"
    f.write_bytes(b"abc")
    assert FileMemo(tmp_path / "memo.json").sha256(f) == hashlib.sha256(b"abc").hexdigest()


def test_tiles_key_follows_content_config_and_code(tmp_path, monkeypatch):
    import tripled_fast.pipeline as pl

    data = tmp_path / "d"
    data.mkdir()
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(img).save(data / "a.png")
    Image.fromarray(img[::-1].copy()).save(data / "b.png")
    cfg = RunConfig.from_dict({"run_dir": str(tmp_path / "r"), "tiles": {"patch": 32, "stride": 32},
                               "data": {"holdout": 0, "sources": [{"kind": "degrade", "gt": str(data),
                                                                   "degrade": "noise:sigma=5"}]}})
    run, logs = RunDir(cfg.run_dir), []
    memo = FileMemo(run.path("cache", "files.json"))
    pool, _ = pl.collect_sources(cfg, logs.append, memo)
    k1 = pl.tiles_stage(run, cfg, pool, logs.append, memo)
    assert pl.tiles_stage(run, cfg, pool, logs.append, memo) == k1 and logs[-1] == "tiles: cached"
    # an edited image with its size and mtime restored: new key, the stage recomputes
    st = os.stat(data / "a.png")
    raw = bytearray((data / "a.png").read_bytes())
    edited = img.copy()
    edited[0, 0] ^= 1
    Image.fromarray(edited).save(data / "a.png")
    if os.path.getsize(data / "a.png") == len(raw):
        os.utime(data / "a.png", ns=(st.st_atime_ns, st.st_mtime_ns))
    k2 = pl.tiles_stage(run, cfg, pool, logs.append, FileMemo(run.path("cache", "files.json")))
    assert k2 != k1 and logs[-1].startswith("tiles: 8 patches")
    cfg.tiles.stride = 16
    assert pl.tiles_stage(run, cfg, pool, logs.append, memo) not in (k1, k2)
    cfg.tiles.stride = 32
    monkeypatch.setattr(pl, "CODE_VERSION", CODE_VERSION + "-edited")
    assert pl.tiles_stage(run, cfg, pool, logs.append, memo) not in (k1, k2)
    assert CODE_VERSION.startswith(PACKAGE_VERSION + "+") and len(CODE_VERSION) == len(PACKAGE_VERSION) + 13


def test_content_fingerprint_depends_on_bytes_and_order(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"1"), b.write_bytes(b"2")
    f = content_fingerprint([a, b])
    assert f == content_fingerprint([a, b]) != content_fingerprint([b, a])
    b.write_bytes(b"3")
    assert content_fingerprint([a, b]) != f


def test_sweep_removes_only_orphaned_temporaries(tmp_path):
    run = RunDir(tmp_path)
    keep = [".lock", "models/.distilled.0123456789abcdef.state", "manifest.parquet", "pack/distilled_gt.npy"]
    stale = [".features.npy.4242.tmp", ".manifest.parquet.k2j4l6m8.parquet", "pack/.distilled_gt.npy.a1b2c3d4.npy",
             "models/..distilled.0123456789abcdef.state.zz99yy88.state", "stages/.tiles.json.abcdefgh.json"]
    for rel in keep + stale:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    removed = sorted(p.relative_to(tmp_path).as_posix() for p in run.sweep_temporaries())
    assert removed == sorted(stale)
    assert all((tmp_path / rel).exists() for rel in keep)
