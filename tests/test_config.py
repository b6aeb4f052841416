import pytest
from hypothesis import given, strategies as st

from tripled_fast.config import ConfigError, RunConfig, SelectConfig, SourceConfig, load_config


def test_defaults_roundtrip():
    cfg = RunConfig()
    again = RunConfig.from_dict(cfg.to_dict())
    assert again == cfg


def test_nested_values_are_typed():
    cfg = RunConfig.from_dict({"select": {"budget": 0.01, "clusters": 8},
                               "data": {"sources": [{"kind": "paired", "gt": "a", "lq": "b", "scale": 4}]}})
    assert cfg.select.budget == 0.01 and cfg.select.clusters == 8
    assert isinstance(cfg.data.sources[0], SourceConfig)
    assert cfg.data.sources[0].scale == 4


@pytest.mark.parametrize("data, fragment", [
    ({"selct": {}}, "unknown config key selct"),
    ({"select": {"budgett": 1}}, "unknown config key select.budgett"),
    ({"data": {"sources": [{"gt": "a", "lqq": "b"}]}}, "data.sources[0].lqq"),
    ({"select": {"budget": "two"}}, "select.budget: expected a number"),
    ({"train": {"steps": 1.5}}, "train.steps: expected an integer"),
    ({"align": {"enabled": "yes"}}, "align.enabled: expected true/false"),
    ({"data": {"sources": {"gt": "a"}}}, "data.sources: expected a list"),
])
def test_rejects_bad_keys_and_types(data, fragment):
    with pytest.raises(ConfigError) as exc:
        RunConfig.from_dict(data)
    assert fragment in str(exc.value)
    assert "\n" not in str(exc.value)


def test_load_config_names_the_file(tmp_path):
    p = tmp_path / "run.yaml"
    p.write_text("select:\n  budgit: 0.1\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: unknown config key select\.budgit"):
        load_config(p)
    p.write_text("select: [1, 2\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: not valid YAML"):
        load_config(p)
    p.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(p)


@given(st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), max_size=4))
def test_unknown_keys_never_pass_silently(d):
    known = {"budget", "clusters", "complexity_weight", "dedup_threshold", "stage1_fraction",
             "stage2_pool", "per_task", "kmeans_iters", "quotas", "cross_task"}
    if set(d) - known:
        with pytest.raises(ConfigError):
            SelectConfig.from_dict(d)
