"""Per-patch complexity scores.

Three ingredients, all mapped to percentile ranks in ``[0, 1]`` so they can be blended with
plain weights whatever their original scale:

* :func:`lowlevel_complexity` -- a weighted blend of the low-level statistics written by
  ``scoring.stats`` (entropy, gradient energy, Laplacian variance, interpolation error).
* :class:`FeatureHead` / :func:`fit_feature_head` -- a small MLP trained on the run's own data to
  predict the low-level complexity from backbone features (TripleD trains its ViT to predict
  entropy in the same spirit); its prediction generalises the hand-made score to what the
  backbone "sees".
* :func:`feature_variance` -- the spread of a patch's feature vector, a cheap content proxy.

Everything is vectorised and linear in memory; feature matrices may be ``np.memmap`` (float16
on disk) and are read in row chunks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata
from torch import nn

from tripled_fast.config import ScoreConfig

#: statistic column -> ScoreConfig weight attribute
STAT_WEIGHTS: dict[str, str] = {
    "entropy": "w_entropy",
    "grad_energy": "w_gradient",
    "lap_var": "w_laplacian",
    "interp_err": "w_interp",
}

_ROW_CHUNK = 65536


def percentile_rank(values: np.ndarray) -> np.ndarray:
    """Percentile ranks of a 1-D array, ties averaged.

    Args:
        values: ``(N,)`` finite numbers.

    Returns:
        ``(N,)`` float32 in ``[0, 1]``: ``(rank - 1) / (N - 1)`` with 1-based average ranks, so the
        smallest value maps to 0, the largest to 1 and equal values share one rank. A constant
        array (and ``N == 1``) maps to 0.5 everywhere.
    """
    values = np.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"percentile_rank: expected a 1-D array, got shape {values.shape}")
    n = values.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    if not np.all(np.isfinite(values)):
        raise ValueError("percentile_rank: expected finite values, got NaN or inf")
    if n == 1:
        return np.full(1, 0.5, dtype=np.float32)
    ranks = rankdata(values, method="average")
    return ((ranks - 1.0) / (n - 1.0)).astype(np.float32)


def lowlevel_complexity(stats: dict[str, np.ndarray], cfg: ScoreConfig) -> np.ndarray:
    """Weighted blend of low-level statistics, as percentile ranks.

    Each statistic named in :data:`STAT_WEIGHTS` with a non-zero weight is converted to its
    percentile rank; the ranks are averaged with the ``cfg.w_*`` weights and the average is
    ranked again, so the result is uniform on ``[0, 1]``. Statistics with weight 0 are never read
    (they may be absent), so they have no influence at all.

    Args:
        stats: column name -> ``(N,)`` array (extra columns such as ``mean`` are ignored).
        cfg: the weights ``w_entropy``, ``w_gradient``, ``w_laplacian``, ``w_interp`` (>= 0).

    Returns:
        ``(N,)`` float32 in ``[0, 1]``; higher = more complex.
    """
    weights = {name: float(getattr(cfg, attr)) for name, attr in STAT_WEIGHTS.items()}
    for name, w in weights.items():
        if not np.isfinite(w) or w < 0:
            raise ValueError(f"scores.{STAT_WEIGHTS[name]}: expected a finite weight >= 0, got {w}")
    used = {name: w for name, w in weights.items() if w > 0}
    if not used:
        raise ValueError(
            "scores.w_entropy/w_gradient/w_laplacian/w_interp: expected at least one weight > 0"
        )
    missing = [name for name in used if name not in stats]
    if missing:
        raise ValueError(
            f"lowlevel_complexity: statistic column(s) {missing} missing (weights > 0 need them)"
        )
    n = None
    total = None
    for name, w in used.items():
        col = np.asarray(stats[name])
        if col.ndim != 1 or (n is not None and col.shape[0] != n):
            raise ValueError(
                f"lowlevel_complexity: column {name!r} expected shape ({n if n is not None else 'N'},),"
                f" got {col.shape}"
            )
        if not np.all(np.isfinite(col)):
            raise ValueError(f"lowlevel_complexity: column {name!r} has NaN or inf values")
        n = col.shape[0]
        term = w * percentile_rank(col).astype(np.float64)
        total = term if total is None else total + term
    assert total is not None
    return percentile_rank(total / sum(used.values()))


def combine_complexity(lowlevel: np.ndarray, head_pred: np.ndarray | None,
                       head_weight: float) -> np.ndarray:
    """Blend the low-level complexity with the feature head's prediction.

    ``rank((1 - w) * rank(lowlevel) + w * rank(head_pred))`` with ``w = head_weight``.

    Args:
        lowlevel: ``(N,)`` low-level complexity (any scale; ranks are taken).
        head_pred: ``(N,)`` head prediction, or None (then ``head_weight`` must be 0).
        head_weight: blend weight in ``[0, 1]``.

    Returns:
        ``(N,)`` float32 percentile ranks in ``[0, 1]``. With ``head_weight == 0`` this is the rank
        of ``lowlevel`` (identical to ``lowlevel`` when that already is a percentile rank).
    """
    w = float(head_weight)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"scores.head_weight: expected a value in [0, 1], got {head_weight}")
    low = percentile_rank(np.asarray(lowlevel))
    if w == 0.0:
        return low
    if head_pred is None:
        raise ValueError("combine_complexity: head_pred is None but head_weight > 0")
    head = np.asarray(head_pred)
    if head.shape != low.shape:
        raise ValueError(
            f"combine_complexity: head_pred expected shape {low.shape}, got {head.shape}"
        )
    blend = (1.0 - w) * low.astype(np.float64) + w * percentile_rank(head).astype(np.float64)
    return percentile_rank(blend)


def feature_variance(features: np.ndarray, chunk: int = _ROW_CHUNK) -> np.ndarray:
    """Variance across the feature dimensions of each patch, as percentile ranks.

    Args:
        features: ``(N, D)`` array (float16/float32, may be a memmap; read in row chunks).
        chunk: rows per chunk.

    Returns:
        ``(N,)`` float32 in ``[0, 1]``.
    """
    if features.ndim != 2:
        raise ValueError(f"feature_variance: expected an (N, D) array, got shape {features.shape}")
    n = features.shape[0]
    out = np.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        block = np.asarray(features[start:start + chunk], dtype=np.float32)
        out[start:start + block.shape[0]] = block.var(axis=1, dtype=np.float64)
    return percentile_rank(out)


# --------------------------------------------------------------------------- feature head
def feature_head(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
                 w1: torch.Tensor, b1: torch.Tensor,
                 w2: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Functional feature head: standardise, ``Linear(D, H) -> GELU -> Linear(H, 1)``.

    Args:
        x: ``(B, D)`` raw features.
        mean, std: ``(D,)`` standardisation statistics.
        w1: ``(H, D)``, b1: ``(H,)``, w2: ``(1, H)``, b2: ``(1,)``.

    Returns:
        ``(B,)`` predictions.
    """
    z = (x - mean) / std
    return F.linear(F.gelu(F.linear(z, w1, b1)), w2, b2).squeeze(-1)


