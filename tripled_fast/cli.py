"""``tripled-fast``: the command line. It only parses arguments into a RunConfig and calls the library.

    tripled-fast run                       # the embedded default (scikit-image photos, 3 tasks)
    tripled-fast run DATA --degrade noise:sigma=25 --budget 0.02
    tripled-fast run GT_DIR --lq LQ_DIR --scale 4 --test TEST_GT:TEST_LQ
    tripled-fast run --config run.yaml --set train.steps=2000
    tripled-fast check DATA [--lq LQ_DIR | --degrade SPEC]
    tripled-fast iqa FOLDER

Every failure is one line on stderr, ``tripled-fast: error: ...`` (exit 2); an unexpected one adds
a hint to rerun with ``TRIPLED_FAST_DEBUG=1`` for the traceback. Ctrl-C exits 130 and says how to
resume (the finished stages are cached).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from .config import ConfigError, DataConfig, RunConfig, SourceConfig, load_config
from .errors import TripledError


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", help="GT folder (dataroot_gt / KAIR H / clean images); "
                   "omit for the embedded default dataset")
    p.add_argument("--lq", help="LQ folder (dataroot_lq / KAIR L) paired with DATA")
    p.add_argument("--kind", choices=["paired", "kair", "meta_info", "degrade"],
                   help="how DATA and --lq pair up (default: paired with --lq, degrade otherwise)")
    p.add_argument("--meta-info", help="BasicSR meta_info file listing the GT images")
    p.add_argument("--filename-tmpl", default="{}", help="BasicSR filename_tmpl for LQ names (default '{}')")
    p.add_argument("--degrade", default="", help="degradation spec for clean images, e.g. "
                   "'blur:sigma=1.5+noise:sigma=15+jpeg:quality=40' or 'bicubic:scale=4'")
    p.add_argument("--scale", type=int, default=1, help="SR scale of on-disk pairs (GT = scale x LQ)")
    p.add_argument("--task", default="", help="task tag of this source")
    p.add_argument("--config", help="YAML config (RunConfig); command-line options override it")
    p.add_argument("--patch", type=int, help="GT patch side (tiles.patch)")
    p.add_argument("--stride", type=int, help="tile stride (tiles.stride)")
    p.add_argument("--decoder", choices=["auto", "pil", "dali"], help="image decoder")


def _source_from_args(a: argparse.Namespace, gt: str, lq: str | None) -> SourceConfig:
    kind = a.kind or ("meta_info" if a.meta_info else "paired" if lq else "degrade")
    if kind == "degrade" and not a.degrade:
        raise ConfigError(f"{gt}: no --lq folder and no --degrade spec; give one of them")
    return SourceConfig(kind=kind, gt=gt, lq=lq, meta_info=a.meta_info, filename_tmpl=a.filename_tmpl,
                        scale=a.scale, task=a.task, degrade=a.degrade)


def _apply_set(d: dict, assignments: list[str]) -> None:
    """Apply ``--set a.b.c=value`` overrides (value parsed as YAML) to a config dict."""
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.steps=500")
        key, value = item.split("=", 1)
        node = d
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
        node[parts[-1]] = _parse_value(value)


def _parse_value(text: str):
    """A ``--set`` value as YAML, except that YAML 1.1's yes/no/on/off stay strings
    (``train.compile=off`` means the string; booleans are written true / false)."""
    value = yaml.safe_load(text)
    if isinstance(value, bool) and text.strip().lower() not in ("true", "false"):
        return text.strip()
    return value


def build_run_config(a: argparse.Namespace) -> RunConfig:
    """Turn parsed ``run`` arguments into a RunConfig (defaults < --config < flags < --set)."""
    base = load_config(a.config).to_dict() if a.config else RunConfig().to_dict()
    if a.data is None and not (a.config and base["data"]["sources"]):
        from .data.demo import demo_data_config

        run_dir = Path(a.run_dir or base["run_dir"])
        base["data"] = demo_data_config(run_dir / "demo_data").to_dict()
        base.update(_demo_defaults(base))
    elif a.data is not None:
        base["data"]["sources"] = [_source_from_args(a, a.data, a.lq).to_dict()]
    if getattr(a, "test", None):
        tests = []
        for t in a.test:
            gt, _, lq = t.partition(":")
            if lq:
                tests.append(SourceConfig(kind="paired", gt=gt, lq=lq, scale=a.scale).to_dict())
            else:
                tests.append(SourceConfig(kind="degrade", gt=gt, degrade=a.degrade, scale=a.scale,
                                          task=a.task).to_dict())
        base["data"]["test"] = tests
    flags = {
        ("run_dir",): a.run_dir, ("seed",): a.seed, ("select", "budget"): a.budget,
        ("train", "steps"): a.steps, ("train", "arch"): a.arch, ("features", "backbone"): a.backbone,
        ("features", "weights"): a.backbone_weights, ("tiles", "patch"): a.patch,
        ("tiles", "stride"): a.stride, ("data", "decoder"): a.decoder,
    }
    for path, value in flags.items():
        if value is not None:
            node = base
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = value
    if a.random_backbone:
        base["features"]["allow_random"] = True
    _apply_set(base, a.set or [])
    return RunConfig.from_dict(base)


def _demo_defaults(base: dict) -> dict:
    """Settings that make the embedded default finish in a few minutes on 2 CPU cores."""
    out = {k: base[k] for k in ("tiles", "features", "train", "align", "select")}
    out["tiles"].update(patch=48, stride=48)
    out["features"].update(input_size=96, batch_size=64)
    out["train"].update(steps=400, batch_size=16, arch="dncnn", arch_kwargs={"depth": 8, "width": 32},
                        log_every=50)
    # the product defaults otherwise: alignment and the stage-2 re-ranking stay off as for user
    # data (both cost PSNR on the validation splits, bench/QUALITY.md); to see them run, add
    # --set align.enabled=true --set select.stage1_fraction=0.5
    out["select"].update(budget=0.05)
    return out


def cmd_run(a: argparse.Namespace) -> int:
    from .pipeline import distill

    cfg = build_run_config(a)
    distill(cfg, progress=not a.quiet)
    return 0


def cmd_check(a: argparse.Namespace) -> int:
    from .data.check import run_check

    if a.config:
        cfg = load_config(a.config)
        data, tiles = cfg.data, cfg.tiles
    else:
        if a.data is None:
            raise ConfigError("check: give a DATA folder or --config")
        data = DataConfig(sources=[_source_from_args(a, a.data, a.lq)])
        tiles = RunConfig().tiles
    if a.patch:
        tiles.patch = a.patch
    report = run_check(data, tiles)
    print(report.format())
    return 0 if report.ok else 1


def cmd_iqa(a: argparse.Namespace) -> int:
    from .metrics.iqa import iqa_folder

    rows = iqa_folder(a.folder, metrics=tuple(m.strip() for m in a.metrics.split(",") if m.strip()))
    keys = [k for k in rows[0] if k not in ("name", "path")]
    print("\t".join(["name", *keys]))
    for r in rows:
        print("\t".join([r["name"], *(f"{r[k]:.3f}" if isinstance(r[k], float) else str(r[k]) for k in keys)]))
    return 0


def cmd_kd(a: argparse.Namespace) -> int:
    """SLKD: distil a teacher into a >= 80 % smaller student (YAML KDConfig + --set overrides)."""
    from .config import KDConfig
    from .kd.slkd import run_kd

    from .config import load_yaml_mapping

    base: dict = load_yaml_mapping(a.config) if a.config else {}
    if a.teacher:
        base["teacher_weights"] = a.teacher
    if a.out_dir:
        base["out_dir"] = a.out_dir
    _apply_set(base, a.set or [])
    report = run_kd(KDConfig.from_dict(base))
    for name, m in report.get("metrics", {}).items():
        if isinstance(m, dict) and "psnr" in m:
            print(f"{name}: PSNR {m['psnr']:.2f} dB, SSIM {m.get('ssim', float('nan')):.4f}")
    return 0


def cmd_bench_quality(a: argparse.Namespace) -> int:
    from .quality.harness import main as quality_main

    return quality_main(a.args)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tripled-fast", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="distil a dataset, train on the subset and report")
    _add_data_args(p)
    p.add_argument("--test", action="append", help="test folder GT[:LQ] (repeatable); clean GT only "
                   "uses the same --degrade spec")
    p.add_argument("--budget", type=float, help="subset size: a fraction (<1) or a patch count (>=1)")
    p.add_argument("--run-dir", help="output folder (default runs/default)")
    p.add_argument("--seed", type=int)
    p.add_argument("--steps", type=int, help="training steps per model")
    p.add_argument("--arch", help="restoration network (dncnn, nafnet)")
    p.add_argument("--backbone", help="timm feature backbone name")
    p.add_argument("--backbone-weights", help="local weights file for the backbone")
    p.add_argument("--random-backbone", action="store_true", help="allow random backbone weights")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("check", help="pre-flight report of pairing and file problems")
    _add_data_args(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("iqa", help="no-reference quality (BRISQUE, PIQE) of the images in a folder")
    p.add_argument("folder")
    p.add_argument("--metrics", default="brisque,piqe")
    p.set_defaults(func=cmd_iqa)

    p = sub.add_parser("kd", help="SLKD knowledge distillation of a restoration model (dual teachers)")
    p.add_argument("--config", help="YAML KDConfig (tripled_fast/config.py)")
    p.add_argument("--teacher", help="Teacher A weights (safetensors / weights-only torch file)")
    p.add_argument("--out-dir", help="output folder")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any KDConfig key")
    p.set_defaults(func=cmd_kd)

    p = sub.add_parser("bench-quality", add_help=False,
                       help="train on full / random / k-means / k-center / TripleD subsets and compare "
                            "(see `tripled-fast bench-quality --help`)")
    p.add_argument("args", nargs=argparse.REMAINDER)
    p.set_defaults(func=cmd_bench_quality)
    return parser


DEBUG_ENV = "TRIPLED_FAST_DEBUG"


def _one_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return lines[0] if lines else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench-quality"]:  # its own parser, --help included
        a = argparse.Namespace(func=cmd_bench_quality, args=argv[1:])
    else:
        a = parser.parse_args(argv)
    debug = os.environ.get(DEBUG_ENV, "") not in ("", "0")
    try:
        return a.func(a)
    except KeyboardInterrupt:
        print("tripled-fast: interrupted; rerun the same command to resume (finished stages are cached)",
              file=sys.stderr)
        return 130
    except (TripledError, ConfigError, OSError, ValueError) as exc:
        if debug:
            raise
        msg = _one_line(exc)
        if isinstance(exc, OSError) and getattr(exc, "filename", None) and str(exc.filename) not in msg:
            msg = f"{exc.filename}: {msg}"
        print(f"tripled-fast: error: {msg}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen fault: one line, traceback on request
        if debug:
            raise
        print(f"tripled-fast: error: unexpected {type(exc).__name__}: {_one_line(exc)} "
              f"(rerun with {DEBUG_ENV}=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
