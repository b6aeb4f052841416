"""Seeded synthetic degradations: parse a spec string, apply it to a ``uint8`` image.

Spec grammar (``SourceConfig.degrade``)::

    spec  := op ("+" op)*
    op    := name [":" key "=" value ("," key "=" value)*]

e.g. ``"blur:sigma=1.5+noise:sigma=15+jpeg:quality=40"`` or ``"bicubic:scale=4"``. The same
chain may be given as a list of mappings ``[{"type": "noise", "sigma": 25}]``. Ops run left to
right; each maps a ``uint8`` ``H x W x C`` image (C in {1, 3}) to a ``uint8`` image, computing in
floating point and rounding (half up) + clipping at its end.

Ops and parameters (defaults in brackets):

* ``noise``    additive Gaussian noise; ``sigma`` [25] on the 0-255 scale, ``gray`` [false]: one
               noise field shared by all channels instead of independent per-channel noise.
* ``blur``     isotropic Gaussian blur; ``sigma`` [1.5], ``ksize`` [2*ceil(3 sigma)+1, odd];
               reflect padding without edge repeat (OpenCV ``BORDER_REFLECT_101``).
* ``jpeg``     JPEG round trip through Pillow in memory; ``quality`` [40] in 1..100.
* ``bicubic``  MATLAB ``imresize(img, 1/scale, 'bicubic')`` (antialiased cubic kernel a=-0.5,
               symmetric borders, rounding after each axis as MATLAB does for uint8, as
               BasicSR's ``imresize``); ``scale`` [4] integer down-scaling factor.
* ``lowlight`` ``(factor * I)^gamma`` on [0, 1] intensities, then optional Gaussian noise;
               ``factor`` [0.4] in (0, 1], ``gamma`` [1.5] > 0, ``noise`` [0] sigma on 0-255.
* ``haze``     atmospheric scattering ``I t + A (1 - t)`` with ``t = exp(-beta d)`` and ``d`` a
               smooth seeded depth field in [0, 1] (far at the top); ``beta`` [1.2] >= 0,
               ``A`` [0.9] atmospheric light in [0, 1].
* ``rain``     seeded rain streaks: random seed points (``density`` [0.004] per pixel) drawn as
               anti-aliased motion-blurred lines of ``length`` [20] pixels at ``angle`` [10]
               degrees from vertical, softened, added with weight ``intensity`` [0.6].

Randomness comes only from the ``numpy.random.Generator`` passed to :func:`apply_degradation`.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence, Union

import numpy as np

Spec = Union[str, Sequence[Mapping[str, Any]], Sequence["DegradeOp"]]


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class _Param:
    kind: type                      # int | float | bool
    default: Any
    check: Callable[[Any], bool] = lambda v: True
    expect: str = ""               # human-readable constraint for error messages


def _ge(lo: float) -> Callable[[Any], bool]:
    return lambda v: v >= lo


def _gt(lo: float) -> Callable[[Any], bool]:
    return lambda v: v > lo


def _within(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


_OPS: dict[str, dict[str, _Param]] = {
    "noise": {
        "sigma": _Param(float, 25.0, _ge(0), ">= 0"),
        "gray": _Param(bool, False),
    },
    "blur": {
        "sigma": _Param(float, 1.5, _gt(0), "> 0"),
        "ksize": _Param(int, 0, lambda v: v == 0 or (v >= 1 and v % 2 == 1), "an odd integer >= 1"),
    },
    "jpeg": {"quality": _Param(int, 40, _within(1, 100), "in 1..100")},
    "bicubic": {"scale": _Param(int, 4, _ge(1), ">= 1")},
    "lowlight": {
        "factor": _Param(float, 0.4, lambda v: 0 < v <= 1, "in (0, 1]"),
        "gamma": _Param(float, 1.5, _gt(0), "> 0"),
        "noise": _Param(float, 0.0, _ge(0), ">= 0"),
    },
    "haze": {
        "beta": _Param(float, 1.2, _ge(0), ">= 0"),
        "A": _Param(float, 0.9, _within(0, 1), "in [0, 1]"),
    },
    "rain": {
        "density": _Param(float, 0.004, _within(0, 1), "in [0, 1]"),
        "length": _Param(int, 20, _ge(1), ">= 1"),
        "angle": _Param(float, 10.0, _within(-90, 90), "in [-90, 90] degrees"),
        "intensity": _Param(float, 0.6, _within(0, 1), "in [0, 1]"),
    },
}

# task tag of a source whose spec starts with this op
_TASK_TAG = {
    "noise": "denoise",
    "blur": "deblur",
    "jpeg": "dejpeg",
    "bicubic": "sr",
    "lowlight": "lowlight",
    "haze": "dehaze",
    "rain": "derain",
}


@dataclass(frozen=True)
class DegradeOp:
    """One parsed op with every parameter filled in (defaults included)."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def to_string(self) -> str:
        """Canonical ``name:key=value,...`` form (parses back to an equal op)."""
        if not self.params:
            return self.name
        items = ",".join(f"{k}={_format_value(v)}" for k, v in self.params.items())
        return f"{self.name}:{items}"


