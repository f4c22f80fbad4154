"""Checks of every argument the engine takes besides vectors (see vectors.py for those).

Each check returns the cleaned value or raises InvalidArgument naming the bad row, before
the engine takes its lock, so a bad call changes nothing.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection

import numpy as np

from .errors import InvalidArgument


def floats(name: str, values, n: int, *, lo: float = -math.inf, hi: float = math.inf) -> np.ndarray:
    """n finite float64 values in [lo, hi], one per id."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgument(f"{name} must be numbers") from None
    if arr.shape != (n,):
        raise InvalidArgument(f"{name} must have one value per id ({n}), got shape {arr.shape}")
    bad = ~(np.isfinite(arr) & (arr >= lo) & (arr <= hi))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = "" if (lo, hi) == (-math.inf, math.inf) else f" in [{lo:g}, {hi:g}]"
        raise InvalidArgument(f"row {i}: {name} {float(arr[i])!r} is not a finite number{where}")
    return arr


def ints(name: str, values, n: int, hi: int) -> np.ndarray:
    """n integers in [0, hi], one per id."""
    arr = np.asarray(values)
    if arr.shape != (n,) or (n and not np.issubdtype(arr.dtype, np.integer)):
        raise InvalidArgument(f"{name} must be {n} integers, got {arr.dtype} of shape {arr.shape}")
    bad = (arr < 0) | (arr > hi)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidArgument(f"row {i}: {name} {int(arr[i])} is out of range [0, {hi}]")
    return arr.astype(np.int64)


def ids(values, unique: bool = True) -> list[str]:
    """Non-empty string ids; with unique=True a repeated id is an error (one row per id)."""
    if isinstance(values, (str, bytes)):
        raise InvalidArgument("ids must be a sequence of strings, not a single string")
    try:
        out = list(values)
    except TypeError:
        raise InvalidArgument("ids must be a sequence of strings") from None
    # the common case as set operations; the loop below only names the offending row
    if set(map(type, out)) <= {str} and "" not in (distinct := set(out)) and (
            not unique or len(distinct) == len(out)):
        return out
    seen: set[str] = set()
    for n, i in enumerate(out):
        if not isinstance(i, str) or not i:
            raise InvalidArgument(f"row {n}: id must be a non-empty string, got {i!r}")
        if unique:
            if i in seen:
                raise InvalidArgument(f"row {n}: duplicate id {i!r} in the batch")
            seen.add(i)
    return out


def top_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidArgument(f"k must be a positive integer, got {k!r}")
    return int(k)


def when(now) -> float:
    """A query or access time in epoch seconds; None means the wall clock now."""
    return time.time() if now is None else float(floats("now", [now], 1)[0])


def kind_set(kinds) -> np.ndarray:
    """A kind filter as sorted unique int64 tags."""
    if isinstance(kinds, (str, bytes)):
        raise InvalidArgument("kinds must be a collection of integers, not a string")
    try:
        return np.asarray(sorted({int(x) for x in kinds}), dtype=np.int64)
    except (TypeError, ValueError):
        raise InvalidArgument("kinds must be a collection of integers") from None


def time_range(created_range) -> tuple[float, float]:
    """(start, end) inclusive, either side None for open; start <= end."""
    try:
        lo, hi = created_range
        lo = -math.inf if lo is None else float(lo)
        hi = math.inf if hi is None else float(hi)
    except (TypeError, ValueError):
        raise InvalidArgument("created_range must be (start | None, end | None)") from None
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        raise InvalidArgument(f"created_range start must be <= end, got {created_range!r}")
    return lo, hi


def id_filter(allowed_ids) -> Collection[str]:
    """An id filter as a set of string ids (ids not in the engine simply match nothing)."""
    if isinstance(allowed_ids, (str, bytes)):
        raise InvalidArgument("allowed_ids must be a collection of ids, not a single string")
    if isinstance(allowed_ids, (set, frozenset)) and all(isinstance(i, str) for i in allowed_ids):
        return allowed_ids
    try:
        out = set()
        for i in allowed_ids:
            if not isinstance(i, str):
                raise InvalidArgument(f"allowed_ids must hold string ids, got {i!r}")
            out.add(i)
    except TypeError:
        raise InvalidArgument("allowed_ids must be a collection of string ids") from None
    return out
