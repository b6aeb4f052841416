"""Weights load only through safetensors or ``torch.load(weights_only=True)``: a pickle whose
payload would run ``os.system`` is refused with a clear error and the payload never runs."""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pytest
import torch

PKG = Path(__file__).resolve().parents[1] / "tripled_fast"


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


@pytest.fixture()
def evil(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:  # a torch-style file whose unpickling would run a shell command
        pickle.dump({"state_dict": {"w": _Payload(marker)}}, fh)
    zipped = tmp_path / "evil_zip.pth"
    torch.save({"w": torch.zeros(2), "x": _Payload(marker)}, zipped)  # torch zip format, same payload
    return [path, zipped], marker


def test_backbone_weights_loader_refuses_a_pickle_payload(evil):
    from tripled_fast.features.backbones import read_state_dict

    paths, marker = evil
    for p in paths:
        with pytest.raises(ValueError, match=r"cannot be read with torch.load\(weights_only=True\)") as exc:
            read_state_dict(p)
        assert str(p) in str(exc.value) and "\n" not in str(exc.value)
    assert not marker.exists()


def test_cli_backbone_weights_payload_is_one_line(evil, tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from tripled_fast.cli import main

    (tmp_path / "d").mkdir()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "d" / "a.png")
    Image.fromarray(np.full((64, 64, 3), 9, np.uint8)).save(tmp_path / "d" / "b.png")
    (path, _), marker = evil
    code = main(["run", str(tmp_path / "d"), "--degrade", "noise:sigma=5", "--backbone-weights", str(path),
                 "--backbone", "resnet10t", "--run-dir", str(tmp_path / "run"), "--quiet", "--patch", "32",
                 "--set", "features.backend=eager"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "weights_only=True" in err and str(path) in err and "\n" not in err, err
    assert not marker.exists()


def test_kair_dncnn_loader_refuses_a_pickle_payload(evil):
    from tripled_fast.train.archs.dncnn import load_kair_dncnn

    paths, marker = evil
    for p in paths:
        with pytest.raises(ValueError, match=r"refused by torch\.load\(weights_only=True\)") as exc:
            load_kair_dncnn(p)
        assert str(p) in str(exc.value) and "\n" not in str(exc.value)
    assert not marker.exists()


def test_kd_teacher_loader_refuses_a_pickle_payload(evil):
    slkd = pytest.importorskip("tripled_fast.kd.slkd")
    from tripled_fast.config import KDConfig

    loader = getattr(slkd, "load_teacher", None)
    if loader is None:
        pytest.skip("tripled_fast.kd.slkd.load_teacher not present")
    (path, _), marker = evil
    with pytest.raises(ValueError) as exc:
        loader(KDConfig(teacher_weights=str(path)))
    assert "weights_only=True" in str(exc.value) and "\n" not in str(exc.value)
    assert not marker.exists()


def test_no_unsafe_loader_in_the_package():
    """Every torch.load passes weights_only=True; no pickle.load / np.load(allow_pickle=True)."""
    bad = []
    for f in sorted(PKG.rglob("*.py")):
        text = f.read_text()
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):
            if "weights_only=True" not in m.group(1):
                bad.append(f"{f.name}: {m.group(0)}")
        for pat in (r"pickle\.loads?\(", r"allow_pickle\s*=\s*True", r"\bjoblib\.load\(", r"dill\.load"):
            bad += [f"{f.name}: {m.group(0)}" for m in re.finditer(pat, text)]
        # pickle.Unpickler is allowed only as the restricted subclass (BRISQUE ranges, plain data only)
        for m in re.finditer(r"pickle\.Unpickler\)?", text):
            if "class _PlainUnpickler(pickle.Unpickler)" not in text:
                bad.append(f"{f.name}: {m.group(0)}")
    assert bad == []


def test_brisque_range_unpickler_refuses_a_payload(tmp_path):
    import io

    from tripled_fast.metrics.brisque import _PlainUnpickler

    marker = tmp_path / "pwned"
    blob = pickle.dumps({"min": [0.0], "evil": _Payload(marker)})
    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system|refusing to load os.system"):
        _PlainUnpickler(io.BytesIO(blob)).load()
    assert not marker.exists()
    assert _PlainUnpickler(io.BytesIO(pickle.dumps({"min": [0.5, 1.0]}))).load() == {"min": [0.5, 1.0]}
