"""Property-based tests (hypothesis): the config parser, the meta_info parser, the manifest and
the tile grid never crash with anything but their documented one-line errors."""
from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tripled_fast import manifest as mf
from tripled_fast.config import ConfigError, RunConfig
from tripled_fast.data.sources import scan_source
from tripled_fast.config import SourceConfig
from tripled_fast.data.tiles import tile_grid

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False, width=16),
                     st.text(max_size=5))
_values = st.recursive(_scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                     st.dictionaries(st.text(max_size=6), c, max_size=3)),
                       max_leaves=8)
_sections = ["run_dir", "seed", "data", "tiles", "features", "scores", "select", "align", "train", "eval"]


@FAST
@given(st.dictionaries(st.sampled_from(_sections + ["bogus"]), _values, max_size=4))
def test_config_parser_accepts_or_names_the_key(d):
    try:
        cfg = RunConfig.from_dict(d)
    except ConfigError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg
        assert any(msg.startswith(k) or f" {k}" in msg or k in msg for k in d), msg
    else:
        assert RunConfig.from_dict(cfg.to_dict()) == cfg   # round trip


_line = st.one_of(
    st.text(alphabet=st.sampled_from(list("ab./_-é ")), min_size=1, max_size=12).map(lambda t: t + ".png"),
    st.sampled_from(["../../etc/passwd", "/etc/passwd", "a.png", "sub/../a.png", "sub/b.png", "#c", "", "x.txt",
                     "..\\..\\w.png", "C:/w.png"]),
)


@FAST
@given(st.lists(_line, max_size=8))
def test_meta_info_lines_never_escape_the_gt_folder(tmp_path, lines):
    gt = tmp_path / "gt"
    (gt / "sub").mkdir(parents=True, exist_ok=True)
    for rel in ("a.png", "sub/b.png"):
        (gt / rel).write_bytes(b"\x89PNG")
    meta = tmp_path / "meta.txt"
    meta.write_text("\n".join(f"{l} (1,1,3)" if l and not l.startswith("#") else l for l in lines))
    scan = scan_source(SourceConfig(kind="meta_info", gt=str(gt), meta_info=str(meta), degrade="noise:sigma=5"))
    root = os.path.realpath(gt)
    for pair in scan.pairs:
        assert os.path.realpath(pair.gt_path).startswith(root + os.sep)
        assert pair.gt_path.is_file()
    ids = [p.image_id for p in scan.pairs]
    assert len(ids) == len(set(ids))
    for p in scan.problems:
        assert "\n" not in p.message
        if "etc/passwd" in p.message:
            assert not p.skippable   # traversal is never merely skipped


@FAST
@given(st.integers(0, 300), st.integers(0, 300), st.integers(1, 64), st.integers(1, 64), st.sampled_from([1, 2, 3, 4]))
def test_tile_grid_covers_the_image_inside_bounds(h, w, patch, stride, scale):
    if patch % scale:
        patch = patch * scale
    if stride > patch or stride % scale:
        with pytest.raises(ValueError, match=r"^tile_grid: stride") as exc:
            tile_grid(h, w, patch, stride, scale=scale)
        assert "\n" not in str(exc.value)
        return
    coords = tile_grid(h, w, patch, stride, scale=scale)
    hh, ww = h - h % scale, w - w % scale
    if hh < patch or ww < patch:
        assert coords.shape == (0, 2)
        return
    assert coords.dtype.kind == "i" and coords.shape[1] == 2
    assert (coords >= 0).all() and (coords[:, 0] + patch <= hh).all() and (coords[:, 1] + patch <= ww).all()
    assert (coords % scale == 0).all()
    assert len({tuple(c) for c in coords.tolist()}) == len(coords)
    cover = np.zeros((hh, ww), bool)
    for y, x in coords:
        cover[y:y + patch, x:x + patch] = True
    assert cover.all()


@FAST
@given(st.lists(st.tuples(st.text(max_size=6), st.integers(0, 2**31 - 1)), min_size=0, max_size=20),
       st.lists(st.floats(allow_nan=True, width=32), min_size=0, max_size=20))
def test_manifest_roundtrip_and_column_checks(tmp_path, rows, extra):
    n = len(rows)
    cols = {"patch_id": list(range(n)), "image_id": [r[0] for r in rows], "source": ["s"] * n, "task": ["t"] * n,
            "gt_path": [f"/g/{r[0]}" for r in rows], "lq_path": [""] * n, "degrade": ["noise:sigma=5"] * n,
            "scale": [1] * n, "y": [r[1] for r in rows], "x": [0] * n, "size": [32] * n}
    table = mf.new_manifest(cols)
    path = tmp_path / "m.parquet"
    mf.write_manifest(path, table)
    assert mf.read_manifest(path).equals(table)
    if len(extra) == n:
        t2 = mf.with_columns(table, {"complexity": np.asarray(extra, np.float32)})
        np.testing.assert_array_equal(mf.column(t2, "complexity"), np.asarray(extra, np.float32))
    else:
        with pytest.raises(ValueError, match="values for"):
            mf.with_columns(table, {"complexity": np.asarray(extra, np.float32)})
    with pytest.raises(ValueError, match="patch_id must equal the row index"):
        if n:
            mf.new_manifest({**cols, "patch_id": [i + 1 for i in range(n)]})
        else:
            raise ValueError("patch_id must equal the row index")
    with pytest.raises(ValueError, match="unexpected"):
        mf.new_manifest({**cols, "bogus": [0] * n})


def test_unknown_key_error_stays_on_one_line():
    """Found by the property test above: a key with a newline (or a non-string key next to a
    string one) must still give a one-line error naming it."""
    for d, shown in (({"data": {"\n": None}}, "data.'\\n'"), ({"data": {3: 1, "x": 2}}, "data.3"),
                     ({"data": {" pad": 1}}, "data.' pad'")):
        with pytest.raises(ConfigError) as info:
            RunConfig.from_dict(d)
        msg = str(info.value)
        assert "\n" not in msg and msg.startswith(f"unknown config key {shown} (allowed: ")
