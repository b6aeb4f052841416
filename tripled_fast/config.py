"""Typed configuration: one dataclass per stage, composed into :class:`RunConfig`.

Every config is built with ``from_dict`` which rejects unknown keys (naming the full dotted
path of the offending key) and checks value types, so a typo in a YAML file is an error rather
than a silently ignored setting.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names the dotted key path."""


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check / convert ``value`` to the annotated type ``tp``; raise ConfigError naming ``where``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: expected one of {list(args)}, got {value!r}")
        return value
    if origin in (list, tuple):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        inner = args[0] if args else Any
        items = [_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return tp.from_dict(value, where)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, (str, Path)):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


class StrictConfig:
    """Mixin for config dataclasses: strict ``from_dict`` and plain ``to_dict``."""

    @classmethod
    def from_dict(cls, data: dict | None, where: str = "") -> "StrictConfig":
        data = dict(data or {})
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names, key=str)
        if unknown:
            prefix = f"{where}." if where else ""
            key = str(unknown[0])
            shown = key if key and key.isprintable() and key.strip() == key else repr(key)  # one line
            raise ConfigError(f"unknown config key {prefix}{shown} (allowed: {', '.join(sorted(names))})")
        kwargs = {}
        for name, value in data.items():
            key = f"{where}.{name}" if where else name
            kwargs[name] = _coerce(value, hints[name], key)
        try:
            obj = cls(**kwargs)
        except TypeError as exc:  # a required field is missing
            raise ConfigError(f"{where or cls.__name__}: {exc}") from None
        return obj

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- data
@dataclass
class SourceConfig(StrictConfig):
    """One paired source.

    kind:
      * ``paired``    BasicSR ``dataroot_gt`` / ``dataroot_lq`` matched by file name through
                      ``filename_tmpl`` (LQ name = tmpl.format(GT stem) + GT extension).
      * ``kair``      KAIR-style ``H`` / ``L`` folders matched in sorted order.
      * ``meta_info`` a BasicSR meta_info file listing GT names (first token per line) under ``gt``
                      with partners under ``lq`` (same name, or through ``filename_tmpl``).
      * ``degrade``   a folder of clean images; LQ synthesised by ``degrade`` (seeded).
    """

    kind: Literal["paired", "kair", "meta_info", "degrade"] = "degrade"
    gt: str = ""
    lq: Optional[str] = None
    meta_info: Optional[str] = None
    filename_tmpl: str = "{}"
    scale: int = 1
    task: str = ""
    degrade: str = ""          # e.g. "blur:sigma=1.5+noise:sigma=15+jpeg:quality=40", "bicubic:scale=4"
    name: str = ""             # unique source name; defaults to the task tag or folder name
    max_images: Optional[int] = None


@dataclass
class DataConfig(StrictConfig):
    sources: list[SourceConfig] = field(default_factory=list)
    test: list[SourceConfig] = field(default_factory=list)
    holdout: float = 0.1       # fraction of pool images held out for evaluation when no test set is given
    decoder: Literal["auto", "pil", "dali"] = "auto"
    color: Literal["auto", "gray", "rgb"] = "auto"  # channel count the model sees
    # a pair with an unusable file (undecodable, empty, truncated, size mismatch, missing partner,
    # duplicated name, bad meta_info line): "skip" drops it, logs one line and counts it in the
    # report; "error" stops the run on the first one. Source-level problems always stop the run.
    on_bad_file: Literal["error", "skip"] = "skip"
    max_bad_fraction: float = 0.5  # "skip" still stops the run when more than this share of pairs is bad


@dataclass
class TileConfig(StrictConfig):
    patch: int = 64            # GT patch side (LQ side = patch // scale)
    stride: Optional[int] = None  # default patch // 2
    min_image: Optional[int] = None


# --------------------------------------------------------------------------- stages
@dataclass
class FeatureConfig(StrictConfig):
    backbone: str = "vit_small_patch16_224"
    weights: Optional[str] = None        # local file (safetensors / weights-only torch file)
    fallback: str = "efficientnet_lite0"  # offline ImageNet backbone used when no ViT weights exist
    allow_random: bool = False           # random weights only when asked for explicitly
    input_size: Optional[int] = None     # backbone input side; None = the backbone's default
    batch_size: int = 64
    on: Literal["gt", "lq"] = "gt"       # which side of the pair is embedded
    backend: str = "auto"                # auto | eager | compile | onnxruntime | tensorrt


@dataclass
class ScoreConfig(StrictConfig):
    stats_backend: Literal["auto", "torch", "cpp", "triton"] = "auto"
    interp_scale: int = 2                # interpolation-error down/up factor
    w_entropy: float = 1.0
    w_gradient: float = 1.0
    w_laplacian: float = 0.5
    w_interp: float = 1.0
    head_weight: float = 0.5             # blend of feature-head prediction into complexity
    head_epochs: int = 30
    uncertainty: Literal["centroid", "knn"] = "centroid"


