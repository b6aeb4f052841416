"""Image decoding into the library's ``uint8 H x W x C`` convention (Pillow; optional DALI).

Pillow path (:func:`decode_image`):

* EXIF orientation is applied (``ImageOps.exif_transpose``);
* ``L`` / ``1`` / ``LA`` -> gray ``H x W x 1`` (alpha dropped); ``RGB`` stays;
  palette, ``RGBA``, ``CMYK``, ``YCbCr`` ... -> ``RGB`` (alpha dropped);
* 16-bit gray (``I;16*``, ``I``) -> 8 bit as ``v >> 8`` (the mapping Pillow itself applies to
  48-bit RGB PNGs and OpenCV applies to 16-bit files; exact for values ``257 * k``);
* the whole file is decoded (``load()``), so truncated or corrupt files raise
  :class:`~tripled_fast.errors.DataError` naming the file. ``LOAD_TRUNCATED_IMAGES`` is never set.

``color``: ``auto`` keeps the file's channel count (1 or 3), ``gray`` converts colour with the
project's integer luminance ``Y8 = (77 R + 150 G + 29 B + 128) >> 8``, ``rgb`` replicates gray.

DALI path (:func:`decode_batch` with ``decoder="dali"``): 8-bit PNG / JPEG files with ``L`` or
``RGB`` content go through ``fn.readers.file`` + ``fn.decoders.image`` (``mixed`` device on a CUDA
machine, ``cpu`` with ``device_id=None`` otherwise); everything else (16-bit, palette, CMYK,
alpha, other formats) goes through Pillow. Colour conversion is shared, so both paths give the
same ``Y8`` gray.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from tripled_fast.errors import BackendUnavailable, DataError

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")

# Pillow format name -> file extensions that normally carry it
FORMAT_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "PNG": (".png",),
    "JPEG": (".jpg", ".jpeg"),
    "BMP": (".bmp",),
    "TIFF": (".tif", ".tiff"),
    "WEBP": (".webp",),
}

_GRAY_MODES = ("L", "1", "LA", "La")
_GRAY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_TO_RGB_MODES = ("RGB", "P", "PA", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")
_COLORS = ("auto", "gray", "rgb")
_DECODERS = ("auto", "pil", "dali")
_EXIF_ORIENTATION = 0x0112


def is_image_file(name: str | os.PathLike) -> bool:
    """True when the file name has one of :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(os.fspath(name))[1].lower() in IMAGE_EXTENSIONS


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@dataclass(frozen=True)
class ImageInfo:
    """Header facts about an image file (no pixel decoding)."""

    path: str
    format: str          # Pillow format name ("PNG", "JPEG", ...)
    mode: str            # Pillow mode as stored ("L", "RGB", "P", "I;16", ...)
    height: int          # after EXIF orientation
    width: int
    bit_depth: int       # bits per sample (16 for 16-bit PNG / I;16 modes, else 8)
    orientation: int     # EXIF orientation tag (1 = none)
    has_alpha: bool      # alpha channel or palette / tRNS transparency

    @property
    def channels(self) -> int:
        """Channel count :func:`decode_image` returns under ``color="auto"``."""
        return 1 if self.mode in _GRAY_MODES or self.mode in _GRAY16_MODES else 3


