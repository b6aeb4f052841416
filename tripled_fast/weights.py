"""Safe loading of weight files: safetensors, or torch files through ``weights_only=True``.

Nothing here ever unpickles arbitrary objects: a torch file whose pickle asks for anything but
tensors and plain containers is refused with a one-line ``ValueError`` naming the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any


def load_state_file(path: str | Path) -> Any:
    """Read ``path`` (``.safetensors`` or a weights-only torch file) onto the CPU.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is unreadable or its pickle holds more than tensors (one line).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weight file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - re-raised with the file name
            raise ValueError(f"{path}: not a readable safetensors file ({_first_line(exc)})") from None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(
            f"{path}: refused by torch.load(weights_only=True) ({_first_line(exc)}); "
            "save a plain state dict or a safetensors file"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
