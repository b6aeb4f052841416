"""No-reference quality of every image in a folder (backs ``tripled-fast iqa FOLDER``)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tripled_fast.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "SUPPORTED_METRICS", "read_image", "iqa_image", "iqa_folder"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
SUPPORTED_METRICS = ("brisque", "piqe")


def read_image(path: Path) -> np.ndarray:
    """uint8 ``H x W x C`` image, through ``tripled_fast.data.decode.decode_image`` when present."""
    try:
        from tripled_fast.data.decode import decode_image  # type: ignore[attr-defined]
    except ImportError:
        decode_image = None
    if decode_image is not None:
        return np.asarray(decode_image(path))
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L") if im.mode in ("L", "I;16", "I", "F", "1", "LA") else im.convert("RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path}: cannot decode image ({exc})") from None
    return arr[..., None] if arr.ndim == 2 else arr


def iqa_image(img: np.ndarray, metrics: Sequence[str] = SUPPORTED_METRICS) -> dict[str, float]:
    """The requested no-reference scores of one uint8 image (lower is better for both)."""
    unknown = [m for m in metrics if m not in SUPPORTED_METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown {unknown[0]!r}, expected some of {list(SUPPORTED_METRICS)}")
    out: dict[str, float] = {}
    for name in metrics:
        if name == "brisque":
            from tripled_fast.metrics.brisque import brisque_score

            out["brisque"] = brisque_score(img)
        else:
            from tripled_fast.metrics.piqe import piqe_score

            out["piqe"] = piqe_score(img)[0]
    return out


def iqa_folder(path: str | Path, metrics: Sequence[str] = SUPPORTED_METRICS) -> list[dict]:
    """Score every image file directly inside ``path`` (sorted by name).

    Returns one dict per image: ``name``, ``path``, ``height``, ``width`` and one key per metric.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"{folder}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    rows = []
    for f in files:
        img = read_image(f)
        row: dict = {"name": f.name, "path": str(f), "height": int(img.shape[0]), "width": int(img.shape[1])}
        row.update(iqa_image(img, metrics))
        rows.append(row)
    return rows
