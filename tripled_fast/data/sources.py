"""Paired LQ/GT image sources: discover pairs, load a pair, split off a hold-out set.

Source kinds (:class:`~tripled_fast.config.SourceConfig`):

* ``paired``    BasicSR ``dataroot_gt`` / ``dataroot_lq``; the LQ partner of ``sub/name.ext`` is
                ``sub/{filename_tmpl.format(name)}.ext`` (if absent, a unique file with that stem
                and another image extension).
* ``kair``      KAIR ``H`` / ``L`` folders paired in sorted order (counts must agree). When
                ``lq`` is empty and ``gt`` holds ``H`` and ``L`` subfolders, those are used.
* ``meta_info`` a BasicSR meta_info file: first whitespace token of each non-empty, non-``#``
                line is a GT path relative to ``gt``; partners under ``lq`` as for ``paired``,
                or synthesised when ``lq`` is empty and ``degrade`` is set.
* ``degrade``   clean images under ``gt``; the LQ is synthesised by :mod:`.degrade` (seeded).

Folders are scanned recursively (``os.walk(followlinks=False)``: symlinked folders are not
entered, so link loops are harmless); hidden files and folders (``.name``) are skipped; image
extensions are matched case-insensitively. Every listing is sorted, so pairs come out in a
deterministic order. ``image_id = f"{source}/{relative GT path without extension}"``.

:func:`scan_source` reports every structural problem without raising (used by
:mod:`.check`). :func:`collect_pairs` raises a DataError on the first one, or, with
``on_bad_file="skip"``, drops the pairs a per-file problem makes unusable (missing partner,
duplicated name, bad meta_info line) and returns those problems. Problems about a whole source
(missing or empty folder, bad spec or template, KAIR count mismatch) and meta_info paths that
leave the GT folder (``../../etc/passwd``) are always errors. :func:`verify_pairs` decodes every
file once (memoised by content) and applies the same policy to unreadable, zero-byte,
truncated or non-image files and to LQ/GT size mismatches.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from tripled_fast.config import SourceConfig
from tripled_fast.data.decode import IMAGE_EXTENSIONS, decode_batch, is_image_file, to_color
from tripled_fast.data.degrade import apply_degradation, parse_spec, spec_scale, spec_task
from tripled_fast.errors import DataError

KINDS = ("paired", "kair", "meta_info", "degrade")
# folder names too generic to name a source; the parent folder's name is used instead
_GENERIC_DIRS = {"h", "l", "hr", "lr", "gt", "lq", "high", "low", "target", "input", "clean",
                 "images", "image", "img", "imgs", "train", "test", "val", "valid"}


@dataclass(frozen=True)
class ImagePair:
    """One pool image: GT file plus an LQ file on disk or a degradation spec to synthesise it."""

    image_id: str            # "source/relative/path/stem", unique per pool
    source: str
    task: str
    gt_path: Path
    lq_path: Optional[Path]  # None when the LQ is synthesised from ``degrade``
    degrade: str             # canonical spec string ("" when the LQ is on disk)
    scale: int               # GT side = scale x LQ side


@dataclass(frozen=True)
class Problem:
    """One finding of a scan or check; ``path`` names a file, folder or config key."""

    path: str
    level: str               # "error" | "warning"
    message: str
    skippable: bool = False  # a per-file problem: on_bad_file="skip" drops the pair instead

    def format(self) -> str:
        return f"{self.level.upper()} {self.path}: {self.message}"


@dataclass
class SourceScan:
    """Result of scanning one source without raising."""

    label: str                       # config location, e.g. "data.sources[0]"
    name: str
    task: str
    scale: int
    degrade: str
    pairs: list[ImagePair] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unused_lq: list[str] = field(default_factory=list)   # LQ files no GT claims (paired kind)

    def error(self, path: str | os.PathLike, message: str, skippable: bool = False) -> None:
        self.problems.append(Problem(os.fspath(path), "error", message, skippable))

    def warn(self, path: str | os.PathLike, message: str) -> None:
        self.problems.append(Problem(os.fspath(path), "warning", message))


# --------------------------------------------------------------------------- hashing
def stable_hash(*parts: object) -> int:
    """64-bit hash of the parts' ``str`` forms (blake2b; identical across runs and machines)."""
    data = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def pair_rng(seed: int, image_id: str) -> np.random.Generator:
    """Generator for synthesising one image's LQ: depends only on ``(seed, image_id)``."""
    return np.random.default_rng(stable_hash("degrade", seed, image_id))


