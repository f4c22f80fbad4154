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
        # Four rows per step: convert them into a small buffer, then four interleaved
        # accumulators keep the vector units busy (measured ~2x over one row at a time).
        n, d = h.shape
        buf = np.empty((4, d), dtype=np.uint32)
        f = buf.view(np.float32)
        n4 = n - n % 4
        for i in range(0, n, 4):
            m = 4 if i < n4 else n - i
            for r in range(m):
                for j in range(d):
                    x = np.uint32(h[i + r, j])
                    buf[r, j] = ((x & np.uint32(0x8000)) << np.uint32(16)) | ((x & np.uint32(0x7FFF)) << np.uint32(13))
            if m == 4:
                a0 = np.float32(0.0)
                a1 = np.float32(0.0)
                a2 = np.float32(0.0)
                a3 = np.float32(0.0)
                for j in range(d):
                    qj = q[j]
                    a0 += f[0, j] * qj
                    a1 += f[1, j] * qj
                    a2 += f[2, j] * qj
                    a3 += f[3, j] * qj
                out[i] = a0
                out[i + 1] = a1
                out[i + 2] = a2
                out[i + 3] = a3
            else:
                for r in range(m):
                    acc = np.float32(0.0)
                    for j in range(d):
                        acc += f[r, j] * q[j]
                    out[i + r] = acc

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