@dataclass
class SelectConfig(StrictConfig):
    budget: float = 0.02                 # < 1: fraction of patches; >= 1: a patch count
    clusters: Optional[int] = None       # None = auto (about sqrt(budget count), within [2, 256])
    quotas: str = "tasks"                # tasks: coverage over each task's whole pool (validation, bench/QUALITY.md);
                                         # clusters: quotas by cluster mass, coverage within each cluster
                                         # strata: quotas by complexity quantile (see strata), coverage within each
    strata: int = 4                      # complexity quantiles per task with quotas=strata (ignored otherwise)
    complexity_weight: float = 0.1       # 0 = pure coverage, 1 = pure complexity ranking (0.1: validation,
                                         # bench/QUALITY.md; 0.3 fell 0.13 dB below random at 0.25 % on x4 SR)
    coverage: Literal["kcenter", "herding"] = "kcenter"  # the non-complexity picks of a group: kcenter =
                                         # greedy k-center (support coverage), herding = kernel herding (the
                                         # group's feature density, select/herding.py; validated, not
                                         # adopted: bench/QUALITY.md)
    coverage_trim: float = 0.0           # fraction of each group's most isolated patches (largest 10-NN
                                         # radius) never picked by coverage; 0 = plain k-center
    image_cap: bool = True               # no source photo (GT file) gives more than its share, rounded up
                                         # (validation and test grids: bench/QUALITY.md)
    image_cap_scope: Literal["task", "pool"] = "task"  # task: share of each task's quota, ceil(quota x its
                                         # patches in the task / task size); pool: share of the whole budget across
                                         # tasks (the first tasks can use up a photo's room; the last task starves)
    dedup_threshold: float = 0.995       # cosine similarity above which two patches are duplicates
    stage1_fraction: float = 1.0         # share of the budget given to stage 1 (easy representatives);
                                         # 1.0 = no stage 2 (bench/QUALITY.md: the curriculum cost 0.1-0.2 dB on validation)
    stage2_pool: float = 2.0             # stage-2 candidates = pool x stage-2 quota (re-ranked by loss)
    per_task: bool = True                # split the budget across task tags first
    cross_task: bool = True              # coverage / duplicate tests of a task also see the other tasks'
                                         # picks (one clean set degraded several ways: distinct content per task)
    kmeans_iters: int = 20
    pool_share: float = 0.8              # < 1: choose from a seeded uniform random share of the pool's patches
                                         # (at least the budget); the seed then changes the subset, as it does a
                                         # random subset's (select/share.py); 0.8 since 2026-12-07, adopted on
                                         # validation (bench/QUALITY.md); 1.0 = the whole pool, as before


@dataclass
class AlignConfig(StrictConfig):
    enabled: bool = False                # off by default: on validation it cost 0.15 dB with lq=transform,
                                         # 0.01-0.06 with lq=resynth (not above selection alone); QUALITY.md
    steps: int = 150
    lr: float = 1e-3
    batch_size: int = 32
    width: int = 16
    depth: int = 3
    kl_weight: float = 1.0
    pixel_weight: float = 10.0
    input_size: Optional[int] = None     # features computed at this side inside the loop
    pca_dims: int = 64                   # KL / Frechet subspace: top PCA axes of the full set (capped at n_subset - 1)
    on: str = "gt"                       # gt | lq : side embedded by the loss (must match features.on)
    lq: Literal["transform", "resynth", "auto"] = "auto"  # LQ of an aligned pair: the aligner applied to
                                         # it, the pair's --degrade spec re-applied to the aligned GT, or
                                         # (auto) resynth where a spec exists, else transform; auto since
                                         # 2026-12-06: transform cost 0.15-0.31 dB on validation, resynth
                                         # 0.01-0.06 (align/resynth.py, bench/QUALITY.md)


@dataclass
class TrainConfig(StrictConfig):
    arch: str = "dncnn"
    arch_kwargs: dict = field(default_factory=dict)
    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    min_lr: float = 1e-6
    weight_decay: float = 0.0
    ema: float = 0.999
    stage1_steps: float = 0.4            # fraction of steps for curriculum stage 1
    compile: str = "auto"                # auto | on | off
    amp: str = "auto"                    # auto (bf16 on GPU) | off
    device: str = "auto"
    baselines: list[str] = field(default_factory=lambda: ["random", "full"])
    full_max_patches: int = 200000      # the full-data baseline packs at most this many patches
    log_every: int = 50
    loss: str = "l1"                     # l1 (BasicSR default) | l2
    warmup_steps: Optional[int] = None   # linear LR warm-up; None = min(100, steps // 20)
    crop: Optional[int] = None           # GT crop side inside packed patches; None = whole patches
    augment: bool = True                 # random h/v flips and transposes (BasicSR augment)
    checkpoint_every: int = 500          # resumable training state every N steps (0 = only at the end)
    val_every: int = 0                   # validation callback every N steps (0 = only at the end)


