"""Compiled float16 kernels (numba): faster than the float32 BLAS scan, not only smaller.

numpy's float16 arithmetic has no BLAS and its float16 -> float32 cast is scalar here, both
several times slower than a float32 scan. These kernels read the raw half-precision bits and
rebuild each float32 with integer operations the compiler vectorises: sign << 16 and
(exponent, mantissa) << 13 give the float32 bit pattern of the half value divided by 2**112
(exact, subnormals included; unit vectors hold no Inf/NaN), so the query is pre-multiplied
by 2**112 instead. The slab is read once at half the bytes of float32.
"""

from __future__ import annotations

import numpy as np

SCALE = np.float32(2.0 ** 112)

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is a dependency; keep a slow but correct path
    njit = None


if njit is not None:

    @njit(fastmath=True, nogil=True, cache=True)
    def _dot_rows(h, q, out):  # pragma: no cover - compiled
        n, d = h.shape
        buf = np.empty(d, dtype=np.uint32)
        f = buf.view(np.float32)
        for i in range(n):
            row = h[i]
            for j in range(d):
                x = np.uint32(row[j])
                buf[j] = ((x & np.uint32(0x8000)) << np.uint32(16)) | ((x & np.uint32(0x7FFF)) << np.uint32(13))
            acc = np.float32(0.0)
            for j in range(d):
                acc += f[j] * q[j]
            out[i] = acc

    @njit(fastmath=True, nogil=True, cache=True)
    def _upcast(h, out):  # pragma: no cover - compiled
        n, d = h.shape
        for i in range(n):
            for j in range(d):
                x = np.uint32(h[i, j])
                out[i, j] = ((x & np.uint32(0x8000)) << np.uint32(16)) | ((x & np.uint32(0x7FFF)) << np.uint32(13))


def dot_rows(vec16: np.ndarray, q: np.ndarray) -> np.ndarray:
    """vec16 (n, d) float16 @ q (d,) float32 -> (n,) float32."""
    out = np.empty(vec16.shape[0], dtype=np.float32)
    if vec16.shape[0] == 0:
        return out
    if njit is None:
        return vec16.astype(np.float32) @ q
    _dot_rows(vec16.view(np.uint16), np.ascontiguousarray(q * SCALE, dtype=np.float32), out)
    return out


def upcast_into(vec16: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Write vec16 (n, d) into buf[:n] as float32 scaled by 2**-112; returns that float32 view."""
    n = vec16.shape[0]
    if njit is None:
        np.copyto(buf[:n], vec16, casting="unsafe")
        return buf[:n]
    u = buf[:n].view(np.uint32)
    _upcast(vec16.view(np.uint16), u)
    return buf[:n]


def scaled(matrix_or_vector: np.ndarray) -> np.ndarray:
    """The query factor that undoes upcast_into's 2**-112 (1 without numba)."""
    return matrix_or_vector * (SCALE if njit is not None else np.float32(1.0))