# --------------------------------------------------------------------------- listing
def list_images(root: str | os.PathLike) -> list[str]:
    """Sorted POSIX relative paths of the image files under ``root`` (recursive, see module doc)."""
    root = os.fspath(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = os.path.relpath(dirpath, root)
        for name in filenames:
            if name.startswith(".") or not is_image_file(name):
                continue
            rel = name if rel_dir == "." else os.path.join(rel_dir, name)
            found.append(Path(rel).as_posix())
    return sorted(found)


def _stem(rel: str) -> str:
    return os.path.splitext(rel)[0]


def _dedupe(scan: SourceScan, root: str, rels: list[str]) -> list[str]:
    """Drop files whose relative stem repeats (``a.png`` + ``a.jpg``), reporting each as an error."""
    seen: dict[str, str] = {}
    kept = []
    for rel in rels:
        key = _stem(rel)
        if key in seen:
            scan.error(os.path.join(root, rel), f"duplicated image name {key!r} (also {seen[key]})",
                       skippable=True)
            continue
        seen[key] = rel
        kept.append(rel)
    return kept


def _folder(scan: SourceScan, path: str, what: str) -> Optional[list[str]]:
    """List a required image folder; None (with an error) when missing or empty."""
    if not path:
        scan.error(scan.label, f"{what} folder is not set")
        return None
    if not os.path.exists(path):
        scan.error(path, f"{what} folder not found")
        return None
    if not os.path.isdir(path):
        scan.error(path, f"{what} path is not a folder")
        return None
    rels = list_images(path)
    if not rels:
        scan.error(path, f"{what} folder has no image files ({' '.join(IMAGE_EXTENSIONS)})")
        return None
    return rels


def _default_name(cfg: SourceConfig, spec_tag: str) -> str:
    """``name``, else the configured task, else the spec's task tag, else the GT folder's name."""
    if cfg.name:
        return cfg.name
    if cfg.task or spec_tag:
        return cfg.task or spec_tag
    folder = Path(os.path.abspath(cfg.gt or "."))
    if folder.name.lower() in _GENERIC_DIRS and folder.parent.name:
        return folder.parent.name
    return folder.name


def _partner(tmpl: str, rel: str, lq_set: set[str], lq_by_stem: dict[str, list[str]]) -> tuple[str, Optional[str]]:
    """``(expected LQ relative path, found LQ relative path or None)`` for GT ``rel``."""
    directory, base = os.path.split(rel)
    stem, ext = os.path.splitext(base)
    lq_stem = Path(directory, tmpl.format(stem)).as_posix() if directory else tmpl.format(stem)
    expected = lq_stem + ext
    if expected in lq_set:
        return expected, expected
    alternatives = lq_by_stem.get(lq_stem, [])
    return expected, alternatives[0] if len(alternatives) == 1 else None


def _make_pair(scan: SourceScan, gt_root: str, rel: str, lq: Optional[str]) -> ImagePair:
    return ImagePair(
        image_id=f"{scan.name}/{_stem(rel)}",
        source=scan.name,
        task=scan.task,
        gt_path=Path(gt_root, rel),
        lq_path=Path(lq) if lq is not None else None,
        degrade=scan.degrade,
        scale=scan.scale,
    )


def _limit(rels: list[str], max_images: Optional[int]) -> list[str]:
    return rels if max_images is None else rels[:max_images]


def _read_meta_info(scan: SourceScan, meta: str, gt_root: str) -> Optional[list[str]]:
    """GT relative paths listed in a BasicSR meta_info file (checked to stay inside ``gt_root``)."""
    if not os.path.isfile(meta):
        scan.error(meta, "meta_info file not found")
        return None
    try:
        text = Path(meta).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        scan.error(meta, f"cannot read meta_info file ({exc.__class__.__name__})")
        return None
    root = Path(gt_root).resolve()
    rels: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        token = line.split()[0]
        where = f"{meta}:{lineno}"
        if os.path.isabs(token) or token.startswith(("/", "\\")) or (len(token) > 1 and token[1] == ":"):
            scan.error(where, f"absolute path {token!r} not allowed (paths are relative to {gt_root})")
            continue
        try:
            (root / token).resolve().relative_to(root)
        except ValueError:
            scan.error(where, f"path {token!r} leaves the GT folder {gt_root}")
            continue
        rel = Path(os.path.normpath(token)).as_posix()
        if not is_image_file(rel):
            scan.error(where, f"{token!r} does not have an image extension ({' '.join(IMAGE_EXTENSIONS)})",
                       skippable=True)
            continue
        if rel in seen:
            scan.error(where, f"{token!r} listed twice (first on line {seen[rel]})", skippable=True)
            continue
        seen[rel] = lineno
        if not os.path.isfile(os.path.join(gt_root, rel)):
            scan.error(os.path.join(gt_root, rel), f"listed in {meta} line {lineno} but not found",
                       skippable=True)
            continue
        rels.append(rel)
    if not rels and not scan.problems:
        scan.error(meta, "meta_info file lists no images")
    return rels


# --------------------------------------------------------------------------- scanning
def scan_source(cfg: SourceConfig, label: str = "source") -> SourceScan:
    """Discover one source's pairs, recording problems instead of raising.

    ``label`` names the config entry in problems about the configuration itself.
    ``max_images`` keeps the first images in sorted (or meta_info) order; for ``kair`` the
    counts are compared before the limit, for the other kinds only kept images need a partner.
    """
    scan = SourceScan(label=label, name="", task=cfg.task, scale=cfg.scale, degrade="")
    kind = cfg.kind
    if kind not in KINDS:
        scan.error(label, f"unknown kind {kind!r} (expected one of {', '.join(KINDS)})")
        return scan
    synthesise = kind == "degrade" or (kind == "meta_info" and not cfg.lq)

    # degradation spec, scale and task
    if synthesise:
        if not cfg.degrade.strip():
            scan.error(label, f"kind {kind!r} without lq needs a degrade spec (e.g. 'noise:sigma=25')")
            return scan
        try:
            ops = parse_spec(cfg.degrade)
        except ValueError as exc:
            scan.error(label, str(exc))
            return scan
        scan.degrade = "+".join(op.to_string() for op in ops)
        spec_s = spec_scale(ops)
        if cfg.scale not in (1, spec_s):
            scan.error(label, f"scale {cfg.scale} conflicts with the degrade spec's bicubic scale {spec_s}")
            return scan
        scan.scale = spec_s
        scan.task = cfg.task or spec_task(ops)
    else:
        if cfg.degrade.strip():
            scan.error(label, f"degrade is only used when the LQ is synthesised (kind 'degrade', or "
                              f"'meta_info' without lq); kind {kind!r} reads LQ files")
            return scan
        scan.task = cfg.task or ("sr" if cfg.scale > 1 else "restore")
    if kind == "degrade" and cfg.lq:
        scan.error(label, "kind 'degrade' synthesises the LQ; remove lq or use kind 'paired'")
        return scan
    if cfg.scale < 1:
        scan.error(label, f"scale must be >= 1, got {cfg.scale}")
        return scan
    if cfg.max_images is not None and cfg.max_images < 1:
        scan.error(label, f"max_images must be >= 1, got {cfg.max_images}")
        return scan
    try:
        cfg.filename_tmpl.format("x")
    except (IndexError, KeyError, ValueError) as exc:
        scan.error(label, f"filename_tmpl {cfg.filename_tmpl!r} must contain one '{{}}' ({exc})")
        return scan
    scan.name = _default_name(cfg, spec_task(cfg.degrade) if synthesise else "")
    if not scan.name or "/" in scan.name or "\\" in scan.name:
        scan.error(label, f"source name {scan.name!r} must be non-empty without '/'")
        return scan

    gt_root = os.path.abspath(cfg.gt) if cfg.gt else ""
    lq_root = os.path.abspath(cfg.lq) if cfg.lq else ""
    meta = os.path.abspath(cfg.meta_info) if cfg.meta_info else ""
    if kind == "kair" and not lq_root and os.path.isdir(os.path.join(gt_root, "H")) \
            and os.path.isdir(os.path.join(gt_root, "L")):
        gt_root, lq_root = os.path.join(gt_root, "H"), os.path.join(gt_root, "L")

    # GT list
    if kind == "meta_info":
        if not cfg.meta_info:
            scan.error(label, "kind 'meta_info' needs meta_info (the BasicSR meta_info file)")
            return scan
        if not os.path.isdir(gt_root):
            scan.error(gt_root or label, "GT folder not found")
            return scan
        gt_rels = _read_meta_info(scan, meta, gt_root)
    else:
        gt_rels = _folder(scan, gt_root, "GT")
    if gt_rels is None:
        return scan
    gt_rels = _dedupe(scan, gt_root, gt_rels)

    if synthesise:
        for rel in _limit(gt_rels, cfg.max_images):
            scan.pairs.append(_make_pair(scan, gt_root, rel, None))
        return scan

    if not lq_root:
        scan.error(label, f"kind {kind!r} needs lq (the LQ folder)")
        return scan
    lq_rels = _folder(scan, lq_root, "LQ")
    if lq_rels is None:
        return scan
    lq_rels = _dedupe(scan, lq_root, lq_rels)

    if kind == "kair":
        if len(lq_rels) != len(gt_rels):
            scan.error(lq_root, f"{len(lq_rels)} LQ images for {len(gt_rels)} GT images in {gt_root} "
                                f"(kair pairs files in sorted order)")
            return scan
        for rel, lq_rel in _limit(list(zip(gt_rels, lq_rels)), cfg.max_images):
            scan.pairs.append(_make_pair(scan, gt_root, rel, os.path.join(lq_root, lq_rel)))
        return scan

    # paired / meta_info with an LQ folder
    lq_set = set(lq_rels)
    lq_by_stem: dict[str, list[str]] = {}
    for r in lq_rels:
        lq_by_stem.setdefault(_stem(r), []).append(r)
    claimed: set[str] = set()
    for rel in _limit(gt_rels, cfg.max_images):   # partners of images past the limit are not needed
        expected, found = _partner(cfg.filename_tmpl, rel, lq_set, lq_by_stem)
        if found is None:
            scan.error(os.path.join(gt_root, rel), f"no LQ partner (expected {os.path.join(lq_root, expected)})",
                       skippable=True)
            continue
        claimed.add(found)
        scan.pairs.append(_make_pair(scan, gt_root, rel, os.path.join(lq_root, found)))
    if kind == "paired" and cfg.max_images is None:
        scan.unused_lq = [os.path.join(lq_root, r) for r in lq_rels if r not in claimed]
    return scan


def scan_sources(sources: Sequence[SourceConfig], label: str = "sources") -> list[SourceScan]:
    """Scan every source; adds an error for a source name used twice."""
    scans = [scan_source(cfg, f"{label}[{i}]") for i, cfg in enumerate(sources)]
    first: dict[str, str] = {}
    for scan in scans:
        if not scan.name:
            continue
        if scan.name in first:
            scan.error(scan.label, f"source name {scan.name!r} is already used by {first[scan.name]} "
                                   f"(set a distinct name:)")
            scan.pairs = []
        else:
            first[scan.name] = scan.label
    return scans


ON_BAD_FILE = ("error", "skip")


def _check_policy(on_bad_file: str) -> None:
    if on_bad_file not in ON_BAD_FILE:
        raise ValueError(f"data.on_bad_file: expected one of {list(ON_BAD_FILE)}, got {on_bad_file!r}")


def _raise_first(errors: Sequence[Problem]) -> None:
    more = f" (+{len(errors) - 1} more problems; run the check command)" if len(errors) > 1 else ""
    raise DataError(f"{errors[0].path}: {errors[0].message}{more}")


def collect_pairs(sources: Sequence[SourceConfig], on_bad_file: str = "error",
                  skipped: Optional[list[Problem]] = None) -> list[ImagePair]:
    """All pairs of all sources, in config order then sorted path order.

    ``on_bad_file="error"`` raises DataError (one line: path + problem) on the first problem:
    missing or empty folder, missing partner, duplicated names, bad meta_info lines, bad
    degrade spec. ``"skip"`` drops pairs with a per-file problem (:attr:`Problem.skippable`)
    and appends those problems to ``skipped``; source-level problems still raise, and so does
    a source that loses every pair. Files are not decoded here (see :func:`verify_pairs`).
    """
    _check_policy(on_bad_file)
    if not sources:
        raise DataError("data.sources: no sources configured")
    pairs: list[ImagePair] = []
    for scan in scan_sources(sources):
        errors = [p for p in scan.problems if p.level == "error"]
        fatal = errors if on_bad_file == "error" else [p for p in errors if not p.skippable]
        if fatal:
            _raise_first(fatal)
        if errors and not scan.pairs:
            _raise_first(errors)   # every pair of the source is unusable: a configuration problem
        if skipped is not None:
            skipped.extend(errors)
        pairs.extend(scan.pairs)
    return pairs


def _file_shape(path: str) -> list | str:
    """``[h, w, c]`` of a fully decoded file, or the one-line reason it cannot be decoded."""
    try:
        img = decode_batch([path], decoder="pil")[0]
    except DataError as exc:
        text = str(exc)
        return text[len(path) + 2:] if text.startswith(f"{path}: ") else text
    return [int(img.shape[0]), int(img.shape[1]), int(img.shape[2])]


def verify_pairs(pairs: Sequence[ImagePair], on_bad_file: str = "error", memo=None,
                 skipped: Optional[list[Problem]] = None) -> list[ImagePair]:
    """Decode every file of ``pairs`` once and keep the usable pairs (input order kept).

    Unusable: a file that is unreadable, empty, truncated, corrupt or not an image; an on-disk
    LQ whose size is not GT / scale (a GT mod-crop margin below ``scale`` is allowed).
    ``"error"`` raises DataError on the first; ``"skip"`` drops the pair and appends a Problem
    to ``skipped``. ``memo`` (a :class:`tripled_fast.runfiles.FileMemo`) keeps each file's
    verdict by stat signature, so a rerun decodes only new or changed files. Pixels are decoded
    one file per worker thread, never the whole list at once.
    """
    from tripled_fast.runfiles import FileMemo

    _check_policy(on_bad_file)
    memo = memo if memo is not None else FileMemo()
    files = sorted({os.fspath(p.gt_path) for p in pairs} | {os.fspath(p.lq_path) for p in pairs if p.lq_path})
    shapes = dict(zip(files, memo.map(files, "shape", _file_shape)))
    good: list[ImagePair] = []
    for pair in pairs:
        gt_path = os.fspath(pair.gt_path)
        problem: Optional[Problem] = None
        for path in (gt_path, os.fspath(pair.lq_path) if pair.lq_path else None):
            if path is not None and isinstance(shapes[path], str):
                problem = Problem(path, "error", shapes[path], True)
                break
        if problem is None and pair.lq_path is not None:
            (gh, gw, _), (lh, lw, _), s = shapes[gt_path], shapes[os.fspath(pair.lq_path)], pair.scale
            if not (s * lh <= gh < s * lh + s and s * lw <= gw < s * lw + s):
                problem = Problem(gt_path, "error", f"size {gh}x{gw} does not match LQ {pair.lq_path} "
                                  f"({lh}x{lw}) at scale {s} (expected {s * lh}x{s * lw})", True)
        if problem is None:
            good.append(pair)
        elif on_bad_file == "error":
            _raise_first([problem])
        elif skipped is not None:
            skipped.append(problem)
    return good


# --------------------------------------------------------------------------- loading
def mod_crop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop ``H x W x C`` to the largest multiple of ``scale`` in each side (BasicSR ``mod_crop``)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def _fit_gt(gt: np.ndarray, lq: np.ndarray, pair: ImagePair, lq_name: str) -> np.ndarray:
    """Crop GT to ``scale x`` LQ when it exceeds it by less than ``scale``; DataError otherwise."""
    s = pair.scale
    (gh, gw), (lh, lw) = gt.shape[:2], lq.shape[:2]
    if s * lh <= gh < s * lh + s and s * lw <= gw < s * lw + s:
        return gt[: s * lh, : s * lw]
    raise DataError(
        f"{pair.gt_path} ({gh}x{gw}) and {lq_name} ({lh}x{lw}): GT must be {s}x the LQ size "
        f"(expected {s * lh}x{s * lw})"
    )


def load_pair(
    pair: ImagePair, *, color: str = "auto", seed: int = 0, decoder: str = "pil"
) -> tuple[np.ndarray, np.ndarray]:
    """Decode one pair -> ``(lq, gt)`` ``uint8`` arrays, ``lq``: ``h x w x C``, ``gt``: ``sh x sw x C``.

    ``decoder`` as in :func:`~tripled_fast.data.decode.decode_batch`; DALI builds a pipeline per
    call, so for many pairs decode in bulk with ``decode_batch`` rather than ``decoder="dali"`` here.

    A synthesised LQ is made from the mod-cropped GT with :func:`pair_rng` ``(seed, image_id)``,
    so it is identical on every call and machine. With ``color="auto"`` a gray / colour mix
    inside one pair is resolved to RGB. GT larger than ``scale x`` LQ by less than ``scale``
    (a mod-crop margin) is cropped; any other size mismatch raises DataError naming both files.
    """
    if pair.lq_path is None:
        (gt,) = decode_batch([pair.gt_path], decoder=decoder, color=color)
        gt = mod_crop(gt, pair.scale)
        lq = apply_degradation(np.ascontiguousarray(gt), pair.degrade, pair_rng(seed, pair.image_id))
        return lq, _fit_gt(gt, lq, pair, f"the LQ synthesised by {pair.degrade!r}")
    gt, lq = decode_batch([pair.gt_path, pair.lq_path], decoder=decoder, color="auto")
    if color == "auto" and gt.shape[2] != lq.shape[2]:
        color = "rgb"
    gt, lq = to_color(gt, color), to_color(lq, color)
    return lq, _fit_gt(gt, lq, pair, str(pair.lq_path))


# --------------------------------------------------------------------------- hold-out split
def split_holdout(
    pairs: Sequence[ImagePair], fraction: float, seed: int
) -> tuple[list[ImagePair], list[ImagePair]]:
    """Split into ``(train, test)`` with about ``fraction`` of the images in ``test``.

    Pairs sharing a GT file form one group (e.g. two degradations of the same clean image),
    so a GT image never lands on both sides. Groups are ranked by ``stable_hash(seed, smallest
    image_id of the group)`` and taken into ``test`` until ``round(fraction * n)`` images are
    reached (at least one group when ``fraction > 0``, at most all groups but one). The result
    depends only on the pairs' ids and GT paths and the seed, not on their order; both lists
    keep the input order.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split_holdout: fraction must be in [0, 1), got {fraction}")
    groups: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        groups.setdefault(os.path.normcase(os.path.abspath(pair.gt_path)), []).append(i)
    if fraction == 0.0 or len(groups) < 2:
        return list(pairs), []
    keyed = sorted(
        groups.values(), key=lambda idx: (stable_hash("holdout", seed, min(pairs[i].image_id for i in idx)),
                                          min(pairs[i].image_id for i in idx))
    )
    target = max(1, round(fraction * len(pairs)))
    test_idx: set[int] = set()
    for n_taken, idx in enumerate(keyed):
        if len(test_idx) >= target or n_taken == len(keyed) - 1:
            break
        test_idx.update(idx)
    train = [p for i, p in enumerate(pairs) if i not in test_idx]
    test = [p for i, p in enumerate(pairs) if i in test_idx]
    return train, test

