import numpy as np
import pytest
from PIL import Image

from tripled_fast.cli import build_run_config, main, make_parser


def _args(*argv):
    return make_parser().parse_args(["run", *argv])


def test_flags_build_a_paired_source(tmp_path):
    cfg = build_run_config(_args("gt_dir", "--lq", "lq_dir", "--scale", "4", "--budget", "0.01",
                                 "--run-dir", str(tmp_path / "r"), "--set", "train.steps=7",
                                 "--set", "select.clusters=5", "--test", "tgt:tlq"))
    src = cfg.data.sources[0]
    assert (src.kind, src.gt, src.lq, src.scale) == ("paired", "gt_dir", "lq_dir", 4)
    assert cfg.select.budget == 0.01 and cfg.train.steps == 7 and cfg.select.clusters == 5
    assert cfg.data.test[0].kind == "paired" and cfg.data.test[0].lq == "tlq"


def test_degrade_source_and_clean_test(tmp_path):
    cfg = build_run_config(_args("clean", "--degrade", "noise:sigma=25", "--test", "clean_test",
                                 "--run-dir", str(tmp_path)))
    assert cfg.data.sources[0].kind == "degrade" and cfg.data.sources[0].degrade == "noise:sigma=25"
    assert cfg.data.test[0].degrade == "noise:sigma=25"


def test_default_run_uses_the_embedded_demo(tmp_path):
    cfg = build_run_config(_args("--run-dir", str(tmp_path)))
    assert [s.task for s in cfg.data.sources] == ["denoise", "derain", "lowlight"]
    assert len(list((tmp_path / "demo_data" / "clean_train").glob("*.png"))) == 12
    assert len(list((tmp_path / "demo_data" / "clean_test").glob("*.png"))) == 3


@pytest.mark.parametrize("argv, fragment", [
    (["run", "x", "--degrade", "noise", "--set", "select.budgit=1"], "unknown config key select.budgit"),
    (["run", "x"], "no --lq folder and no --degrade spec"),
    (["run", "x", "--degrade", "noise", "--set", "oops"], "expected KEY=VALUE"),
])
def test_errors_are_one_line(argv, fragment, capsys, tmp_path):
    assert main(argv + ["--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("tripled-fast: error:") and fragment in err and "\n" not in err


def test_bad_config_file_named(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("train: {stepz: 3}\n")
    assert main(["run", "--config", str(p)]) == 2
    err = capsys.readouterr().err
    assert "c.yaml: unknown config key train.stepz" in err


def test_check_reports_broken_pairs(tmp_path, capsys):
    gt, lq = tmp_path / "gt", tmp_path / "lq"
    gt.mkdir(), lq.mkdir()
    rng = np.random.default_rng(0)
    for name in ["a", "b", "c"]:
        Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(gt / f"{name}.png")
    Image.fromarray(rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)).save(lq / "a.png")
    Image.fromarray(rng.integers(0, 255, (70, 80, 3), dtype=np.uint8)).save(lq / "b.png")  # size mismatch
    # c has no partner
    code = main(["check", str(gt), "--lq", str(lq)])
    out = capsys.readouterr().out
    assert code == 1
    errors = [l for l in out.splitlines() if l.startswith("ERROR")]
    assert any("c.png" in l for l in errors) and any("b.png" in l for l in errors)
    assert not any("a.png" in l for l in errors)


def test_kd_rejects_unknown_keys(capsys):
    assert main(["kd", "--set", "w_drll=0.1"]) == 2
    assert "unknown config key w_drll" in capsys.readouterr().err


def test_bench_quality_has_its_own_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench-quality", "--help"])
    assert exc.value.code == 0
    assert "tripled-fast bench-quality" in capsys.readouterr().out


def test_iqa_prints_piqe_of_each_image(tmp_path, capsys):
    import skimage.data

    from tripled_fast.metrics.piqe import piqe_score

    img = skimage.data.camera()
    Image.fromarray(img).save(tmp_path / "camera.png")
    assert main(["iqa", str(tmp_path), "--metrics", "piqe"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    header, row = lines[0].split("\t"), lines[1].split("\t")
    assert row[0] == "camera.png"
    value = float(row[header.index("piqe")])
    assert abs(value - piqe_score(img)[0]) < 1e-3
