import numpy as np
import pytest

from tripled_fast import manifest as mf


def _base(n=5):
    return {"patch_id": np.arange(n), "image_id": [f"s/img{i // 2}" for i in range(n)], "source": ["s"] * n,
            "task": ["denoise"] * n, "gt_path": ["/x.png"] * n, "lq_path": [""] * n,
            "degrade": ["noise:sigma=25"] * n, "scale": [1] * n, "y": np.arange(n) * 8, "x": np.zeros(n),
            "size": [64] * n}


def test_roundtrip_and_columns(tmp_path):
    t = mf.new_manifest(_base())
    t = mf.with_columns(t, {"entropy": np.linspace(0, 1, 5), "stage": np.array([0, 1, 2, 3, 0])})
    p = tmp_path / "manifest.parquet"
    mf.write_manifest(p, t)
    back = mf.read_manifest(p)
    np.testing.assert_array_equal(mf.column(back, "y"), np.arange(5) * 8)
    np.testing.assert_allclose(mf.column(back, "entropy"), np.linspace(0, 1, 5).astype(np.float32))
    assert mf.column(back, "stage").dtype == np.int8
    assert list(mf.column(back, "image_id"))[:3] == ["s/img0", "s/img0", "s/img1"]
    # replacing a column keeps the column count
    t2 = mf.with_columns(back, {"entropy": np.zeros(5)})
    assert t2.num_columns == back.num_columns and float(mf.column(t2, "entropy").sum()) == 0.0
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind


def test_schema_errors():
    b = _base()
    del b["size"]
    with pytest.raises(ValueError, match="missing \\['size'\\]"):
        mf.new_manifest(b)
    b = _base()
    b["patch_id"] = np.arange(5) + 1
    with pytest.raises(ValueError, match="patch_id"):
        mf.new_manifest(b)
    t = mf.new_manifest(_base())
    with pytest.raises(ValueError, match="3 values for 5 rows"):
        mf.with_columns(t, {"entropy": np.zeros(3)})
    with pytest.raises(KeyError, match="no column 'nope'"):
        mf.column(t, "nope")
