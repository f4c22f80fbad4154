"""Compiled kernels (numba): the scan's inner products and its top-k selection.

Measured on this project's 2-core x86-64 machine, one thread, 100k x 384 rows:
- float32 dot products over the flattened rows run at the speed of faiss's SIMD
  fvec_inner_products_ny, ~2.5x faster than OpenBLAS sgemv (which reads at ~12 GB/s here);
- float16 rows are widened with the F16C instruction (LLVM `fpext half -> float`, vectorised)
  inside the dot product, reading half the bytes: ~0.55x the float32 time. numpy's own
  float16 product (no BLAS, scalar casts) is 15x slower than float32;
- top-k by a k-sized min-heap with fused clamp, weight and mask: one pass and one compare
  per row, where np.argpartition costs ~1.4 ms per 100k scores.

Start-up: compiling these kernels takes seconds, so they are cached on disk (`cache=True`)
in a folder outside the source tree: `NUMBA_CACHE_DIR` when set, else
`$XDG_CACHE_HOME/somastack/numba` (default `~/.cache/somastack/numba`), which also works
for a read-only install. `warm_up()` runs every kernel a recall uses once at start, so the
first real recall finds them compiled and loaded (the service calls it before it reports
ready).
"""

from __future__ import annotations

import os
import pathlib
from typing import Callable

import numba
import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload


