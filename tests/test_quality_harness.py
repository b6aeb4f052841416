"""The quality harness end to end on a tiny synthetic pool: full + 2 methods x 2 budgets x 1 seed.

The end-to-end test loads the packaged EfficientNet-Lite0 and fits the scan (about 60 s on the
shared 2-core box), so it is marked slow; the aggregation logic has fast tests in
``test_quality_report.py``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tripled_fast.quality.harness import build_parser, config_from_args, run_quality


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    for name, folder, count in (("pool", root / "pool", 4), ("test", root / "test", 1)):
        folder.mkdir()
        for i in range(count):
            img = 128 + 60 * np.sin(xx / (3.0 + i)) * np.cos(yy / (5.0 + 2 * i)) + rng.normal(0, 5, (48, 48))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{name}{i}.png")
    return root


@pytest.mark.slow
def test_harness_end_to_end(folders, tmp_path) -> None:
    out = tmp_path / "q"
    argv = [str(folders / "pool"), "--degrade", "noise:sigma=25", "--test", str(folders / "test"),
            "--budgets", "0.1,0.25", "--seeds", "0", "--methods", "full,random,tripled-noalign",
            "--steps", "4", "--batch", "4", "--patch", "16", "--stride", "16", "--out", str(out),
            "--set", "features.input_size=32", "--set", "select.clusters=2", "--set", "scores.head_epochs=1",
            "--set", "features.backend=eager"]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert cfg.train.arch_kwargs == {"depth": 5, "width": 16, "bn": False}  # the small default survives --steps
    assert cfg.tests[0].name == "test" and cfg.tests[0].sources[0].degrade == "noise:sigma=25"
    res = run_quality(cfg, log=lambda s: None)
    runs = json.loads((out / "runs.json").read_text())
    # 4 images x 3 x 3 patches of 16 px = 36; budgets round half up: 3.6 -> 4, 9.0 -> 9
    assert [(r["method"], r["budget"], r["count"]) for r in runs] == [
        ("full", 1.0, 36), ("random", 0.1, 4), ("tripled-noalign", 0.1, 4),
        ("random", 0.25, 9), ("tripled-noalign", 0.25, 9)]
    for r in runs:
        assert set(r["tests"]) == {"test"}
        assert 5.0 < r["tests"]["test"]["psnr"] < 40.0 and 0.0 < r["tests"]["test"]["ssim"] <= 1.0
    cells = res["summary"]["cells"]["test"]
    full = runs[0]["tests"]["test"]["psnr"]
    assert cells["random"][0.25]["diff_full"] == pytest.approx(runs[3]["tests"]["test"]["psnr"] - full)
    assert cells["random"][0.1]["n"] == 1 and cells["random"][0.1]["psnr_std"] == 0.0
    # equal-quality budget in the summary follows the definition on the measured numbers
    expect = [b for b in (0.1, 0.25) if cells["random"][b]["psnr"] >= full - 0.1]
    assert res["targets"]["tripled-noalign"]["test"]["eq_baseline"] == (min(expect) if expect else None)
    assert (out / "table.md").read_text().startswith("**test**")
    # the paired difference to random (one seed: no interval) is in the table and in summary.json
    pr = res["paired"]["tripled-noalign"]["test"][0.25]
    assert pr["n"] == 1 and pr["ci"] is None
    assert pr["mean"] == pytest.approx(runs[4]["tests"]["test"]["psnr"] - runs[3]["tests"]["test"]["psnr"])
    assert "**tripled-noalign - random, paired by seed**" in (out / "table.md").read_text()
    saved = json.loads((out / "summary.json").read_text())["paired_vs_random"]["tripled-noalign"]["test"]["0.25"]
    assert saved["mean"] == pytest.approx(pr["mean"])
    assert (out / "psnr_vs_budget.png").stat().st_size > 1000
    # a rerun trains nothing: every run comes from its cached record, identical numbers
    again = run_quality(cfg, report_only=True, log=lambda s: None)
    assert again["runs"] == runs
    # the cached scan knows each patch's source photo (its GT file), for select.image_cap
    from tripled_fast.data.sources import collect_pairs
    from tripled_fast.quality.harness import scan_pool
    scan = scan_pool(cfg, collect_pairs(cfg.pool), "cpu", log=lambda s: None)
    assert scan.image is not None and len(scan.image) == 36
    assert sorted(Path(p).name for p in set(scan.image)) == [f"pool{i}.png" for i in range(4)]
    # the report folder can move: the cached scan names its pool pack relative to the folder, and a
    # missing pack is rebuilt from the cached stages (one more seed trains only the new runs)
    moved = tmp_path / "moved"
    out.rename(moved)
    for f in (moved / "cache" / "pack").glob("pool_*"):
        f.unlink()
    argv2 = [{"0": "0,1", str(out): str(moved)}.get(a, a) for a in argv]
    cfg2 = config_from_args(build_parser().parse_args(argv2))
    logs: list[str] = []
    res2 = run_quality(cfg2, log=logs.append)
    assert any("pool pack missing, rebuilding" in s for s in logs)
    assert res2["runs"][:5] == runs and len(res2["runs"]) == 10
    # align.lq=resynth: the aligned pack's LQ is each patch's --degrade spec applied to its aligned GT
    from tripled_fast.align.resynth import resynthesise_lq
    from tripled_fast.train.packed import PackedPairs
    argv3 = argv2 + ["--methods", "tripled-nocurr", "--budgets", "0.25", "--seeds", "0",
                     "--set", "align.lq=resynth", "--set", "align.steps=3", "--set", "align.batch_size=4"]
    rec = run_quality(config_from_args(build_parser().parse_args(argv3)), log=lambda s: None)["runs"][0]
    from tripled_fast.quality.harness import run_key
    assert rec["method"] == "tripled-nocurr" and rec["count"] == 9 and rec["fd_after"] != rec["fd_before"]
    cfg3 = config_from_args(build_parser().parse_args(argv3))
    aligned = PackedPairs(moved / "cache" / "aligned" / f"tripled-nocurr_b0.25_s0_{run_key(cfg3, 'tripled-nocurr', 0.25, 0)}")
    gt, ids = np.asarray(aligned.gt), [int(i) for i in aligned.ids]
    np.testing.assert_array_equal(np.asarray(aligned.lq),
                                  resynthesise_lq(gt, ["noise:sigma=25.0,gray=false"] * 9, ids, seed=0))


def test_rejects_unknown_method(folders, tmp_path) -> None:
    argv = [str(folders / "pool"), "--degrade", "noise:sigma=25", "--test", str(folders / "test"),
            "--methods", "random,magic", "--out", str(tmp_path / "x")]
    with pytest.raises(ValueError, match="magic"):
        run_quality(config_from_args(build_parser().parse_args(argv)), log=lambda s: None)


def test_max_test_images_limits_every_degradation(folders, tmp_path) -> None:
    """With several --degrade specs the cap applies per degraded copy: the first N images of the
    concatenated list would all carry the first degradation."""
    from tripled_fast.data.sources import collect_pairs

    test = tmp_path / "t"
    test.mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16), 40 * i, np.uint8)).save(test / f"t{i}.png")
    argv = [str(folders / "pool"), "--degrade", "noise:sigma=25", "--degrade", "blur:sigma=1.5",
            "--test", str(test), "--max-test-images", "2", "--out", str(tmp_path / "x")]
    cfg = config_from_args(build_parser().parse_args(argv))
    assert [s.max_images for s in cfg.tests[0].sources] == [2, 2]
    assert cfg.eval.max_images is None and all(s.max_images is None for s in cfg.pool)
    pairs = collect_pairs(cfg.tests[0].sources)
    assert sorted(p.task for p in pairs) == ["deblur", "deblur", "denoise", "denoise"]


def test_run_key_ignores_tripled_only_sections_for_baselines(folders) -> None:
    from tripled_fast.quality.harness import run_key

    base = [str(folders / "pool"), "--degrade", "noise:sigma=25", "--test", str(folders / "test")]
    cfg = config_from_args(build_parser().parse_args(base))
    tuned = config_from_args(build_parser().parse_args(
        base + ["--set", "select.complexity_weight=0", "--set", "align.steps=7"]))
    more = config_from_args(build_parser().parse_args(base + ["--seeds", "0,1,2", "--budgets", "0.5"]))
    longer = config_from_args(build_parser().parse_args(base + ["--steps", "123"]))
    for m in ("full", "random", "kmeans", "kcenter"):
        assert run_key(cfg, m, 0.01, 0) == run_key(tuned, m, 0.01, 0) == run_key(more, m, 0.01, 0)
        assert run_key(cfg, m, 0.01, 0) != run_key(longer, m, 0.01, 0)
    for m in ("tripled", "tripled-select", "tripled-noalign", "tripled-nocurr"):
        assert run_key(cfg, m, 0.01, 0) != run_key(tuned, m, 0.01, 0)
        assert run_key(cfg, m, 0.01, 0) == run_key(more, m, 0.01, 0)
    keys = {run_key(cfg, m, b, s) for m in ("random", "tripled") for b in (0.01, 0.02) for s in (0, 1)}
    assert len(keys) == 8


def test_adopt_baseline_runs_rekeys_only_compatible_baselines(folders, tmp_path) -> None:
    import yaml

    from tripled_fast.quality.harness import adopt_baseline_runs, run_key

    base = [str(folders / "pool"), "--degrade", "noise:sigma=25", "--test", str(folders / "test")]
    old = config_from_args(build_parser().parse_args(base + ["--out", str(tmp_path / "old")]))
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.yaml").write_text(yaml.safe_dump(old.to_dict(), sort_keys=False))
    recs = [{"method": m, "budget": b, "seed": 0, "count": 3, "tests": {"test": {"psnr": p, "ssim": 0.5}}}
            for m, b, p in (("full", 1.0, 30.0), ("random", 0.01, 29.0), ("tripled", 0.01, 28.0))]
    (tmp_path / "old" / "runs.json").write_text(json.dumps(recs))
    new = config_from_args(build_parser().parse_args(
        base + ["--out", str(tmp_path / "new"), "--set", "select.complexity_weight=0.9"]))
    assert adopt_baseline_runs(new, tmp_path / "old", log=lambda s: None) == 2
    files = sorted(p.name for p in (tmp_path / "new" / "runs").iterdir())
    assert files == sorted([f"full_b1_s0_{run_key(new, 'full', 1.0, 0)}.json",
                            f"random_b0.01_s0_{run_key(new, 'random', 0.01, 0)}.json"])
    rec = json.loads((tmp_path / "new" / "runs" / files[1]).read_text())
    assert rec["tests"]["test"]["psnr"] == 29.0 and rec["adopted_from"] == str(tmp_path / "old")
    assert adopt_baseline_runs(new, tmp_path / "old", log=lambda s: None) == 0  # already there
    # with pool_jitter > 0 random and full data are the same runs; a k-center record is not
    kc = {"method": "kcenter", "budget": 0.01, "seed": 0, "count": 3, "tests": {"test": {"psnr": 28.5, "ssim": 0.5}}}
    (tmp_path / "old" / "runs.json").write_text(json.dumps(recs + [kc]))
    jit = config_from_args(build_parser().parse_args(
        base + ["--out", str(tmp_path / "jit"), "--set", "pool_jitter=0.2"]))
    said: list[str] = []
    assert adopt_baseline_runs(jit, tmp_path / "old", log=said.append) == 2
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "jit" / "runs").iterdir()) == ["full", "random"]
    assert said == [f"quality: adopted 2 baseline runs from {tmp_path / 'old'} "
                    "(skipped 1 made with another baseline_split or pool_jitter)"]
    # a baseline trained differently is refused, naming the file and the differing section
    longer = config_from_args(build_parser().parse_args(base + ["--out", str(tmp_path / "x"), "--steps", "9"]))
    with pytest.raises(ValueError, match=r"old/config.yaml: .*train"):
        adopt_baseline_runs(longer, tmp_path / "old", log=lambda s: None)
    with pytest.raises(ValueError, match="report folder"):
        adopt_baseline_runs(new, tmp_path / "missing", log=lambda s: None)


def test_per_source_means_split_an_all_in_one_test_set() -> None:
    from tripled_fast.quality.harness import per_source_means

    rows = [{"name": "denoise/a", "psnr": 30.0, "ssim": 0.8}, {"name": "denoise/b", "psnr": 32.0, "ssim": 0.9},
            {"name": "deblur/a", "psnr": 25.0, "ssim": 0.7}]
    got = per_source_means(rows)
    assert got == {"denoise": {"psnr": 31.0, "ssim": pytest.approx(0.85)}, "deblur": {"psnr": 25.0, "ssim": 0.7}}
    # one source (a plain test folder): nothing beside the overall mean
    assert per_source_means(rows[:2]) == {} and per_source_means([]) == {}


def test_the_cap_scope_keys_only_multi_source_pools_with_the_cap_on() -> None:
    """``select.image_cap_scope`` came after the (b) cap records, which ran one share per photo
    across tasks (``pool``): read so, they keep their keys; ``task`` (the default) is a new key for
    TripleD on a multi-source pool, and no key at all where both scopes select alike."""
    import yaml

    from tripled_fast.quality.harness import QualityConfig, read_report_config, run_key

    folder = Path(__file__).resolve().parents[1] / "bench/quality_results/validation/allinone_naf_cap"
    raw = yaml.safe_load((folder / "config.yaml").read_text())
    assert raw["select"]["image_cap"] is True and "image_cap_scope" not in raw["select"]
    pool = read_report_config(folder)  # written before the scope existed: read as it ran
    assert pool.select.image_cap_scope == "pool"
    names = sorted(p.name for p in (folder / "runs").glob("*.json"))
    assert len(names) == 8
    for name in names:
        method, budget, seed, key = name[:-5].split("_")
        assert run_key(pool, method, float(budget[1:]), int(seed[1:])) == key, name
    task = QualityConfig.from_dict(raw)
    assert len(task.pool) == 6 and task.select.image_cap_scope == "task"
    assert run_key(task, "tripled", 0.005, 0) != run_key(pool, "tripled", 0.005, 0)
    assert run_key(task, "random", 0.005, 0) == run_key(pool, "random", 0.005, 0)
    # without the cap the scope changes nothing
    off = {**raw["select"], "image_cap": False}
    assert (run_key(QualityConfig.from_dict({**raw, "select": {**off, "image_cap_scope": "pool"}}), "tripled", 0.005, 0)
            == run_key(QualityConfig.from_dict({**raw, "select": off}), "tripled", 0.005, 0))
    # a one-source pool has one task: both scopes are one key (the (a), (c), (d) test grids)
    one = QualityConfig.from_dict({**raw, "pool": raw["pool"][:1]})
    one_pool = QualityConfig.from_dict({**raw, "pool": raw["pool"][:1],
                                        "select": {**raw["select"], "image_cap_scope": "pool"}})
    assert run_key(one, "tripled", 0.005, 0) == run_key(one_pool, "tripled", 0.005, 0)


def test_records_made_before_coverage_trim_and_image_cap_keep_their_run_keys() -> None:
    """A committed validation folder's record names embed run keys made before the options existed."""
    import yaml

    from tripled_fast.quality.harness import QualityConfig, read_report_config, run_key

    folder = Path(__file__).resolve().parents[1] / "bench/quality_results/validation/sr4_v025_cw01"
    raw = yaml.safe_load((folder / "config.yaml").read_text())
    assert "image_cap" not in raw["select"] and "coverage_trim" not in raw["select"]
    # written before both keys existed: read as it ran, without them (image_cap is on by default now)
    cfg = read_report_config(folder)
    assert cfg.select.coverage_trim == 0.0 and QualityConfig.from_dict(raw).select.image_cap is True
    raw["select"]["image_cap"] = False
    raw["select"]["pool_share"] = 1.0
    names = sorted(p.name for p in (folder / "runs").glob("*.json"))
    assert len(names) == 16
    for name in names:
        method, budget, seed, key = name[:-5].split("_")
        assert run_key(cfg, method, float(budget[1:]), int(seed[1:])) == key, name
    trimmed = QualityConfig.from_dict({**raw, "select": {**raw["select"], "coverage_trim": 0.2}})
    assert run_key(trimmed, "tripled", 0.0025, 0) != run_key(cfg, "tripled", 0.0025, 0)
    assert run_key(trimmed, "random", 0.0025, 0) == run_key(cfg, "random", 0.0025, 0)
    # select.coverage came later: k-center (what ran) adds no key, herding is a new TripleD key
    assert "coverage" not in raw["select"] and cfg.select.coverage == "kcenter"
    herded = QualityConfig.from_dict({**raw, "select": {**raw["select"], "coverage": "herding"}})
    assert run_key(herded, "tripled", 0.0025, 0) != run_key(cfg, "tripled", 0.0025, 0)
    assert run_key(herded, "random", 0.0025, 0) == run_key(cfg, "random", 0.0025, 0)
    # image_cap became the default after those records (read as off above, as they ran): turning it
    # on is a new key for the TripleD runs and the same key for the baselines
    assert cfg.select.image_cap is False and QualityConfig().select.image_cap is True
    capped = QualityConfig.from_dict({**raw, "select": {**raw["select"], "image_cap": True}})
    assert run_key(capped, "tripled", 0.0025, 0) != run_key(cfg, "tripled", 0.0025, 0)
    assert run_key(capped, "kcenter", 0.0025, 0) == run_key(cfg, "kcenter", 0.0025, 0)
    # pool_share 0.8 became the default later still (read as 1.0, the whole pool, as they ran):
    # a new key for the TripleD runs, the same key for the baselines
    assert cfg.select.pool_share == 1.0 and QualityConfig().select.pool_share == 0.8
    shared = QualityConfig.from_dict({**raw, "select": {**raw["select"], "pool_share": 0.8}})
    assert run_key(shared, "tripled", 0.0025, 0) != run_key(cfg, "tripled", 0.0025, 0)
    assert run_key(shared, "kcenter", 0.0025, 0) == run_key(cfg, "kcenter", 0.0025, 0)
    # align.lq came later still: "transform" (what ran) adds no key, re-synthesis is a new TripleD key
    assert "lq" not in raw["align"] and cfg.align.lq == "transform"
    resynth = QualityConfig.from_dict({**raw, "align": {**raw["align"], "lq": "resynth"}})
    assert run_key(resynth, "tripled-nocurr", 0.0025, 0) != run_key(cfg, "tripled-nocurr", 0.0025, 0)
    assert run_key(resynth, "random", 0.0025, 0) == run_key(cfg, "random", 0.0025, 0)
    # pool_jitter came later: 0 (what ran) adds no key; > 0 is a new key for the selections that
    # read it (TripleD, k-means, k-center) and the same key for random and full data
    assert "pool_jitter" not in raw and cfg.pool_jitter == 0.0
    jit = QualityConfig.from_dict({**raw, "pool_jitter": 0.2})
    for m, same in (("tripled", False), ("kcenter", False), ("kmeans", False), ("random", True), ("full", True)):
        assert (run_key(jit, m, 0.0025, 0) == run_key(cfg, m, 0.0025, 0)) is same, m
    # today's default is auto: a new key where the variant aligns, none where it does not (the
    # default tripled runs without alignment, so its committed records keep their keys)
    auto = QualityConfig.from_dict({**raw, "align": {k: v for k, v in raw["align"].items() if k != "lq"}})
    assert auto.align.lq == "auto" and auto.align.enabled is False
    for m, same in (("tripled", True), ("tripled-select", True), ("tripled-noalign", True), ("tripled-nocurr", False)):
        assert (run_key(auto, m, 0.0025, 0) == run_key(cfg, m, 0.0025, 0)) is same, m


def test_strata_enters_the_run_key_only_with_strata_quotas() -> None:
    """``select.strata`` came after every committed record: it is part of a TripleD run's key only
    under ``quotas=strata``, and never part of a baseline's."""
    from tripled_fast.quality.harness import QualityConfig, run_key

    def key(method: str, **select) -> str:
        return run_key(QualityConfig.from_dict({"select": select}), method, 0.01, 0)

    assert key("tripled") == key("tripled", strata=8) == key("tripled", quotas="tasks", strata=2)
    strata = {key("tripled", quotas="strata", strata=k) for k in (2, 4, 8)}
    assert len(strata) == 3 and key("tripled") not in strata
    assert key("random") == key("random", quotas="strata", strata=8)
