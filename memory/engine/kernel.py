"""Similarity kernels over a row range of the slab: float32 directly, float16 by blocked upcast.

numpy's own float16 matrix product has no BLAS behind it and runs several times slower than
float32. Instead each chunk of CHUNK_ROWS float16 rows is converted (a vectorised F16C
conversion in numpy) into a per-thread float32 buffer small enough to stay in cache, and
that buffer goes through the float32 BLAS product. The slab itself is read once, at half the
bytes, which is what makes float16 faster than float32 on a memory-bound scan.
"""

from __future__ import annotations

import threading

import numpy as np

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
        if not self.half:
            return vec[lo:hi] @ q
        out = np.empty(hi - lo, dtype=np.float32)
        buf = self._buf()
        for s in range(lo, hi, CHUNK_ROWS):
            e = min(s + CHUNK_ROWS, hi)
            b = buf[: e - s]
            np.copyto(b, vec[s:e], casting="unsafe")
            np.dot(b, q, out=out[s - lo: e - lo])
        return out

    def sims_rows(self, vec: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Cosine of q with an arbitrary set of rows (gathered)."""
        return vec[rows].astype(np.float32, copy=False) @ q

    def sims_batch(self, vec: np.ndarray, lo: int, hi: int, qt: np.ndarray) -> np.ndarray:
        """Cosines of queries qt (dim, m) float32 with rows lo..hi: (hi - lo, m), one product."""
        if not self.half:
            return vec[lo:hi] @ qt
        out = np.empty((hi - lo, qt.shape[1]), dtype=np.float32)
        buf = self._buf()
        for s in range(lo, hi, CHUNK_ROWS):
            e = min(s + CHUNK_ROWS, hi)
            b = buf[: e - s]
            np.copyto(b, vec[s:e], casting="unsafe")
            np.matmul(b, qt, out=out[s - lo: e - lo])
        return out