@dataclass
class EvalConfig(StrictConfig):
    crop_border: Optional[int] = None    # None = scale for SR, 0 otherwise
    test_y_channel: bool = False
    tile: Optional[int] = None           # tiled inference side (None = whole image)
    tile_overlap: int = 16
    max_images: Optional[int] = None


@dataclass
class RunConfig(StrictConfig):
    run_dir: str = "runs/default"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    tiles: TileConfig = field(default_factory=TileConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    scores: ScoreConfig = field(default_factory=ScoreConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


@dataclass
class KDConfig(StrictConfig):
    """SLKD distillation (``tripled_fast.kd.slkd``): dual teachers, one compressed student.

    Loss = ``w_pixel`` L1(student(LQ), GT) + ``w_drl`` DRL + ``w_irl`` IRL + ``w_output``
    L1(student(LQ), teacher_a(LQ)). DRL matches BRISQUE-style NSS statistics of student vs
    Teacher A encoder features (on LQ); IRL matches PIQE-style block maps of student vs Teacher B
    decoder features (Teacher B runs on GT). ``encoder_pairs`` / ``decoder_pairs`` list
    ``[teacher_layer, student_layer]`` module names; empty = the architecture's default taps.
    """

    # teacher A and the student
    teacher_arch: str = "dncnn"
    teacher_kwargs: dict = field(default_factory=dict)
    teacher_weights: Optional[str] = None      # safetensors / weights-only torch file (KAIR DnCNN recognised)
    teacher_b_weights: Optional[str] = None    # clean autoencoder; None = train one (ae_* settings)
    in_ch: int = 1
    scale: int = 1
    width_ratio: float = 0.5
    depth_ratio: float = 0.5
    max_ratio: Optional[float] = 0.2           # student params and FLOPs <= this x teacher's
    student_kwargs: dict = field(default_factory=dict)  # explicit student options (overrides the ratios)
    # teacher-to-student layer map
    encoder_pairs: list[list[str]] = field(default_factory=list)
    decoder_pairs: list[list[str]] = field(default_factory=list)
    # losses
    w_pixel: float = 1.0
    w_drl: float = 0.1
    w_irl: float = 0.1
    w_output: float = 1.0                      # L1 to Teacher A's output (validated: +0.14 dB on held-out Train400)
    stat_loss: str = "l1"                      # l1 | l2 on the extracted statistics
    stat_norm: str = "dataset"                 # none | teacher (per batch) | dataset (fixed): divide by the teacher's spread
    stat_floor: float = 0.1                    # spread floor, x the mean spread over the statistic's dimensions
    match_channels: Optional[int] = None       # compare at most this many teacher channels per pair (cost)
    live_channels: bool = True                 # match only teacher channels active on a probe of the training patches
    # optimisation
    steps: int = 2000
    batch_size: int = 16
    patch: int = 40                            # GT crop side per sample
    lr: float = 1e-3
    min_lr: float = 1e-6
    kd_warmup: int = 100                       # first steps with the pixel loss only
    kd_ramp: int = 200                         # then the KD weights ramp linearly 0 -> 1 over this many steps
    adapter_fit: int = 0                       # last warm-up steps that fit the adapters on detached student features
    kd_clip: Optional[float] = 0.1             # cap each DRL+IRL gradient element at this x the pixel gradient's running RMS
    log_every: int = 50
    device: str = "auto"
    seed: int = 0
    degrade: str = ""                          # non-empty: LQ re-synthesised from GT at every batch
    cache_teachers: bool = False               # teacher targets computed once per fixed LQ/GT patch (no crop/augment)
    # Teacher B (clean-to-clean autoencoder) when not given
    ae_steps: int = 300
    ae_lr: float = 1e-4
    ae_init: str = "teacher"                   # teacher | random
    # CLI data and outputs (run_kd)
    train: list[SourceConfig] = field(default_factory=list)
    test: list[SourceConfig] = field(default_factory=list)
    max_test_images: Optional[int] = None
    baseline: bool = True                      # also train the same student alone for comparison
    out_dir: str = "runs/kd"


def load_yaml_mapping(path: str | Path) -> dict:
    """Read a YAML file whose top level is a mapping; errors name the file (one line)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_config(path: str | Path) -> RunConfig:
    """Read a YAML file into a RunConfig; errors name the file and the key."""
    data = load_yaml_mapping(path)
    try:
        return RunConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