class FeatureHead(nn.Module):
    """MLP ``D -> hidden -> 1`` predicting a complexity score from (raw) backbone features.

    The feature standardisation is stored as buffers, so the module is applied to raw features.
    The output is in the (de-standardised) units of the training target.

    Shapes: input ``(B, D)``, output ``(B,)``.
    """

    def __init__(self, dim: int, hidden: int = 128, device: torch.device | str | None = None) -> None:
        super().__init__()
        if dim < 1 or hidden < 1:
            raise ValueError(f"FeatureHead: expected dim >= 1 and hidden >= 1, got {dim}, {hidden}")
        self.fc1 = nn.Linear(dim, hidden, device=device)
        self.fc2 = nn.Linear(hidden, 1, device=device)
        self.register_buffer("feat_mean", torch.zeros(dim, device=device))
        self.register_buffer("feat_std", torch.ones(dim, device=device))
        self.register_buffer("target_mean", torch.zeros((), device=device))
        self.register_buffer("target_std", torch.ones((), device=device))

    def forward_standardised(self, x: torch.Tensor) -> torch.Tensor:
        """Prediction in standardised target units (what training optimises)."""
        return feature_head(x, self.feat_mean, self.feat_std,
                            self.fc1.weight, self.fc1.bias, self.fc2.weight, self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_standardised(x) * self.target_std + self.target_mean


@dataclass
class HeadResult:
    """Output of :func:`fit_feature_head`.

    Attributes:
        pred: ``(N,)`` float32 prediction for every patch (train and validation rows).
        r2_val: coefficient of determination on the held-out validation rows
            (``1 - SSE / SST``; NaN when there are no validation rows).
        model: the trained head (CPU, eval mode).
        val_index: ``(V,)`` int64 row indices used for validation.
    """

    pred: np.ndarray
    r2_val: float
    model: FeatureHead
    val_index: np.ndarray


def _predict(model: FeatureHead, features: np.ndarray, device: torch.device,
             chunk: int = _ROW_CHUNK) -> np.ndarray:
    out = np.empty(features.shape[0], dtype=np.float32)
    with torch.no_grad():
        for start in range(0, features.shape[0], chunk):
            block = torch.from_numpy(np.asarray(features[start:start + chunk], dtype=np.float32))
            out[start:start + block.shape[0]] = model(block.to(device)).float().cpu().numpy()
    return out


def fit_feature_head(features: np.ndarray, target: np.ndarray, *, epochs: int, seed: int,
                     val_fraction: float = 0.2, batch_size: int = 512, lr: float = 2e-3,
                     weight_decay: float = 1e-4, hidden: int = 128,
                     max_train: int | None = 200_000, device: str = "cpu") -> HeadResult:
    """Train a :class:`FeatureHead` to predict ``target`` from ``features``.

    A seeded random ``val_fraction`` of the rows is held out; the head is trained with Adam on
    minibatches of the remaining rows (at most ``max_train`` of them, drawn with the same
    generator, so a 10M-patch pool trains on a bounded sample) for ``epochs`` passes, on
    standardised features and a standardised target. The returned prediction covers all rows.

    Args:
        features: ``(N, D)`` float array (may be a float16 memmap).
        target: ``(N,)`` finite regression target (e.g. :func:`lowlevel_complexity`).
        epochs: passes over the training rows (>= 1).
        seed: seeds the split, the initialisation and the minibatch order (own ``torch.Generator``).
        val_fraction: share of rows held out, in ``[0, 1)``.
        batch_size: minibatch size (>= 1); ``batch_size >= n_train`` gives full-batch Adam.
        max_train: cap on training rows (None = no cap).
        device: torch device for training and prediction.

    Returns:
        :class:`HeadResult`.
    """
    if features.ndim != 2:
        raise ValueError(f"fit_feature_head: expected (N, D) features, got shape {features.shape}")
    n, dim = features.shape
    target = np.asarray(target, dtype=np.float64)
    if target.shape != (n,):
        raise ValueError(f"fit_feature_head: target expected shape ({n},), got {target.shape}")
    if not np.all(np.isfinite(target)):
        raise ValueError("fit_feature_head: target has NaN or inf values")
    if epochs < 1:
        raise ValueError(f"fit_feature_head: expected epochs >= 1, got {epochs}")
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"fit_feature_head: expected val_fraction in [0, 1), got {val_fraction}")
    if batch_size < 1:
        raise ValueError(f"fit_feature_head: expected batch_size >= 1, got {batch_size}")
    if n < 2:
        raise ValueError(f"fit_feature_head: expected at least 2 rows, got {n}")

    gen = torch.Generator().manual_seed(int(seed))
    perm = torch.randperm(n, generator=gen).numpy()
    n_val = min(int(round(val_fraction * n)), n - 1)
    val_idx = np.sort(perm[:n_val])
    train_idx = perm[n_val:]
    if max_train is not None and train_idx.shape[0] > max_train:
        train_idx = train_idx[:max_train]
    train_idx = np.sort(train_idx)  # sorted reads are friendlier to memmaps

    x_train = torch.from_numpy(np.asarray(features[train_idx], dtype=np.float32))
    y_train = torch.from_numpy(target[train_idx].astype(np.float32))
    if not torch.isfinite(x_train).all():
        raise ValueError("fit_feature_head: features have NaN or inf values")

    dev = torch.device(device)
    model = torch.nn.utils.skip_init(FeatureHead, dim, hidden)  # no draw from the global RNG
    with torch.no_grad():
        # seeded initialisation (PyTorch's default Linear bounds) from the own generator
        for lin in (model.fc1, model.fc2):
            bound = 1.0 / np.sqrt(lin.in_features)
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.uniform_(-bound, bound, generator=gen)
        model.feat_mean.copy_(x_train.mean(0))
        model.feat_std.copy_(x_train.std(0, unbiased=False).clamp_min(1e-6))
        model.target_mean.fill_(float(y_train.mean()))
        model.target_std.fill_(max(float(y_train.std(unbiased=False)), 1e-6))
    model.to(dev)
    x_train = x_train.to(dev)
    y_std = ((y_train - model.target_mean.cpu()) / model.target_std.cpu()).to(dev)

    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n_train = x_train.shape[0]
    bs = min(batch_size, n_train)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(n_train, generator=gen).to(dev)
        for start in range(0, n_train, bs):
            idx = order[start:start + bs]
            loss = F.mse_loss(model.forward_standardised(x_train[idx]), y_std[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    model.eval()

    pred = _predict(model, features, dev)
    if n_val > 0:
        yv = target[val_idx]
        sst = float(np.sum((yv - yv.mean()) ** 2))
        sse = float(np.sum((yv - pred[val_idx].astype(np.float64)) ** 2))
        r2 = 1.0 - sse / sst if sst > 0 else (1.0 if sse == 0 else float("-inf"))
    else:
        r2 = float("nan")
    return HeadResult(pred=pred, r2_val=float(r2), model=model.cpu(), val_index=val_idx)
