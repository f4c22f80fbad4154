"""Similarity kernels over a row range of the slab: float32 BLAS, float16 compiled.

float32: the BLAS matrix-vector / matrix-matrix product on a slice (no copy).
float16: single queries go through a compiled kernel that converts and multiplies in one
pass (f16.dot_rows); batches convert chunks of CHUNK_ROWS rows into a per-thread float32
buffer that stays in cache and hand it to the float32 BLAS product.
"""

from __future__ import annotations

import threading

import numpy as np

from . import f16

CHUNK_ROWS = 512


class Kernel:
    def __init__(self, dim: int, dtype: np.dtype) -> None:
        self.dim = dim
        self.half = np.dtype(dtype) == np.float16
        self._local = threading.local()  # one upcast buffer per reader thread

    def _buf(self) -> np.ndarray:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.empty((CHUNK_ROWS, self.dim), dtype=np.float32)
        return buf

    def sims(self, vec: np.ndarray, lo: int, hi: int, q: np.ndarray) -> np.ndarray:
        """Cosine of q (float32 unit vector) with rows lo..hi: float32 (hi - lo,)."""
        if self.half:
            return f16.dot_rows(vec[lo:hi], q)
        return vec[lo:hi] @ q

    def sims_rows(self, vec: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Cosine of q with an arbitrary set of rows (gathered)."""
        if self.half:
            return f16.dot_rows(vec[rows], q)
        return vec[rows] @ q

    def sims_batch(self, vec: np.ndarray, lo: int, hi: int, qt: np.ndarray) -> np.ndarray:
        """Cosines of queries qt (dim, m) float32 with rows lo..hi: (hi - lo, m)."""
        if not self.half:
            return vec[lo:hi] @ qt
        out = np.empty((hi - lo, qt.shape[1]), dtype=np.float32)
        buf = self._buf()
        qs = f16.scaled(qt)
        for s in range(lo, hi, CHUNK_ROWS):
            e = min(s + CHUNK_ROWS, hi)
            np.matmul(f16.upcast_into(vec[s:e], buf), qs, out=out[s - lo: e - lo])
        return out
