"""Exceptions the command line turns into one-line messages (no traceback)."""
from __future__ import annotations


class TripledError(Exception):
    """Base class for errors reported to the user as a single line."""


class DataError(TripledError, ValueError):
    """An input file or folder is unusable; the message names the path and the problem."""


class BackendUnavailable(TripledError, RuntimeError):
    """An explicitly requested backend (DALI, TensorRT, Triton, C++ kernels ...) is not usable here."""


class RunLocked(TripledError, RuntimeError):
    """Another process holds the run directory's lock."""
