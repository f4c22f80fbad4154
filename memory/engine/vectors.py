"""Validation and L2 normalisation of stored and query vectors."""

from __future__ import annotations

import numpy as np

from . import jit

from .errors import DimensionMismatch, InvalidVector


def normalise_batch(vectors, dim: int) -> np.ndarray:
    """Return float32 unit rows, or raise naming the first bad row (nothing is kept then).

    A single vector of shape (dim,) is taken as one row."""
    return _unit_rows(vectors, dim, "vectors", "n", "row")


def _unit_rows(vectors, dim: int, name: str, count: str, row: str) -> np.ndarray:
    """The checks and normalisation shared by stored vectors and query batches; `name`,
    `count` and `row` word the errors ("queries", "m", "query row")."""
    if (isinstance(vectors, np.ndarray) and vectors.ndim == 2 and vectors.shape[1] == dim and vectors.shape[0]
            and vectors.dtype in (np.float32, np.float64)):
        # one compiled pass per row (the numpy form below makes several float64 passes over
        # the block: seconds per 100k rows at start-up); a bad row falls through for its error
        out = np.empty(vectors.shape, dtype=np.float32)
        if jit.unit_rows(np.ascontiguousarray(vectors), out) < 0:
            return out
    try:
        arr = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVector(f"{name} are not numeric: {exc}") from None
    if arr.ndim == 1 and arr.size == dim and name == "vectors":
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidVector(f"{name} must be a 2-D array ({count}, {dim}), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise DimensionMismatch(f"{name} have dimension {arr.shape[1]}, engine expects {dim}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InvalidVector(f"{row} {bad}: vector contains NaN or Inf")
    peak = np.abs(arr).max(axis=1) if arr.shape[1] else np.zeros(arr.shape[0])
    zero = ~(peak > 0.0)
    if zero.any():
        bad = int(np.flatnonzero(zero)[0])
        raise InvalidVector(f"{row} {bad}: zero vector cannot be normalised")
    arr = arr / peak[:, None]  # so huge finite values (1e200) cannot overflow the norm
    return (arr / np.linalg.norm(arr, axis=1)[:, None]).astype(np.float32)


def normalise_query(query, dim: int) -> np.ndarray:
    """A single query as a float32 unit vector of shape (dim,)."""
    if isinstance(query, np.ndarray) and query.shape == (dim,) and query.dtype in (np.float32, np.float64):
        # fast path (one compiled call): a NaN or Inf anywhere makes the squared norm non-finite
        out = np.empty(dim, dtype=np.float32)
        if jit.unit(query, out):
            return out
    try:
        arr = np.asarray(query, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVector(f"query is not numeric: {exc}") from None
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1:
        raise InvalidVector(f"query must be a vector of shape ({dim},), got shape {arr.shape}")
    if arr.shape[0] != dim:
        raise DimensionMismatch(f"query has dimension {arr.shape[0]}, engine expects {dim}")
    if not np.isfinite(arr).all():
        raise InvalidVector("query contains NaN or Inf")
    peak = float(np.abs(arr).max()) if arr.size else 0.0
    if not peak > 0.0:
        raise InvalidVector("zero query vector cannot be normalised")
    arr = arr / peak
    return (arr / np.linalg.norm(arr)).astype(np.float32)


def normalise_queries(queries, dim: int) -> np.ndarray:
    """A batch of queries (m, dim) as float32 unit rows; errors name the bad query row."""
    return _unit_rows(queries, dim, "queries", "m", "query row")