def _format_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return repr(v)
    return str(v)


def _convert(raw: Any, p: _Param, where: str) -> Any:
    """Convert a raw (string or number) value to the parameter's type; ValueError on mismatch."""
    if p.kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "1", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("false", "0", "no", "off"):
            return False
        if isinstance(raw, int) and raw in (0, 1):
            return bool(raw)
        raise ValueError(f"{where}: expected true/false, got {raw!r}")
    if isinstance(raw, bool):
        raise ValueError(f"{where}: expected a number, got {raw!r}")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            num = float(text)
        except ValueError:
            raise ValueError(f"{where}: expected a number, got {raw!r}") from None
    elif isinstance(raw, (int, float, np.integer, np.floating)):
        num = float(raw)
    else:
        raise ValueError(f"{where}: expected a number, got {raw!r}")
    if not math.isfinite(num):
        raise ValueError(f"{where}: expected a finite number, got {raw!r}")
    if p.kind is int:
        if not num.is_integer():
            raise ValueError(f"{where}: expected an integer, got {raw!r}")
        return int(num)
    return float(num)


def _make_op(name: str, raw_params: Mapping[str, Any], spec_repr: str) -> DegradeOp:
    name = name.strip().lower()
    if name not in _OPS:
        raise ValueError(
            f"degradation spec {spec_repr}: unknown op {name!r} (known: {', '.join(_OPS)})"
        )
    schema = _OPS[name]
    params: dict[str, Any] = {}
    for key, raw in raw_params.items():
        if key not in schema:
            raise ValueError(
                f"degradation spec {spec_repr}: op {name!r} has no parameter {key!r} "
                f"(allowed: {', '.join(schema)})"
            )
        where = f"degradation spec {spec_repr}: {name}.{key}"
        value = _convert(raw, schema[key], where)
        if not schema[key].check(value):
            raise ValueError(f"{where}: expected {schema[key].expect}, got {raw!r}")
        params[key] = value
    for key, p in schema.items():
        params.setdefault(key, p.default)
    return DegradeOp(name, {k: params[k] for k in schema})


_OP_SPLIT = re.compile(r"\+(?=\s*[A-Za-z_])")  # '+' starting a new op (not '1e+3')


def parse_spec(spec: Spec) -> list[DegradeOp]:
    """Parse a spec string, a list of ``{"type": op, key: value}`` mappings or a list of ops.

    Returns the ops in application order with defaults filled in. An empty string gives ``[]``.
    Raises ValueError naming the spec and the bad op / key / value.
    """
    if isinstance(spec, str):
        text = spec.strip()
        if not text:
            return []
        ops = []
        for chunk in _OP_SPLIT.split(text):
            chunk = chunk.strip()
            if not chunk:
                raise ValueError(f"degradation spec {spec!r}: empty op (stray '+')")
            name, _, rest = chunk.partition(":")
            raw: dict[str, str] = {}
            if rest.strip():
                for item in rest.split(","):
                    key, eq, value = item.partition("=")
                    key = key.strip()
                    if not eq or not key or not value.strip():
                        raise ValueError(
                            f"degradation spec {spec!r}: expected key=value in {name.strip()!r}, "
                            f"got {item.strip()!r}"
                        )
                    if key in raw:
                        raise ValueError(f"degradation spec {spec!r}: {name.strip()}.{key} given twice")
                    raw[key] = value
            ops.append(_make_op(name, raw, repr(spec)))
        return ops
    if isinstance(spec, Sequence):
        ops = []
        for i, item in enumerate(spec):
            if isinstance(item, DegradeOp):
                ops.append(_make_op(item.name, item.params, f"[{i}]"))
                continue
            if not isinstance(item, Mapping) or "type" not in item:
                raise ValueError(
                    f"degradation spec [{i}]: expected a mapping with a 'type' key, got {item!r}"
                )
            raw = {k: v for k, v in item.items() if k != "type"}
            ops.append(_make_op(str(item["type"]), raw, f"[{i}]"))
        return ops
    raise ValueError(f"degradation spec: expected a string or a list of mappings, got {spec!r}")


def spec_to_string(spec: Spec) -> str:
    """Canonical string form of a spec (what the manifest stores)."""
    return "+".join(op.to_string() for op in parse_spec(spec))