def _png_bit_depth(path: str) -> int:
    """Bit depth byte of a PNG's IHDR chunk (8 if it cannot be read)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(26)
    except OSError:
        return 8
    if len(head) >= 25 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return int(head[24])
    return 8


def _open(path: str):
    """Open with Pillow (lazy); DataError for missing, empty or unidentifiable files."""
    from PIL import Image, UnidentifiedImageError

    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read file ({_first_line(exc)})") from None
    if size == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        return Image.open(path)
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a recognised image file") from None
    except Image.DecompressionBombError as exc:
        raise DataError(f"{path}: {_first_line(exc)}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"{path}: cannot read image header ({_first_line(exc)})") from None


def _orientation(im) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION, 1)
        return int(value) if value in range(1, 9) else 1
    except Exception:  # malformed EXIF: decode_image's exif_transpose will ignore it too
        return 1


def probe_image(path: str | os.PathLike) -> ImageInfo:
    """Read an image's header: format, mode, size after EXIF orientation, bit depth, alpha."""
    path = os.fspath(path)
    with _open(path) as im:
        w, h = im.size
        orientation = _orientation(im)
        mode = im.mode
        fmt = im.format or ""
        has_alpha = "A" in mode or "a" in mode or "transparency" in im.info
    if orientation in (5, 6, 7, 8):
        h, w = w, h
    depth = 16 if mode in _GRAY16_MODES else 8
    if fmt == "PNG":
        depth = _png_bit_depth(path)
    return ImageInfo(path, fmt, mode, h, w, depth, orientation, has_alpha)


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(height, width)`` as :func:`decode_image` will return it, from the header only."""
    info = probe_image(path)
    return info.height, info.width


def to_color(img: np.ndarray, color: str) -> np.ndarray:
    """Convert ``uint8 H x W x C`` between gray and RGB: ``auto`` (unchanged), ``gray``, ``rgb``."""
    if color not in _COLORS:
        raise ValueError(f"color: expected one of {list(_COLORS)}, got {color!r}")
    c = img.shape[2]
    if color == "gray" and c == 3:
        rgb = img.astype(np.uint32)
        y = (77 * rgb[..., 0] + 150 * rgb[..., 1] + 29 * rgb[..., 2] + 128) >> 8
        return y.astype(np.uint8)[:, :, None]
    if color == "rgb" and c == 1:
        return np.repeat(img, 3, axis=2)
    return img


def _pil_to_array(im, path: str) -> np.ndarray:
    mode = im.mode
    if mode in _GRAY16_MODES:
        arr = np.asarray(im).astype(np.int64)
        return (np.clip(arr, 0, 65535) >> 8).astype(np.uint8)[:, :, None]
    if mode == "L":
        return np.asarray(im, dtype=np.uint8)[:, :, None]
    if mode in _GRAY_MODES:
        return np.asarray(im.convert("L"), dtype=np.uint8)[:, :, None]
    if mode == "RGB":
        return np.asarray(im, dtype=np.uint8)
    if mode in _TO_RGB_MODES:
        if mode == "P" and "transparency" in im.info:
            im = im.convert("RGBA")  # avoids Pillow's palette-transparency warning
        return np.asarray(im.convert("RGB"), dtype=np.uint8)
    raise DataError(f"{path}: unsupported image mode {mode!r} (expected 8/16-bit gray, RGB, palette, CMYK)")


def decode_image(path: str | os.PathLike, color: str = "auto") -> np.ndarray:
    """Decode one file fully with Pillow -> ``uint8 H x W x C`` (C = 1 or 3, see module doc)."""
    from PIL import Image, ImageOps

    if color not in _COLORS:
        raise ValueError(f"color: expected one of {list(_COLORS)}, got {color!r}")
    path = os.fspath(path)
    with _open(path) as im:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # EXIF parse warnings are not ours to report
                im.load()
                oriented = ImageOps.exif_transpose(im)
            arr = _pil_to_array(oriented, path)
        except DataError:
            raise
        except Image.DecompressionBombError as exc:
            raise DataError(f"{path}: {_first_line(exc)}") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise DataError(f"{path}: cannot decode image ({_first_line(exc)})") from None
    return to_color(np.ascontiguousarray(arr), color)


# --------------------------------------------------------------------------- DALI
def _dali_available() -> bool:
    try:
        import nvidia.dali  # noqa: F401
    except Exception:
        return False
    return True


def resolve_decoder(name: str) -> str:
    """``auto`` -> ``dali`` when ``nvidia.dali`` imports, else ``pil``.

    Raises BackendUnavailable when ``dali`` is asked for explicitly and cannot be imported,
    ValueError for an unknown name.
    """
    if name not in _DECODERS:
        raise ValueError(f"decoder: expected one of {list(_DECODERS)}, got {name!r}")
    if name == "pil":
        return "pil"
    if _dali_available():
        return "dali"
    if name == "dali":
        raise BackendUnavailable(
            "decoder 'dali': nvidia.dali is not importable (pip install nvidia-dali-cuda130)"
        )
    return "pil"


def _cuda_device_count() -> int:
    try:
        import nvidia.dali.backend as backend

        return int(backend.GetCUDADeviceCount())
    except Exception:
        return 0


def dali_can_decode(info: ImageInfo) -> bool:
    """True for files the DALI path decodes: 8-bit PNG / JPEG, gray or RGB, no alpha."""
    return (
        info.format in ("PNG", "JPEG")
        and info.mode in ("L", "RGB")
        and info.bit_depth == 8
        and not info.has_alpha
    )


def dali_decode(paths: Sequence[str], gray: bool, batch_size: int = 16) -> list[np.ndarray]:
    """Decode ``paths`` in order with one DALI pipeline; ``uint8 H x W x C`` arrays."""
    from nvidia.dali import fn, pipeline_def, types

    gpu = _cuda_device_count() > 0
    bs = max(1, min(batch_size, len(paths)))

    @pipeline_def(
        batch_size=bs,
        num_threads=max(1, min(4, os.cpu_count() or 1)),
        device_id=0 if gpu else None,
        prefetch_queue_depth=1,
    )
    def _pipe():
        encoded, _ = fn.readers.file(
            files=[os.fspath(p) for p in paths], random_shuffle=False, pad_last_batch=True
        )
        return fn.decoders.image(
            encoded,
            device="mixed" if gpu else "cpu",
            output_type=types.GRAY if gray else types.RGB,
            adjust_orientation=True,
        )

    pipe = _pipe()
    pipe.build()
    out: list[np.ndarray] = []
    while len(out) < len(paths):
        (batch,) = pipe.run()
        if gpu:
            batch = batch.as_cpu()
        for i in range(len(batch)):
            out.append(np.array(batch.at(i), dtype=np.uint8, copy=True))
    del pipe
    return out[: len(paths)]


def decode_batch(
    paths: Sequence[str | os.PathLike], *, decoder: str = "pil", color: str = "auto"
) -> list[np.ndarray]:
    """Decode many files, in order, into ``uint8 H x W x C`` arrays (same result as Pillow).

    ``decoder``: ``pil``, ``dali`` or ``auto`` (see :func:`resolve_decoder`). With DALI,
    files it cannot handle go through Pillow; if a DALI batch fails (e.g. a corrupt file)
    those files are decoded through Pillow, which raises a DataError naming the bad file.
    """
    if color not in _COLORS:
        raise ValueError(f"color: expected one of {list(_COLORS)}, got {color!r}")
    paths = [os.fspath(p) for p in paths]
    if resolve_decoder(decoder) == "pil" or not paths:
        return [decode_image(p, color) for p in paths]

    out: list[np.ndarray | None] = [None] * len(paths)
    groups: dict[bool, list[int]] = {True: [], False: []}  # gray? -> indices
    for i, p in enumerate(paths):
        info = probe_image(p)
        if dali_can_decode(info):
            groups[info.mode == "L"].append(i)
        else:
            out[i] = decode_image(p, color)
    for gray, idx in groups.items():
        if not idx:
            continue
        try:
            arrays = dali_decode([paths[i] for i in idx], gray=gray)
        except Exception as exc:
            # a corrupt file fails the whole DALI batch: Pillow raises a DataError naming it
            arrays = [decode_image(paths[i], "auto") for i in idx]
            warnings.warn(f"DALI could not decode {len(idx)} files ({_first_line(exc)}); "
                          f"decoded them with Pillow", RuntimeWarning, stacklevel=2)
        for i, arr in zip(idx, arrays):
            if arr.ndim == 2:
                arr = arr[:, :, None]
            out[i] = to_color(arr, color)
    return out  # type: ignore[return-value]
