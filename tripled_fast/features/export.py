"""ONNX export of feature backbones (cached on disk) and numerical parity checks.

The exported graph maps the *normalised* backbone input ``B x 3 x S x S`` float32 (dynamic
``B``) to ``B x D`` float32 features; preprocessing (resize + normalise) stays in torch, see
:func:`tripled_fast.features.extract.prepare_input`.
"""
from __future__ import annotations

import copy
import hashlib
import os
import re
import warnings
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch import nn

from tripled_fast.errors import BackendUnavailable
from tripled_fast.features.backbones import BackboneInfo

Precision = Literal["fp32", "fp16"]
INPUT_NAME = "input"
OUTPUT_NAME = "features"


def state_digest(model: nn.Module) -> str:
    """SHA-256 (hex) over the names, dtypes, shapes and bytes of ``model``'s state dict."""
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


class _HalfPrecision(nn.Module):
    """float32 in -> half-precision body -> float32 out (for strongly typed fp16 engines)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model.half()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.half()).float()


def onnx_cache_path(model: nn.Module, info: BackboneInfo, cache_dir: str | Path, *,
                    opset: int = 17, precision: Precision = "fp32") -> Path:
    """File name keyed by model name, weights hash, input size, opset and precision."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", info.name)
    return Path(cache_dir) / f"{safe}-{state_digest(model)[:16]}-s{info.input_size}-op{opset}-{precision}.onnx"


def export_onnx(model: nn.Module, info: BackboneInfo, cache_dir: str | Path, *,
                opset: int = 17, precision: Precision = "fp32") -> Path:
    """Export ``model`` to ONNX under ``cache_dir`` (reused when already there) and return the path.

    Graph: input ``"input"`` float32 ``B x 3 x S x S`` (``B`` dynamic, ``S = info.input_size``),
    output ``"features"`` float32 ``B x D``. ``precision="fp16"`` exports a half-precision body
    with float32 input/output casts (what a strongly typed fp16 TensorRT engine needs). The file
    is written to a temporary name and renamed. Uses the TorchScript exporter when this torch
    still has it, else the ``torch.export`` exporter (needs ``onnxscript``, opset >= 18).
    Raises ``BackendUnavailable`` when both exporters fail.
    """
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision: expected 'fp32' or 'fp16', got {precision!r}")
    path = onnx_cache_path(model, info, cache_dir, opset=opset, precision=precision)
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    param = next(iter(model.parameters()), None)
    device = param.device if param is not None else torch.device("cpu")  # trace where the model lives
    net: nn.Module = copy.deepcopy(model).float().eval()
    if precision == "fp16":
        net = _HalfPrecision(net)
    dummy = torch.zeros(2, 3, info.input_size, info.input_size, device=device)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    errors: list[str] = []
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                torch.onnx.export(
                    net, (dummy,), str(tmp), dynamo=False, opset_version=opset,
                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                    dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                    do_constant_folding=True,
                )
            except Exception as exc:  # noqa: BLE001 - legacy exporter missing or failing
                errors.append(f"torchscript exporter: {exc}".splitlines()[0])
                tmp.unlink(missing_ok=True)
                batch = torch.export.Dim("batch", min=1, max=65536)
                program = torch.onnx.export(
                    net, (dummy,), dynamo=True, opset_version=max(opset, 18),
                    input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                    dynamic_shapes=({0: batch},), external_data=False,
                )
                program.save(str(tmp))
        import onnx

        onnx.checker.check_model(str(tmp))
    except Exception as exc:  # noqa: BLE001
        tmp.unlink(missing_ok=True)
        errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise BackendUnavailable(f"ONNX export of {info.name} failed: {'; '.join(errors)}") from None
    os.replace(tmp, path)
    return path


def cosine_rows(a: np.ndarray, b: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Row-wise cosine similarity of two ``N x D`` arrays (float64 maths) -> ``N``.

    Two all-zero rows count as identical (1.0): a ReLU-headed backbone maps flat patches to the
    zero vector, and a runner reproducing that exactly is in parity. A zero row against a
    non-zero one gives 0.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"cosine_rows: expected two N x D arrays of equal shape, got {a.shape} and {b.shape}")
    num = (a * b).sum(1)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    cos = num / np.maximum(na * nb, eps)
    cos[(na == 0) & (nb == 0)] = 1.0
    return cos


def parity(reference_fn: Callable[[np.ndarray], np.ndarray],
           candidate_fn: Callable[[np.ndarray], np.ndarray],
           patches: np.ndarray) -> float:
    """Minimum row-wise cosine similarity between two feature functions on ``patches``.

    Both functions map ``uint8 N x h x w x C`` patches to ``N x D`` features; 1.0 means
    identical directions for every patch.
    """
    if len(patches) == 0:
        raise ValueError("parity: expected at least one patch")
    return float(cosine_rows(reference_fn(patches), candidate_fn(patches)).min())
