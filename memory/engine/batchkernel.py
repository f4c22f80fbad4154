"""Compiled top-k merge for query batches: one block's (rows x queries) scores into k-sized
heaps per query, without the GIL, so threads that split a batch run on separate cores."""

from __future__ import annotations

import numpy as np
from numba import njit

from .jit import _push


@njit(nogil=True, cache=True)
def merge_block(sims, weights, mask, use_mask, offset, k, heap_s, heap_r, sizes):  # pragma: no cover - compiled
    """Push max(0, sims[i, j]) * weights[i] of the eligible rows into query j's heap.

    sims is (rows, queries) float32 from one BLAS product; heaps are (queries, k)."""
    n, m = sims.shape
    for j in range(m):
        hs = heap_s[j]
        hr = heap_r[j]
        size = sizes[j]
        thr = hs[0] if size == k else np.float32(-np.inf)
        for i in range(n):
            if use_mask and not mask[i]:
                continue
            s = sims[i, j]
            s = (s + abs(s)) * np.float32(0.5) * weights[i]
            if s > thr or size < k:
                size = _push(s, offset + i, k, hs, hr, size)
                if size == k:
                    thr = hs[0]
        sizes[j] = size


@njit(nogil=True, cache=True)
def kth_floor(heap_s, sizes, k):  # pragma: no cover - compiled
    """The smallest k-th best score over the queries, or -inf while any heap is not full."""
    lo = np.float32(np.inf)
    for j in range(sizes.shape[0]):
        if sizes[j] < k:
            return np.float32(-np.inf)
        lo = min(lo, heap_s[j, 0])
    return lo


@njit(nogil=True, cache=True)
def sorted_rows(heap_s, heap_r, sizes):  # pragma: no cover - compiled
    """(queries, k) rows best first, padded with -1, and their scores."""
    m, k = heap_s.shape
    rows = np.full((m, k), -1, dtype=np.int64)
    scores = np.full((m, k), -np.inf, dtype=np.float32)
    for j in range(m):
        size = sizes[j]
        order = np.argsort(-heap_s[j, :size], kind="mergesort")
        for t in range(size):
            rows[j, t] = heap_r[j, order[t]]
            scores[j, t] = heap_s[j, order[t]]
    return rows, scores
