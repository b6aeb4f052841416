"""Model checkpoints as safetensors files with JSON metadata, written atomically.

The metadata dict is stored as one JSON string under the safetensors header key ``"meta"``, so a
checkpoint is a single file that any safetensors reader opens and that is either wholly present
or absent after a crash.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from ..runfiles import atomic_path

_META_KEY = "meta"


def clean_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CPU, contiguous, unshared copies; ``torch.compile`` / DataParallel key prefixes removed."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.replace("_orig_mod.", "")
        while key.startswith("module."):
            key = key[len("module."):]
        # a fresh contiguous copy: safetensors refuses shared storage, and never alias the live model
        out[key] = value.detach().to("cpu").clone(memory_format=torch.contiguous_format)
    return out


def save_tensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Write ``tensors`` and JSON-serialisable ``meta`` to ``path`` atomically."""
    header = {_META_KEY: json.dumps(meta, sort_keys=True, default=_json_default)}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(clean_state_dict(tensors), str(tmp), metadata=header)


def load_tensors(path: str | os.PathLike, device: str = "cpu") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a file written by :func:`save_tensors` (or any safetensors file: meta is then ``{}``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        with safe_open(str(path), framework="pt", device=device) as f:
            header = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error types for damaged files
        raise ValueError(f"{path}: not a readable safetensors file ({exc})") from None
    try:
        meta = json.loads(header.get(_META_KEY, "{}"))
    except ValueError:
        raise ValueError(f"{path}: checkpoint metadata is not valid JSON") from None
    return tensors, meta


def save_checkpoint(model: nn.Module | dict[str, torch.Tensor], path: str | os.PathLike, meta: dict[str, Any]) -> None:
    """Save a model's state dict (or a state dict) with ``meta`` (e.g. arch, kwargs, metrics)."""
    state = model.state_dict() if isinstance(model, nn.Module) else model
    save_tensors(path, state, meta)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Return ``(state_dict, meta)`` of a checkpoint written by :func:`save_checkpoint`."""
    return load_tensors(path)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"checkpoint meta: {type(obj).__name__} is not JSON serialisable")