def spec_scale(spec: Spec) -> int:
    """Total down-scaling factor of the spec (product of its ``bicubic`` scales; 1 if none)."""
    scale = 1
    for op in parse_spec(spec):
        if op.name == "bicubic":
            scale *= int(op.params["scale"])
    return scale


def spec_task(spec: Spec) -> str:
    """Task tag derived from the first op (``noise`` -> ``denoise`` ...); ``restore`` if empty."""
    ops = parse_spec(spec)
    return _TASK_TAG[ops[0].name] if ops else "restore"


# --------------------------------------------------------------------------- helpers
def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round half up and clip a float array on the 0-255 scale to uint8."""
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def _check_image(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (1, 3):
        desc = f"{img.dtype} {img.shape}" if isinstance(img, np.ndarray) else type(img).__name__
        raise ValueError(f"apply_degradation: expected a uint8 H x W x C image with C in {{1, 3}}, got {desc}")


def _bilinear_upsample(grid: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinearly resample a small 2-D grid to ``h x w`` (corners aligned)."""
    gh, gw = grid.shape
    ys = np.linspace(0, gh - 1, h)
    xs = np.linspace(0, gw - 1, w)
    y0 = np.minimum(np.floor(ys).astype(int), gh - 2)
    x0 = np.minimum(np.floor(xs).astype(int), gw - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    g00 = grid[y0][:, x0]
    g01 = grid[y0][:, x0 + 1]
    g10 = grid[y0 + 1][:, x0]
    g11 = grid[y0 + 1][:, x0 + 1]
    return (g00 * (1 - fy) * (1 - fx) + g01 * (1 - fy) * fx + g10 * fy * (1 - fx) + g11 * fy * fx)


# --------------------------------------------------------------------------- MATLAB bicubic
def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def _resize_weights(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB imresize contributions along one axis: ``(weights, indices)`` both ``out_len x P``.

    Output pixel ``i`` (1-based) maps to input coordinate ``u = i / scale + 0.5 (1 - 1/scale)``;
    when shrinking, the kernel is stretched by ``1/scale`` (antialiasing). Indices are 0-based
    and mirrored symmetrically (edge pixel repeated) into ``[0, in_len)``.
    """
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic(dist * scale) if scale < 1 else _cubic(dist)
    weights = weights / weights.sum(axis=1, keepdims=True)
    keep = np.any(weights != 0, axis=0)  # drop all-zero tap columns (as MATLAB does)
    weights, idx = weights[:, keep], idx[:, keep]
    period = 2 * in_len
    i0 = np.mod(idx.astype(np.int64) - 1, period)
    i0 = np.where(i0 >= in_len, period - 1 - i0, i0)
    return weights, i0


def _resize_axis(x: np.ndarray, axis: int, out_len: int, scale: float, quantize: bool) -> np.ndarray:
    weights, idx = _resize_weights(x.shape[axis], out_len, scale)
    xm = np.moveaxis(x, axis, 0)
    out = np.zeros((out_len,) + xm.shape[1:], dtype=np.float64)
    extra = (slice(None),) + (None,) * (xm.ndim - 1)
    for k in range(weights.shape[1]):
        out += weights[:, k][extra] * xm[idx[:, k]]
    if quantize:
        out = np.floor(np.clip(out, 0.0, 255.0) + 0.5)
    return np.moveaxis(out, 0, axis)


def imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB-compatible bicubic ``imresize(img, scale)`` for ``H x W x C`` arrays.

    Output side = ``ceil(side * scale)``. ``uint8`` input is rounded after each axis and
    returned as ``uint8`` (MATLAB semantics, matching MATLAB-made LR sets to about +-1);
    float input stays float64 without clipping.
    """
    if scale <= 0:
        raise ValueError(f"imresize: scale must be > 0, got {scale}")
    if img.ndim != 3:
        raise ValueError(f"imresize: expected an H x W x C array, got shape {img.shape}")
    quantize = img.dtype == np.uint8
    out = img.astype(np.float64)
    # MATLAB resizes the dimension with the smallest scale first; equal scales: rows first.
    for axis in (0, 1):
        out_len = int(math.ceil(img.shape[axis] * scale))
        out = _resize_axis(out, axis, out_len, scale, quantize)
    return out.astype(np.uint8) if quantize else out


# --------------------------------------------------------------------------- ops
def _op_noise(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    shape = img.shape[:2] + (1,) if p["gray"] else img.shape
    noise = rng.normal(0.0, p["sigma"], size=shape)
    return _to_uint8(img.astype(np.float64) + noise)


def gaussian_kernel1d(sigma: float, ksize: int = 0) -> np.ndarray:
    """Normalised 1-D Gaussian taps; ``ksize=0`` means ``2*ceil(3 sigma)+1``."""
    if ksize <= 0:
        ksize = 2 * int(math.ceil(3.0 * sigma)) + 1
    r = ksize // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return k / k.sum()


def _op_blur(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import correlate1d

    k = gaussian_kernel1d(p["sigma"], p["ksize"])
    x = img.astype(np.float64)
    x = correlate1d(x, k, axis=0, mode="mirror")
    x = correlate1d(x, k, axis=1, mode="mirror")
    return _to_uint8(x)


def _op_jpeg(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    pil = Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=int(p["quality"]))
    buf.seek(0)
    with Image.open(buf) as dec:
        out = np.asarray(dec.convert("L" if img.shape[2] == 1 else "RGB"))
    return out.reshape(img.shape)


def _op_bicubic(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    s = int(p["scale"])
    if s == 1:
        return img.copy()
    return imresize(img, 1.0 / s)


def _op_lowlight(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    x = img.astype(np.float64) / 255.0
    y = np.power(p["factor"] * x, p["gamma"]) * 255.0
    if p["noise"] > 0:
        y = y + rng.normal(0.0, p["noise"], size=img.shape)
    return _to_uint8(y)


def haze_depth(h: int, w: int, rng: np.random.Generator, grid: int = 5) -> np.ndarray:
    """Smooth seeded depth field ``h x w`` in [0, 1]: a top-far vertical ramp plus smooth noise."""
    ramp = np.linspace(1.0, 0.0, h)[:, None] * np.ones((1, w))
    coarse = rng.random((grid, grid))
    smooth = _bilinear_upsample(coarse, h, w)
    d = 0.6 * ramp + 0.4 * smooth
    return np.clip(d, 0.0, 1.0)


def _op_haze(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    t = np.exp(-p["beta"] * haze_depth(h, w, rng))[:, :, None]
    x = img.astype(np.float64) / 255.0
    return _to_uint8((x * t + p["A"] * (1.0 - t)) * 255.0)


def rain_layer(
    h: int, w: int, rng: np.random.Generator, density: float, length: int, angle: float
) -> np.ndarray:
    """Seeded streak layer ``h x w`` in [0, 1]: motion-blurred lines from random seed points."""
    from scipy.ndimage import gaussian_filter

    layer = np.zeros((h, w), dtype=np.float64)
    n = int(rng.binomial(h * w, density)) if density > 0 else 0
    if n == 0:
        return layer
    # seeds may start above/left of the image so streaks enter from the borders too
    cy = rng.uniform(-length / 2.0, h + length / 2.0, size=n)
    cx = rng.uniform(-length / 2.0, w + length / 2.0, size=n)
    amp = rng.uniform(0.5, 1.0, size=n)
    theta = math.radians(angle)
    dy, dx = math.cos(theta), math.sin(theta)
    step = 0.5
    t = np.arange(-length / 2.0, length / 2.0 + 1e-9, step)
    py = (cy[:, None] + t[None, :] * dy).ravel()
    px = (cx[:, None] + t[None, :] * dx).ravel()
    val = np.repeat(amp * step, t.size)
    y0 = np.floor(py).astype(np.int64)
    x0 = np.floor(px).astype(np.int64)
    fy, fx = py - y0, px - x0
    for oy, ox, wgt in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        yy, xx = y0 + oy, x0 + ox
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
        np.add.at(layer, (yy[inside], xx[inside]), (val * wgt)[inside])
    layer = gaussian_filter(layer, sigma=0.6, mode="constant")
    return np.clip(layer / max(layer.max(), 1e-12), 0.0, 1.0)


def _op_rain(img: np.ndarray, p: dict, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    streaks = rain_layer(h, w, rng, p["density"], p["length"], p["angle"])
    return _to_uint8(img.astype(np.float64) + 255.0 * p["intensity"] * streaks[:, :, None])


_APPLY: dict[str, Callable[[np.ndarray, dict, np.random.Generator], np.ndarray]] = {
    "noise": _op_noise,
    "blur": _op_blur,
    "jpeg": _op_jpeg,
    "bicubic": _op_bicubic,
    "lowlight": _op_lowlight,
    "haze": _op_haze,
    "rain": _op_rain,
}


def apply_degradation(img: np.ndarray, spec: Spec, rng: np.random.Generator) -> np.ndarray:
    """Apply the spec's ops in order to ``img`` (``uint8`` ``H x W x C``, C in {1, 3}).

    Returns a new ``uint8`` ``H' x W' x C`` image (``H' = ceil(H / scale)`` after ``bicubic``).
    All randomness is drawn from ``rng``; the same generator state gives the same output.
    """
    _check_image(img)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"apply_degradation: rng must be a numpy.random.Generator, got {type(rng).__name__}")
    out = img
    for op in parse_spec(spec):
        out = _APPLY[op.name](out, op.params, rng)
    return out if out is not img else img.copy()
