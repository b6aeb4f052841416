"""Fault injection on inputs: every bad file or folder gives a one-line error or a counted skip.

Library level (``collect_pairs`` + ``verify_pairs`` under both ``on_bad_file`` policies) and
command level (``tripled-fast check`` / ``run`` in-process, stderr checked for one line, no
traceback). The full pipeline's skip count in the report is tested in test_reliability_interrupt.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tripled_fast.cli import main
from tripled_fast.config import SourceConfig
from tripled_fast.data.decode import decode_image
from tripled_fast.data.sources import collect_pairs, verify_pairs
from tripled_fast.errors import DataError

RNG = np.random.default_rng(0)


def _rgb(h=48, w=48):
    return RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(path: Path, arr: np.ndarray, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path, **kw)
    return path


def _jpeg_bytes(arr, **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, **kw)
    return buf.getvalue()


@pytest.fixture()
def messy(tmp_path):
    """A paired GT/LQ folder with one good pair per supported oddity and one per fault."""
    gt, lq = tmp_path / "gt", tmp_path / "lq"
    good = {}
    # supported: decoded and used
    for name, img in {"plain": _rgb(), "ünï cödé 画像": _rgb()}.items():
        _save(gt / f"{name}.png", img), _save(lq / f"{name}.png", img)
        good[name] = img
    g16 = (RNG.integers(0, 256, (48, 48)) * 257).astype(np.uint16)
    _save(gt / "gray16.png", g16), _save(lq / "gray16.png", (g16 >> 8).astype(np.uint8))
    pal = Image.fromarray(_rgb()).convert("P")
    pal.save(gt / "palette.png"), pal.save(lq / "palette.png")
    cmyk = Image.fromarray(_rgb()).convert("CMYK")
    cmyk.save(gt / "cmyk.jpg"), cmyk.save(lq / "cmyk.jpg")
    (gt / "wrongext.png").write_bytes(_jpeg_bytes(_rgb())), (lq / "wrongext.png").write_bytes(_jpeg_bytes(_rgb()))
    # EXIF orientation 6: a 48x64 stored image is shown 64x48 (rotated); LQ stored upright 64x48
    exif = Image.Exif()
    exif[0x0112] = 6
    raw = _rgb(48, 64)
    Image.fromarray(raw).save(gt / "exif.jpg", exif=exif.tobytes(), quality=95)
    _save(lq / "exif.png", np.rot90(raw, -1).copy())
    # faults: skipped with a reason
    (gt / "zero.png").write_bytes(b""), _save(lq / "zero.png", _rgb())
    full = (gt / "plain.png").read_bytes()
    (gt / "trunc.png").write_bytes(full[: len(full) // 2]), _save(lq / "trunc.png", _rgb())
    jp = _jpeg_bytes(_rgb())
    (gt / "truncj.jpg").write_bytes(jp[: len(jp) // 3]), _save(lq / "truncj.jpg", _rgb())
    (gt / "text.png").write_text("not an image"), _save(lq / "text.png", _rgb())
    bad = bytearray(full)
    idat = bad.index(b"IDAT")
    bad[idat + 20: idat + 60] = bytes(40)          # CRC no longer matches
    (gt / "corrupt.png").write_bytes(bytes(bad)), _save(lq / "corrupt.png", _rgb())
    (gt / "badheader.jpg").write_bytes(jp[:2] + b"\xff\xc0\x00\x02" + jp[200:]), _save(lq / "badheader.jpg", _rgb())
    _save(gt / "size.png", _rgb(48, 48)), _save(lq / "size.png", _rgb(40, 48))
    _save(gt / "orphan.png", _rgb())                # no LQ partner
    _save(gt / "dup.png", _rgb()), _save(gt / "dup.bmp", _rgb()), _save(lq / "dup.png", _rgb())
    os.symlink(gt, gt / "loop")                      # a symlinked folder loop is never entered
    return gt, lq, good


SKIPPED = {"zero.png": "empty file (0 bytes)", "trunc.png": "cannot decode image",
           "truncj.jpg": "cannot decode image", "text.png": "not a recognised image file",
           "corrupt.png": "cannot decode image", "badheader.jpg": "",
           "size.png": "does not match LQ", "orphan.png": "no LQ partner",
           "dup.png": "duplicated image name 'dup'"}
USED = ["cmyk", "dup", "exif", "gray16", "palette", "plain", "wrongext", "ünï cödé 画像"]


def test_skip_policy_keeps_every_usable_pair_and_names_every_bad_one(messy):
    gt, lq, good = messy
    skipped = []
    src = [SourceConfig(kind="paired", gt=str(gt), lq=str(lq), name="m")]
    pairs = collect_pairs(src, on_bad_file="skip", skipped=skipped)
    pairs = verify_pairs(pairs, on_bad_file="skip", skipped=skipped)
    assert sorted(p.image_id.split("/", 1)[1] for p in pairs) == USED
    by_file = {Path(p.path).name: p.message for p in skipped}
    # dup: one of the two GT files with stem "dup" is dropped as a duplicate (the .png sorts after .bmp)
    assert sorted(by_file) == sorted(SKIPPED)
    for name, fragment in SKIPPED.items():
        assert fragment in by_file[name] and "\n" not in by_file[name], (name, by_file[name])
    # no silent wrong result: a used pair decodes to the saved pixels, EXIF rotation applied
    pair = next(p for p in pairs if p.image_id.endswith("/ünï cödé 画像"))
    assert np.array_equal(decode_image(pair.gt_path), good["ünï cödé 画像"])
    exif = next(p for p in pairs if p.image_id.endswith("/exif"))
    assert decode_image(exif.gt_path).shape == (64, 48, 3) == decode_image(exif.lq_path).shape
    g16 = next(p for p in pairs if p.image_id.endswith("/gray16"))
    assert np.array_equal(decode_image(g16.gt_path), decode_image(g16.lq_path))


def test_error_policy_stops_on_the_first_bad_pair_in_one_line(messy):
    gt, lq, _ = messy
    src = [SourceConfig(kind="paired", gt=str(gt), lq=str(lq), name="m")]
    with pytest.raises(DataError, match=r"no LQ partner|duplicated image name") as exc:
        collect_pairs(src, on_bad_file="error")
    assert "\n" not in str(exc.value) and "more problems; run the check command" in str(exc.value)
    good = [p for p in collect_pairs(src, on_bad_file="skip") if p.image_id.endswith(("/zero", "/plain"))]
    with pytest.raises(DataError, match=r"zero.png: empty file \(0 bytes\)$"):
        verify_pairs(good, on_bad_file="error")


def test_check_command_lists_every_fault(messy, capsys):
    gt, lq, _ = messy
    assert main(["check", str(gt), "--lq", str(lq)]) == 1
    out = capsys.readouterr().out.splitlines()
    errors = [line for line in out if line.startswith("ERROR")]
    named = {Path(line.split(":")[0].split(" ", 1)[1]).name for line in errors}
    assert set(SKIPPED) <= named
    assert any("palette image" in line for line in out) and any("16-bit" in line for line in out)
    assert any("CMYK" in line for line in out) and any("extension .png but the content is JPEG" in line for line in out)
    assert out[-1].startswith("FAILED: 1 sources")


def _run(argv, capsys, tmp_path):
    code = main(["run", *argv, "--run-dir", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("setup, fragment", [
    ("empty_folder", "GT folder has no image files"),
    ("missing_folder", "GT folder not found"),
    ("only_bad", "1 of 1 pairs are unusable (first:"),
    ("traversal", "path '../../etc/passwd' leaves the GT folder"),
    ("absolute", "absolute path '/etc/passwd' not allowed"),
    ("mostly_bad", "2 of 3 pairs are unusable"),
])
def test_run_input_faults_are_one_line_errors(setup, fragment, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    argv = [str(data), "--degrade", "noise:sigma=5"]
    if setup == "missing_folder":
        argv[0] = str(tmp_path / "nope")
    elif setup == "only_bad":
        (data / "a.png").write_bytes(b"")
    elif setup == "mostly_bad":
        _save(data / "a.png", _rgb()), (data / "b.png").write_bytes(b""), (data / "c.png").write_text("x")
    elif setup in ("traversal", "absolute"):
        _save(data / "a.png", _rgb())
        meta = tmp_path / "meta.txt"
        bad = "../../etc/passwd" if setup == "traversal" else "/etc/passwd"
        meta.write_text(f"a.png (48,48,3)\n{bad} (1,1,1)\n")
        argv += ["--meta-info", str(meta)]
    code, err = _run(argv, capsys, tmp_path)
    assert code == 2 and err.startswith("tripled-fast: error:") and fragment in err and "\n" not in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("text, fragment", [
    ("data: {sources: [{kind: paired, gt: a, bogus: 1}]}", "unknown config key data.sources[0].bogus"),
    ("data: {on_bad_file: maybe}", "data.on_bad_file: expected one of ['error', 'skip']"),
    ("tiles: {patch: big}", "tiles.patch: expected an integer"),
    ("- just\n- a list", "expected a mapping at the top level"),
    ("train: {steps: [1,\n", "not valid YAML"),
    ("seed: 1.5", "seed: expected an integer, got 1.5"),
])
def test_malformed_configs_are_one_line_errors(text, fragment, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    code, err = _run(["--config", str(cfg)], capsys, tmp_path)
    assert code == 2 and fragment in err and "\n" not in err, err


def test_unexpected_exception_is_one_line_with_a_hint(tmp_path, capsys, monkeypatch):
    import tripled_fast.pipeline as pl

    def boom(*a, **k):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(pl, "distill", boom)
    _save(tmp_path / "d" / "a.png", _rgb())
    code, err = _run([str(tmp_path / "d"), "--degrade", "noise:sigma=5"], capsys, tmp_path)
    assert code == 2
    assert err == ("tripled-fast: error: unexpected RuntimeError: disk on fire "
                   "(rerun with TRIPLED_FAST_DEBUG=1 for the traceback)")
    monkeypatch.setenv("TRIPLED_FAST_DEBUG", "1")
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["run", str(tmp_path / "d"), "--degrade", "noise:sigma=5", "--run-dir", str(tmp_path / "r")])


def test_keyboard_interrupt_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import tripled_fast.pipeline as pl

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pl, "distill", interrupted)
    _save(tmp_path / "d" / "a.png", _rgb())
    code, err = _run([str(tmp_path / "d"), "--degrade", "noise:sigma=5"], capsys, tmp_path)
    assert code == 130 and "rerun the same command to resume" in err and "\n" not in err


def test_unwritable_run_directory_is_one_line(tmp_path, capsys):
    _save(tmp_path / "d" / "a.png", _rgb())
    blocker = tmp_path / "file"
    blocker.write_text("x")  # the run directory's parent is a file: works even as root
    code = main(["run", str(tmp_path / "d"), "--degrade", "noise:sigma=5", "--run-dir", str(blocker / "run")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("tripled-fast: error:") and "\n" not in err and str(blocker) in err


def test_set_keeps_yaml_off_as_a_string():
    from tripled_fast.cli import build_run_config, make_parser

    a = make_parser().parse_args(["run", "x", "--degrade", "noise:sigma=5", "--set", "train.compile=off",
                                  "--set", "align.enabled=false", "--set", "train.amp=no"])
    cfg = build_run_config(a)
    assert (cfg.train.compile, cfg.align.enabled, cfg.train.amp) == ("off", False, "no")


def test_grayscale_mixed_with_colour_runs_as_rgb(tmp_path):
    from tripled_fast.config import RunConfig
    from tripled_fast.pipeline import collect_sources, tiles_stage
    from tripled_fast.runfiles import RunDir

    data = tmp_path / "d"
    _save(data / "c.png", _rgb(64, 64))
    _save(data / "g.png", RNG.integers(0, 256, (64, 64), dtype=np.uint8))
    cfg = RunConfig.from_dict({"run_dir": str(tmp_path / "r"), "tiles": {"patch": 32, "stride": 32},
                               "data": {"holdout": 0, "sources": [{"kind": "degrade", "gt": str(data),
                                                                   "degrade": "noise:sigma=5"}]}})
    run = RunDir(cfg.run_dir)
    pool, _ = collect_sources(cfg, lambda m: None)
    tiles_stage(run, cfg, pool, lambda m: None)
    assert run.record("tiles").info["color"] == "rgb" and run.record("tiles").info["patches"] == 8
