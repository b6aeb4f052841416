"""Patch embedding: preprocessing, batched inference, a differentiable wrapper, and a writer.

* :func:`embed_patches`: ``uint8 N x h x w x C`` patch stack -> ``float32 N x D`` features.
* :class:`BackboneEmbed`: the same mapping as a differentiable ``nn.Module`` on float input.
* :class:`FeatureWriter`: streams feature batches into a float16 ``.npy`` file, written atomically.

Preprocessing (shared by all three, so their outputs agree): gray -> 3 channels, antialiased
bilinear resize to ``info.input_size`` (skipped when the size already matches), then
``(x - mean) / std`` with the backbone's ImageNet statistics.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tripled_fast.features.backbones import BackboneInfo

if TYPE_CHECKING:
    from tripled_fast.features.runtime import FeatureRunner


def prepare_input(x: torch.Tensor, info: BackboneInfo) -> torch.Tensor:
    """Map float ``[0, 1]`` images ``N x C x H x W`` (C in {1, 3}) to the backbone's input.

    Returns ``N x 3 x S x S`` normalised float (``S = info.input_size``, channels-last memory
    layout), differentiable in ``x``.
    """
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected an N x C x H x W tensor with C in {{1, 3}}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"expected a float tensor in [0, 1], got dtype {x.dtype}")
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    size = info.input_size
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    mean = torch.tensor(info.mean, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(info.std, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    # One memory layout whatever the input strides (uint8 NHWC views, expanded gray), so every
    # caller hits the same convolution kernels and gets the same numbers. Channels-last: oneDNN's
    # CPU convolutions run about 1.8x faster on it than on NCHW (efficientnet_lite0, measured).
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def patches_to_tensor(patches: np.ndarray, device: str | torch.device = "cpu") -> torch.Tensor:
    """``uint8 N x h x w x C`` numpy stack -> float32 ``N x C x h x w`` in ``[0, 1]`` on ``device``."""
    arr = np.ascontiguousarray(patches)
    if not arr.flags.writeable:  # torch.from_numpy warns on read-only memory (e.g. memmaps)
        arr = arr.copy()
    t = torch.from_numpy(arr).to(device, non_blocking=True)
    return t.permute(0, 3, 1, 2).float().div_(255.0)


def check_patches(patches: np.ndarray, what: str = "patches") -> None:
    """Raise ``ValueError`` unless ``patches`` is a ``uint8 N x h x w x C`` stack with C in {1, 3}."""
    if not isinstance(patches, np.ndarray) or patches.dtype != np.uint8 or patches.ndim != 4 \
            or patches.shape[-1] not in (1, 3):
        desc = f"{patches.dtype} array of shape {patches.shape}" if isinstance(patches, np.ndarray) \
            else type(patches).__name__
        raise ValueError(f"{what}: expected a uint8 N x h x w x C array with C in {{1, 3}}, got {desc}")


def embed_patches(
    model: nn.Module,
    info: BackboneInfo,
    patches: np.ndarray,
    *,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    runner: Optional["FeatureRunner"] = None,
) -> np.ndarray:
    """Embed a patch stack with the backbone.

    Args:
        model: eval-mode backbone from :func:`~tripled_fast.features.backbones.load_backbone`
            (moved to ``device``; unused when ``runner`` is given).
        info: its :class:`BackboneInfo`.
        patches: ``uint8 N x h x w x C`` (C in {1, 3}).
        batch_size: patches per forward pass.
        device: where preprocessing (and the eager model) runs.
        runner: an optional accelerated :class:`~tripled_fast.features.runtime.FeatureRunner`
            taking the normalised ``B x 3 x S x S`` batch.

    Returns:
        ``float32 N x D`` features (``D = info.dim``).
    """
    check_patches(patches)
    if batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size}")
    n = patches.shape[0]
    out = np.empty((n, info.dim), dtype=np.float32)
    if runner is None:
        model.to(device)
        forward = model
    else:
        forward = runner
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            x = prepare_input(patches_to_tensor(patches[start:start + batch_size], device), info)
            feats = forward(x)
            if feats.ndim != 2 or feats.shape[1] != info.dim:
                raise ValueError(f"backbone returned shape {tuple(feats.shape)}, expected (B, {info.dim})")
            out[start:start + x.shape[0]] = feats.float().cpu().numpy()
    return out


class BackboneEmbed(nn.Module):
    """Differentiable feature map: float ``[0, 1]`` ``N x C x H x W`` (any H, W; C in {1, 3}) -> ``N x D``.

    Resizing and normalisation happen inside, so gradients flow back to the input images. The
    backbone stays in eval mode (batch-norm statistics never update) and, with ``freeze=True``,
    its parameters do not require gradients.
    """

    def __init__(self, model: nn.Module, info: BackboneInfo, *, freeze: bool = True) -> None:
        super().__init__()
        self.model = model.eval()
        self.info = info
        if freeze:
            for p in self.model.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> "BackboneEmbed":
        super().train(mode)
        self.model.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(prepare_input(x, self.info))


class FeatureWriter:
    """Stream ``N x D`` feature batches into a float16 ``.npy`` file, finalised atomically.

    Rows go to a memory-mapped temporary file beside ``path``; :meth:`close` checks that every
    row was written and renames it onto ``path`` (``os.replace``), so a crash never leaves a
    partial ``features.npy``. Use as a context manager (an exception discards the file)::

        with FeatureWriter(run_dir / "features.npy", n, info.dim) as w:
            for batch in batches:
                w.append(embed_patches(model, info, batch))
    """

    def __init__(self, path: str | Path, n: int, dim: int, dtype: np.dtype | type = np.float16) -> None:
        if n < 0 or dim < 1:
            raise ValueError(f"FeatureWriter: expected n >= 0 and dim >= 1, got n={n}, dim={dim}")
        self.path = Path(path)
        self.n, self.dim = int(n), int(dim)
        self.dtype = np.dtype(dtype)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._mm: Optional[np.memmap] = np.lib.format.open_memmap(
            self._tmp, mode="w+", dtype=self.dtype, shape=(self.n, self.dim)
        )
        self._written = np.zeros(self.n, dtype=bool)
        self._cursor = 0

    def write(self, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` (``B x D``) at rows ``start .. start + B - 1``."""
        if self._mm is None:
            raise ValueError(f"{self.path}: writer already closed")
        rows = np.asarray(rows)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"{self.path}: expected rows of shape (B, {self.dim}), got {rows.shape}")
        stop = start + rows.shape[0]
        if start < 0 or stop > self.n:
            raise ValueError(f"{self.path}: rows {start}..{stop - 1} outside 0..{self.n - 1}")
        with np.errstate(over="ignore", invalid="ignore"):
            cast = rows.astype(self.dtype)
        if not np.isfinite(cast).all():
            raise ValueError(f"{self.path}: non-finite features in rows {start}..{stop - 1} (after {self.dtype} cast)")
        self._mm[start:stop] = cast
        self._written[start:stop] = True
        self._cursor = max(self._cursor, stop)

    def append(self, rows: np.ndarray) -> None:
        """Write ``rows`` right after the last row written so far."""
        self.write(self._cursor, rows)

    def close(self) -> Path:
        """Flush and atomically move the file to ``path``; raise ``ValueError`` if rows are missing."""
        if self._mm is None:
            return self.path
        if not self._written.all():
            first = int(np.flatnonzero(~self._written)[0])
            self.abort()
            raise ValueError(f"{self.path}: {int((~self._written).sum())} of {self.n} rows never written (first {first})")
        self._mm.flush()
        self._mm = None
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Discard the temporary file."""
        self._mm = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> "FeatureWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # type: ignore[no-untyped-def]
        if exc_type is None:
            self.close()
        else:
            self.abort()
