"""The naive stack the benchmarks compare against: what a researcher writes first.

* :func:`naive_tile_stats` -- per-tile numpy / scipy.ndimage statistics (float64, a Python loop
  over tiles), the same definitions as :mod:`tripled_fast.scoring.stats`.
* :func:`naive_embed` -- timm eager in the default NCHW layout, fp32, batch by batch.
* :func:`naive_kmeans` -- scikit-learn ``KMeans`` (Lloyd, one k-means++ start).
* :func:`naive_kcenter` -- the k-center greedy of coreset libraries such as DeepCore: an
  ``(budget, N)`` distance matrix is kept and every step takes the minimum over all rows
  filled so far (``O(budget^2 N)`` time, ``O(budget N)`` memory).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

STAT_NAMES = ("mean", "var", "entropy", "grad_energy", "lap_var", "interp_err")


def naive_luminance(img: np.ndarray) -> np.ndarray:
    """uint8 ``H x W x C`` -> uint8 ``H x W`` integer BT.601 luminance."""
    if img.shape[2] == 1:
        return img[:, :, 0]
    c = img.astype(np.int64)
    return ((77 * c[..., 0] + 150 * c[..., 1] + 29 * c[..., 2] + 128) >> 8).astype(np.uint8)


def _bilinear_up(small: np.ndarray, f: int) -> np.ndarray:
    """Half-pixel bilinear upsampling by ``f`` with edge clamping (align_corners=False)."""
    from scipy import ndimage

    return ndimage.zoom(small, f, order=1, mode="nearest", grid_mode=True)


def naive_tile_stats(img: np.ndarray, coords: np.ndarray, size: int,
                     interp_scale: int = 2) -> dict[str, np.ndarray]:
    """Per-tile statistics with numpy / scipy, one tile at a time.

    Args:
        img: uint8 ``H x W x C``; coords: ``(N, 2)`` tile ``(y, x)``; size: tile side.
    Returns:
        ``{name: float32 (N,)}``.
    """
    from scipy import ndimage

    y8 = naive_luminance(img)
    h_img, w_img = y8.shape
    f = interp_scale
    out = {k: np.zeros(len(coords), np.float32) for k in STAT_NAMES}
    for i, (y, x) in enumerate(np.asarray(coords)):
        t8 = y8[y:min(y + size, h_img), x:min(x + size, w_img)]
        t = t8.astype(np.float64)
        p = np.bincount(t8.ravel(), minlength=256) / t8.size
        p = p[p > 0]
        gx = ndimage.sobel(t, axis=1, mode="nearest")
        gy = ndimage.sobel(t, axis=0, mode="nearest")
        lap = ndimage.laplace(t, mode="nearest")
        hc, wc = t.shape[0] // f * f, t.shape[1] // f * f
        if hc and wc:
            crop = t[:hc, :wc]
            small = crop.reshape(hc // f, f, wc // f, f).mean(axis=(1, 3))
            ierr = float(np.mean((crop - _bilinear_up(small, f)) ** 2))
        else:
            ierr = 0.0
        out["mean"][i] = t.mean()
        out["var"][i] = t.var()
        out["entropy"][i] = -(p * np.log2(p)).sum()
        out["grad_energy"][i] = np.mean(gx * gx + gy * gy)
        out["lap_var"][i] = lap.var()
        out["interp_err"][i] = ierr
    return out


def naive_embed(model: nn.Module, patches: np.ndarray, input_size: int, mean: tuple, std: tuple,
                batch_size: int = 64) -> np.ndarray:
    """timm eager, NCHW fp32: ``uint8 N x h x w x C`` -> ``float32 N x D``."""
    outs = []
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    model = model.eval().to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        for start in range(0, len(patches), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(patches[start:start + batch_size]))
            x = x.permute(0, 3, 1, 2).float() / 255.0
            if x.shape[1] == 1:
                x = x.repeat(1, 3, 1, 1)
            if x.shape[-1] != input_size or x.shape[-2] != input_size:
                x = F.interpolate(x, size=(input_size, input_size), mode="bilinear", antialias=True,
                                  align_corners=False)
            outs.append(model(((x - m) / s).contiguous()).numpy())
    return np.concatenate(outs)


def naive_kmeans(x: np.ndarray, k: int, seed: int, iters: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn KMeans (Lloyd, one start) on L2-normalised rows: ``(centroids, labels)``."""
    from sklearn.cluster import KMeans

    xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters=k, n_init=1, max_iter=iters, tol=0.0, random_state=seed, algorithm="lloyd")
    km.fit(xn)
    return km.cluster_centers_.astype(np.float32), km.labels_


def naive_kcenter(x: np.ndarray, budget: int, first: int = 0) -> np.ndarray:
    """DeepCore-style greedy: a ``(budget, N)`` distance matrix, min over filled rows each step.

    Returns ``(budget,)`` int64 picks; the first is ``first``, ties -> lowest index.
    """
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    n = xt.shape[0]
    dis = torch.full((budget, n), -1.0)
    picks = [first]
    for i in range(budget):
        dis[i] = torch.cdist(xt[picks[-1]][None], xt)[0]
        mins = dis[: i + 1].min(0).values
        mins[picks] = -1.0
        if i + 1 < budget:
            picks.append(int(torch.argmax(mins)))
    return np.asarray(picks, dtype=np.int64)