def cache_dir() -> pathlib.Path:
    """Where the compiled kernels are cached (outside the repository)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return pathlib.Path(os.environ["NUMBA_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "somastack" / "numba"


def _use_cache_dir() -> None:
    # numba reads CACHE_DIR when a cached function is decorated, so this runs before the
    # decorators below; numba's default would write next to this file, inside the checkout
    if numba.config.CACHE_DIR:
        return  # NUMBA_CACHE_DIR, which numba has read already
    path = cache_dir()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return  # unwritable home: numba falls back to its own locations
    numba.config.CACHE_DIR = str(path)


_use_cache_dir()


@intrinsic
def _half_to_float(typingctx, bits):
    """uint16 half-precision bits -> float32 (compiles to vcvtph2ps when vectorised)."""
    sig = types.float32(types.uint16)

    def codegen(context, builder, signature, args):
        return builder.fpext(builder.bitcast(args[0], ir.HalfType()), ir.FloatType())

    return sig, codegen


def _value(x):  # pragma: no cover - replaced by the overload below inside compiled code
    raise NotImplementedError


@overload(_value, inline="always")
def _value_impl(x):
    """An element of a slab row as float32: float16 bits are widened, float32 passes through."""
    if x == types.uint16:
        return lambda x: _half_to_float(x)
    return lambda x: x


@njit(fastmath=True, nogil=True, cache=True, inline="always")
def _dot(flat, base, q):  # pragma: no cover - compiled
    s = np.float32(0.0)
    for j in range(q.shape[0]):
        s += _value(flat[base + j]) * q[j]
    return s


@njit(fastmath=True, nogil=True, cache=True)
def dot(flat, q, out):  # pragma: no cover - compiled
    """out[i] = row i . q for the flattened rows (float32, or float16 as uint16 bits)."""
    d = q.shape[0]
    for i in range(out.shape[0]):
        out[i] = _dot(flat, i * d, q)


@njit(fastmath=True, nogil=True, cache=True)
def upcast_f16(flat, out):  # pragma: no cover - compiled
    for i in range(flat.shape[0]):
        out[i] = _half_to_float(flat[i])


@njit(nogil=True, cache=True)
def _push(s, row, k, heap_s, heap_r, size):  # pragma: no cover - compiled
    """Offer (s, row) to a min-heap of capacity k; heap_s[0] is the k-th best when full."""
    if size < k:
        j = size
        size += 1
        while j > 0:  # sift up
            p = (j - 1) >> 1
            if heap_s[p] <= s:
                break
            heap_s[j] = heap_s[p]
            heap_r[j] = heap_r[p]
            j = p
        heap_s[j] = s
        heap_r[j] = row
    elif s > heap_s[0]:
        j = 0
        while True:  # replace the root, sift down
            c = 2 * j + 1
            if c >= k:
                break
            if c + 1 < k and heap_s[c + 1] < heap_s[c]:
                c += 1
            if heap_s[c] >= s:
                break
            heap_s[j] = heap_s[c]
            heap_r[j] = heap_r[c]
            j = c
        heap_s[j] = s
        heap_r[j] = row
    return size


@njit(fastmath=True, nogil=True, cache=True)
def _scan_block(flat, q, weights, mask, use_mask, offset, k, heap_s, heap_r, size):  # pragma: no cover
    """Fused dot product, clamp, weight and heap push over one block (rows indexed from 0:
    LLVM vectorises this form; `range(lo, hi)` over the whole slab measured 15x slower)."""
    d = q.shape[0]
    thr = heap_s[0] if size == k else np.float32(-np.inf)
    for i in range(weights.shape[0]):
        if use_mask and not mask[i]:
            continue
        s = _dot(flat, i * d, q)
        s = (s + abs(s)) * np.float32(0.5) * weights[i]
        if s > thr or size < k:
            size = _push(s, offset + i, k, heap_s, heap_r, size)
            if size == k:
                thr = heap_s[0]
    return size


@njit(nogil=True, cache=True)
def scan_ranges(flat, q, weights, mask, use_mask, los, his, bounds, k, heap_s, heap_r, size):  # pragma: no cover
    """Scan row ranges in the given order; stop when the k-th best reaches the next bound.

    The whole block loop runs compiled, so fine blocks (tight pruning) cost no Python per
    block. Returns (heap size, rows scanned).
    """
    d = q.shape[0]
    scanned = 0
    for b in range(los.shape[0]):
        if size == k and heap_s[0] >= bounds[b]:
            break
        lo = los[b]
        hi = his[b]
        scanned += hi - lo
        size = _scan_block(flat[lo * d: hi * d], q, weights[lo:hi], mask[lo:hi] if use_mask else mask, use_mask,
                           lo, k, heap_s, heap_r, size)
    return size, scanned


@njit(nogil=True, cache=True)
def ann_topk(labels, sims, label_to_row, live, k, imp_norm, created, alpha, tau, floor, now):  # pragma: no cover
    """ANN candidates (labels, cosines) -> live rows -> full-score top k, with score parts.

    The cosines come from the index, so no row is read again; every live candidate (at
    most the beam, a few hundred) is scored in float64 by `_ranked_parts`, so no O(N)
    weight vector is built per query. Returns (rows, score, similarity, importance, decay,
    live candidates), best first.
    """
    n = labels.shape[0]
    rows = np.empty(n, dtype=np.int64)
    cos = np.empty(n)
    seen = 0
    for i in range(n):
        lab = labels[i]
        if lab < 0 or lab >= label_to_row.shape[0]:
            continue
        r = label_to_row[lab]
        if r < 0 or not live[r]:
            continue  # removed rows never come back through the index
        rows[seen] = r
        cos[seen] = max(np.float64(sims[i]), 0.0)
        seen += 1
    rows, score, sim, imp, dec = _ranked_parts(rows[:seen], cos[:seen], imp_norm, created, alpha, tau, floor, now)
    return rows[:k], score[:k], sim[:k], imp[:k], dec[:k], seen


@njit(nogil=True, cache=True)
def _ranked_parts(rows, sims, imp_norm, created, alpha, tau, floor, now):  # pragma: no cover - compiled
    """Given the hits' cosines clamped at 0, the float64 score parts sorted best first:
    (rows, score, similarity, importance, decay). One place for the score formula.

    The cosine is also capped at 1: a float16 row is unit only to ~1e-3, so its product
    with its own query can read 1.0001, and a similarity above 1 would let a score leave [0, 1]."""
    n = rows.shape[0]
    imp = np.empty(n)
    dec = np.empty(n)
    score = np.empty(n)
    for i in range(n):
        r = rows[i]
        sims[i] = min(sims[i], 1.0)
        imp[i] = imp_norm[r]
        dec[i] = 1.0 if tau == np.inf else max(floor, 2.0 ** (-(now - created[r]) / tau))
        score[i] = sims[i] * imp[i] ** alpha * dec[i]
    order = np.argsort(-score, kind="mergesort")
    return rows[order], score[order], sims[order], imp[order], dec[order]


@njit(fastmath=False, nogil=True, cache=True)
def hit_parts(rows, flat, q, imp_norm, created, alpha, tau, floor, now):  # pragma: no cover
    """float64 score parts of the hits, best first: (rows, score, similarity, importance, decay).

    q may be float32 or float64; the products are taken in float64.
    """
    n = rows.shape[0]
    d = q.shape[0]
    sims = np.empty(n)
    for i in range(n):
        r = rows[i]
        s = 0.0
        for j in range(d):
            s += np.float64(_value(flat[r * d + j])) * np.float64(q[j])
        sims[i] = max(s, 0.0)
    return _ranked_parts(rows, sims, imp_norm, created, alpha, tau, floor, now)


@njit(nogil=True, cache=True)
def unit(q, out):  # pragma: no cover - compiled
    """out = q / |q| in float32 (norm in float64); False when q is zero, NaN or Inf."""
    sq = 0.0
    for j in range(q.shape[0]):
        sq += np.float64(q[j]) * np.float64(q[j])
    if not (0.0 < sq < np.inf):
        return False
    inv = 1.0 / np.sqrt(sq)
    for j in range(q.shape[0]):
        out[j] = np.float32(q[j] * inv)
    return True


@njit(nogil=True, cache=True)
def unit_rows(rows, out):  # pragma: no cover - compiled
    """out[i] = rows[i] / max|rows[i]| / |that| in float32, the arithmetic of the numpy form
    in vectors.py, one row at a time in float64. Returns -1, or the first row that is zero,
    NaN or Inf (the caller then words the error through the numpy form)."""
    n, d = rows.shape
    for i in range(n):
        peak = 0.0
        for j in range(d):
            x = np.float64(rows[i, j])
            if not np.isfinite(x):
                return i
            peak = max(peak, abs(x))
        if not peak > 0.0:
            return i
        sq = 0.0
        for j in range(d):
            a = np.float64(rows[i, j]) / peak
            sq += a * a
        norm = np.sqrt(sq)
        for j in range(d):
            out[i, j] = np.float32((np.float64(rows[i, j]) / peak) / norm)
    return -1


@njit(nogil=True, cache=True)
def exact_topk(flat, q, weights, mask, use_mask, los, his, bounds, k, imp_norm, created, alpha, tau, floor,
               now):  # pragma: no cover
    """The whole exact query in one call: pruned scan, then the hits' float64 score parts.

    Returns (rows, score, similarity, importance, decay, rows scanned), best first.
    """
    heap_s = np.empty(k, dtype=np.float32)
    heap_r = np.empty(k, dtype=np.int64)
    size, scanned = scan_ranges(flat, q, weights, mask, use_mask, los, his, bounds, k, heap_s, heap_r, 0)
    rows, score, sim, imp, dec = hit_parts(heap_r[:size], flat, q, imp_norm, created, alpha, tau, floor, now)
    return rows, score, sim, imp, dec, scanned


def warm_up(make_engine: Callable[[], object], rows: int = 64) -> None:
    """Run each kernel a recall uses once, on a throw-away engine from `make_engine` (the
    service's own factory, so dtype and parameters, and thereby the compiled signatures,
    are the ones real recalls use). Loads the disk cache, or compiles and fills it."""
    import time as _time
    engine = make_engine()
    dim = engine.dim
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(rows, dim)).astype(np.float32)
    now = _time.time()
    ids = [f"w{i}" for i in range(rows)]
    engine.add(ids, vectors, importance=rng.uniform(0.1, 2.0, rows).tolist(),
               created=[now - i for i in range(rows)], kinds=[i % 2 for i in range(rows)])
    q = vectors[0]
    engine.search(q, 5)
    engine.search(q, 5, exact=True, kinds=[0], created_range=(now - rows, now), allowed_ids=ids[: rows // 2])
    engine.search(q, 5, allowed_ids=ids[:2])  # a small id filter gathers its rows instead
    engine.search_batch(vectors[:2], 5)
    engine.search_batch(vectors[:2], 5, kinds=[1], allowed_ids=ids[rows // 2:])
    from .slab import _permute_rows  # the re-sort by weight (slab.reorganize), for its 2-D arrays
    slab = engine._slab
    for name in slab.parallel:
        arr = getattr(slab, name)
        if arr.ndim == 2 and arr.dtype != np.float16:
            _permute_rows(np.zeros((1, arr.shape[1]), dtype=arr.dtype), np.zeros(1, dtype=np.int64))
    engine.close()
