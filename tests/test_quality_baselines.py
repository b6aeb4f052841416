"""The k-means / k-center reference subsets of the quality harness on task-tagged pools."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tripled_fast.quality.harness import (PoolScan, baseline_rows, build_parser, config_from_args,
                                          run_key)
from tripled_fast.select.baselines import kcenter_subset


def _scan(features: np.ndarray, task: np.ndarray) -> PoolScan:
    n = features.shape[0]
    return PoolScan(features=features.astype(np.float32), task=task, complexity=np.zeros(n),
                    pack=Path("unused"), color="rgb", scale=1, run_dir=Path("unused"))


def _all_in_one(n_contents: int = 40, tasks=("denoise", "derain", "lowlight"), seed: int = 0) -> PoolScan:
    """One clean set degraded several ways: every task holds the same GT features, tasks in order."""
    f = np.random.default_rng(seed).normal(size=(n_contents, 8))
    return _scan(np.tile(f, (len(tasks), 1)), np.repeat(np.array(tasks), n_contents))


@pytest.mark.parametrize("method", ["kmeans", "kcenter"])
def test_task_split_gives_every_task_its_share(method) -> None:
    scan = _all_in_one()
    pool = baseline_rows(method, scan, 12, seed=0, split="pool")
    tasks = baseline_rows(method, scan, 12, seed=0, split="tasks")
    # task-blind: identical features tie, and ties go to the lowest index = the first task
    assert set(scan.task[pool]) == {"denoise"}
    # per task: 4 + 4 + 4, each the baseline run on that task's rows alone
    assert tasks.size == 12 and np.unique(tasks).size == 12
    assert {t: int((scan.task[tasks] == t).sum()) for t in ("denoise", "derain", "lowlight")} == \
        {"denoise": 4, "derain": 4, "lowlight": 4}
    if method == "kcenter":
        own = kcenter_subset(scan.features[40:80], 4, seed=0)
        np.testing.assert_array_equal(np.sort(tasks[(tasks >= 40) & (tasks < 80)]), 40 + own)


def test_task_split_quotas_follow_task_sizes() -> None:
    rng = np.random.default_rng(1)
    scan = _scan(rng.normal(size=(100, 6)), np.array(["a"] * 70 + ["b"] * 30))
    rows = baseline_rows("kcenter", scan, 10, seed=0, split="tasks")
    assert int((rows < 70).sum()) == 7 and int((rows >= 70).sum()) == 3


@pytest.mark.parametrize("method", ["random", "kmeans", "kcenter"])
def test_one_task_pool_is_unchanged_by_the_split(method) -> None:
    rng = np.random.default_rng(2)
    scan = _scan(rng.normal(size=(200, 6)), np.array(["denoise"] * 200))
    np.testing.assert_array_equal(baseline_rows(method, scan, 9, seed=3, split="tasks"),
                                  baseline_rows(method, scan, 9, seed=3, split="pool"))


def test_bad_split_is_a_clear_error() -> None:
    scan = _all_in_one()
    with pytest.raises(ValueError, match=r"baseline_split: expected one of \['tasks', 'pool'\], got 'task'"):
        baseline_rows("kcenter", scan, 4, seed=0, split="task")


def test_split_enters_only_the_multi_task_coverage_baselines_run_keys(tmp_path) -> None:
    (tmp_path / "pool").mkdir()
    one = [str(tmp_path / "pool"), "--degrade", "noise:sigma=25", "--holdout", "0.5"]
    many = one + ["--degrade", "rain"]
    for args, changes in ((one, ()), (many, ("kmeans", "kcenter"))):
        a = config_from_args(build_parser().parse_args(args))
        b = config_from_args(build_parser().parse_args(args + ["--set", "baseline_split=pool"]))
        assert b.baseline_split == "pool"
        for m in ("full", "random", "kmeans", "kcenter", "tripled"):
            same = run_key(a, m, 0.01, 0) == run_key(b, m, 0.01, 0)
            assert same is (m not in changes), (m, len(a.pool))


def test_adopt_keeps_coverage_baselines_of_the_same_split_only(tmp_path) -> None:
    import json

    import yaml

    from tripled_fast.quality.harness import adopt_baseline_runs

    (tmp_path / "pool").mkdir()
    args = [str(tmp_path / "pool"), "--degrade", "noise:sigma=25", "--degrade", "rain", "--holdout", "0.5"]
    old = config_from_args(build_parser().parse_args(args)).to_dict()
    del old["baseline_split"]  # a folder written before the option: its baselines ran over the whole pool
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    recs = [{"method": m, "budget": 0.01, "seed": 0, "count": 3, "tests": {}} for m in ("random", "kmeans", "kcenter")]
    (tmp_path / "old" / "runs.json").write_text(json.dumps(recs))
    logs: list[str] = []
    per_task = config_from_args(build_parser().parse_args(args + ["--out", str(tmp_path / "a")]))
    assert adopt_baseline_runs(per_task, tmp_path / "old", log=logs.append) == 1  # random only
    assert "skipped 2 made with another baseline_split" in logs[-1]
    blind = config_from_args(build_parser().parse_args(
        args + ["--out", str(tmp_path / "b"), "--set", "baseline_split=pool"]))
    assert adopt_baseline_runs(blind, tmp_path / "old", log=logs.append) == 3
    assert sorted(p.name.split("_")[0] for p in (tmp_path / "b" / "runs").iterdir()) == ["kcenter", "kmeans", "random"]


def test_the_config_rejects_an_unknown_split() -> None:
    from tripled_fast.config import ConfigError
    from tripled_fast.quality.harness import BASELINE_SPLITS, QualityConfig

    assert BASELINE_SPLITS == ("tasks", "pool")
    assert QualityConfig.from_dict({"baseline_split": "pool"}).baseline_split == "pool"
    with pytest.raises(ConfigError, match=r"baseline_split: expected one of \['tasks', 'pool'\], got 'task'"):
        QualityConfig.from_dict({"baseline_split": "task"})
