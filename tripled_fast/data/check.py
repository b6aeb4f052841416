"""Pre-flight check of the configured data: every problem, without raising.

:func:`run_check` scans each source of ``data.sources`` and ``data.test`` with
:func:`~tripled_fast.data.sources.scan_source` (missing / empty folders, missing partners,
duplicated names, bad meta_info lines, bad specs) and then decodes every referenced file fully:

errors    unreadable, zero-byte, truncated or non-image files; LQ/GT sizes that do not match
          the scale; images smaller than one ``tiles.patch``;
warnings  extension not matching the content; 16-bit, palette, CMYK or alpha images (converted
          on load); gray and colour images mixed in one source; GT cropped by a mod-crop margin;
          LQ files no GT claims; test-set GT images that are also in the training pool.

``CheckReport.format()`` prints one ``LEVEL <path>: <problem>`` line per problem and a summary.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional

from tripled_fast.config import DataConfig, TileConfig
from tripled_fast.data.decode import FORMAT_EXTENSIONS, decode_image, probe_image
from tripled_fast.data.sources import ImagePair, Problem, SourceScan, scan_sources
from tripled_fast.errors import DataError

__all__ = ["CheckReport", "Problem", "run_check"]


@dataclass
class CheckReport:
    """All problems found, in scan order, plus counts."""

    problems: list[Problem] = field(default_factory=list)
    n_pairs: int = 0
    n_sources: int = 0

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def format(self) -> str:
        lines = [p.format() for p in self.problems]
        verdict = "OK" if self.ok else "FAILED"
        lines.append(
            f"{verdict}: {self.n_sources} sources, {self.n_pairs} pairs, "
            f"{len(self.errors)} errors, {len(self.warnings)} warnings"
        )
        return "\n".join(lines)


@dataclass
class _FileFacts:
    shape: Optional[tuple[int, int, int]]   # decoded (h, w, c); None when undecodable
    problems: list[Problem]


def _strip(path: str, exc: DataError) -> str:
    """DataError text without its leading ``path: `` (the Problem carries the path)."""
    text = str(exc)
    return text[len(path) + 2:] if text.startswith(f"{path}: ") else text


def _inspect_file(path: str) -> _FileFacts:
    problems: list[Problem] = []
    try:
        info = probe_image(path)
    except DataError as exc:
        return _FileFacts(None, [Problem(path, "error", _strip(path, exc))])
    ext = os.path.splitext(path)[1].lower()
    if ext not in FORMAT_EXTENSIONS.get(info.format, ()):
        problems.append(Problem(path, "warning", f"extension {ext} but the content is {info.format or 'unknown'}"))
    try:
        img = decode_image(path)
    except DataError as exc:
        problems.append(Problem(path, "error", _strip(path, exc)))
        return _FileFacts(None, problems)
    if info.bit_depth == 16:
        problems.append(Problem(path, "warning", "16-bit image (converted to 8-bit)"))
    if info.mode in ("P", "PA"):
        problems.append(Problem(path, "warning", "palette image (converted to RGB)"))
    if info.mode == "CMYK":
        problems.append(Problem(path, "warning", "CMYK image (converted to RGB)"))
    if info.has_alpha:
        problems.append(Problem(path, "warning", "alpha channel (dropped)"))
    return _FileFacts((img.shape[0], img.shape[1], img.shape[2]), problems)


class _Checker:
    def __init__(self, data: DataConfig, tiles: TileConfig) -> None:
        self.data = data
        self.tiles = tiles
        self.cache: dict[str, _FileFacts] = {}
        self.report = CheckReport()
        self._seen: set[Problem] = set()

    def add(self, problem: Problem) -> None:
        if problem not in self._seen:
            self._seen.add(problem)
            self.report.problems.append(problem)

    def facts(self, path: str) -> _FileFacts:
        if path not in self.cache:
            self.cache[path] = _inspect_file(path)
            for p in self.cache[path].problems:
                self.add(p)
        return self.cache[path]

    def check_pair(self, pair: ImagePair, channels: dict[int, int], patch_ok: bool) -> None:
        gt_path = os.fspath(pair.gt_path)
        gt = self.facts(gt_path).shape
        lq = self.facts(os.fspath(pair.lq_path)).shape if pair.lq_path is not None else None
        for shape in (gt, lq):
            if shape is not None:
                channels[shape[2]] = channels.get(shape[2], 0) + 1
        if gt is None:
            return
        s = pair.scale
        gh, gw = gt[0] - gt[0] % s, gt[1] - gt[1] % s   # synthesised LQ: BasicSR mod_crop
        if pair.lq_path is not None:
            if lq is None:
                return
            lh, lw = lq[0], lq[1]
            if not (s * lh <= gt[0] < s * lh + s and s * lw <= gt[1] < s * lw + s):
                self.add(Problem(gt_path, "error",
                                 f"size {gt[0]}x{gt[1]} does not match LQ {pair.lq_path} ({lh}x{lw}) "
                                 f"at scale {s} (expected {s * lh}x{s * lw})"))
                return
            gh, gw = s * lh, s * lw
            if (gh, gw) != gt[:2]:
                self.add(Problem(gt_path, "warning",
                                 f"size {gt[0]}x{gt[1]} is cropped to {gh}x{gw} ({s}x LQ {lh}x{lw})"))
        patch = self.tiles.patch
        if patch_ok and (gh < patch or gw < patch):
            self.add(Problem(gt_path, "error", f"image {gh}x{gw} is smaller than a {patch}x{patch} patch"))

    def check_scan(self, scan: SourceScan, gt_folder: str) -> None:
        for p in scan.problems:
            self.add(p)
        if not scan.pairs:
            return
        patch_ok = self.tiles.patch % scan.scale == 0
        if not patch_ok:
            self.add(Problem(scan.label, "error",
                             f"tiles.patch {self.tiles.patch} is not a multiple of scale {scan.scale}"))
        channels: dict[int, int] = {}
        for pair in scan.pairs:
            self.check_pair(pair, channels, patch_ok)
        for path in scan.unused_lq:
            self.add(Problem(path, "warning", "LQ file has no GT partner (ignored)"))
        if channels.get(1) and channels.get(3):
            target = self.data.color if self.data.color in ("gray", "rgb") else "rgb"
            self.add(Problem(gt_folder, "warning",
                             f"mixes {channels[1]} grayscale and {channels[3]} colour images "
                             f"(converted to {target})"))
        self.report.n_pairs += len(scan.pairs)

    def run(self) -> CheckReport:
        if self.tiles.patch < 1:
            self.add(Problem("tiles.patch", "error", f"must be >= 1, got {self.tiles.patch}"))
        if not self.data.sources:
            self.add(Problem("data.sources", "error", "no sources configured"))
        pool_gt: set[str] = set()
        for label, cfgs in (("data.sources", self.data.sources), ("data.test", self.data.test)):
            for cfg, scan in zip(cfgs, scan_sources(cfgs, label)):
                self.report.n_sources += 1
                self.check_scan(scan, os.path.abspath(cfg.gt) if cfg.gt else scan.label)
                gts = {os.fspath(p.gt_path) for p in scan.pairs}
                if label == "data.sources":
                    pool_gt |= gts
                elif gts & pool_gt:
                    self.add(Problem(scan.label, "warning",
                                     f"{len(gts & pool_gt)} of its {len(gts)} GT images are also in "
                                     f"data.sources (test images inside the training pool)"))
        return self.report


def run_check(data: DataConfig, tiles: TileConfig) -> CheckReport:
    """Check every source in ``data.sources`` and ``data.test``; never raises for bad data."""
    return _Checker(data, tiles).run()
