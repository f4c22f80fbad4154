"""Similarity kernels over a row range of the slab (see jit.py for the measurements).

Single queries use the compiled dot products on the flattened rows (float32 or float16);
batches use one float32 BLAS matrix-matrix product per block (float16 blocks are widened
chunk by chunk into a per-thread float32 buffer that stays in cache).
"""

from __future__ import annotations

import threading

import numpy as np

from . import jit

CHUNK_ROWS = 512


class Kernel:
    def __init__(self, dim: int, dtype: np.dtype) -> None:
        self.dim = dim
        self.half = np.dtype(dtype) == np.float16
        self._local = threading.local()  # one widening buffer per reader thread

    def _buf(self) -> np.ndarray:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.empty((CHUNK_ROWS, self.dim), dtype=np.float32)
        return buf

    def _dot(self, block: np.ndarray, q: np.ndarray) -> np.ndarray:
        out = np.empty(block.shape[0], dtype=np.float32)
        if block.shape[0]:
            jit.dot(self.flat(np.ascontiguousarray(block)), q, out)
        return out

    def flat(self, rows: np.ndarray) -> np.ndarray:
        """Rows as the 1-D array the compiled kernels read (float16 as its uint16 bits)."""
        flat = rows.reshape(-1)
        return flat.view(np.uint16) if self.half else flat

    def sims_rows(self, vec: np.ndarray, rows: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Cosine of q with an arbitrary set of rows (gathered)."""
        return self._dot(vec[rows], q)

    def sims_batch(self, vec: np.ndarray, lo: int, hi: int, qt: np.ndarray) -> np.ndarray:
        """Cosines of queries qt (dim, m) float32 with rows lo..hi: (hi - lo, m)."""
        if not self.half:
            return vec[lo:hi] @ qt
        out = np.empty((hi - lo, qt.shape[1]), dtype=np.float32)
        buf = self._buf()
        for s in range(lo, hi, CHUNK_ROWS):
            e = min(s + CHUNK_ROWS, hi)
            b = buf[: e - s]
            jit.upcast_f16(vec[s:e].reshape(-1).view(np.uint16), b.reshape(-1))
            np.matmul(b, qt, out=out[s - lo: e - lo])
        return out
