"""Validation and L2 normalisation of stored and query vectors."""

from __future__ import annotations

import numpy as np

from . import jit

from .errors import DimensionMismatch, InvalidVector


def normalise_batch(vectors, dim: int) -> np.ndarray:
    """Return float32 unit rows, or raise naming the first bad row (nothing is kept then)."""
    try:
        arr = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVector(f"vectors are not numeric: {exc}") from None
    if arr.ndim == 1 and arr.size == dim:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidVector(f"vectors must be a 2-D array (n, {dim}), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise DimensionMismatch(f"vectors have dimension {arr.shape[1]}, engine expects {dim}")
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise InvalidVector(f"row {bad}: vector contains NaN or Inf")
    peak = np.abs(arr).max(axis=1) if arr.shape[1] else np.zeros(arr.shape[0])
    zero = ~(peak > 0.0)
    if zero.any():
        bad = int(np.flatnonzero(zero)[0])
        raise InvalidVector(f"row {bad}: zero vector cannot be normalised")
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
    """A batch of queries as float32 unit rows; errors name the bad query row."""
    try:
        arr = np.asarray(queries, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidVector(f"queries are not numeric: {exc}") from None
    if arr.ndim != 2:
        raise InvalidVector(f"queries must be a 2-D array (m, {dim}), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise DimensionMismatch(f"queries have dimension {arr.shape[1]}, engine expects {dim}")
    try:
        return normalise_batch(arr, dim)
    except InvalidVector as exc:
        raise type(exc)(f"query {exc}") from None
