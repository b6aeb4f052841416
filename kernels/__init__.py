"""Triton GPU kernels of tripled-fast (imported as ``tripled_fast.kernels``).

* :mod:`.stats`   fused per-tile statistics (``tile_stats_triton``)
* :mod:`.kcenter` k-center-greedy min-distance update (``kcenter_update``)
* :mod:`._triton_jit` the ``@triton.jit`` functions themselves

Triton is imported only when a kernel is first launched (:func:`load_jit`). On a machine without a GPU the kernels
run under the Triton interpreter: set ``TRITON_INTERPRET=1`` before triton is first imported.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "tile_stats_triton": "stats",
    "kcenter_update": "kcenter",
    "kcenter_update_reference": "kcenter",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_jit(name: str) -> Any:
    """The ``@triton.jit`` function ``name`` of ``_triton_jit`` (imports triton on first use).

    Raises:
        tripled_fast.errors.BackendUnavailable: triton is not installed.
    """
    try:
        jit = importlib.import_module(f"{__name__}._triton_jit")
    except ImportError as exc:
        from tripled_fast.errors import BackendUnavailable

        raise BackendUnavailable(f"the Triton kernels need triton ({exc})") from None
    return getattr(jit, name)
