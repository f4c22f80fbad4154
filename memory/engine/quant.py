"""Exact search over an int8 copy of the rows: scan a quarter of the bytes, re-rank in full.

Every stored row v (float32, or the float16 values) is kept a second time as int8 codes
c = round(127 v / max|v|) with its scale s = max|v| / 127, so v = s c + e with |e_j| <= s/2.
The query is quantised the same way per call: q = t b + f. Then

    q.v = (t b + f).(s c) + q.e = s t (b.c) + f.(s c) + q.e

and by Cauchy-Schwarz |f.(s c) + q.e| <= |f| |s c| + |q| |e|. b.c is an exact int32 sum, so
each row gets an upper bound of its cosine for a quarter of the bytes of a float32 row.
`|s c|` and `|e|` are computed in float64 at insert and rounded up; a margin of
2 d 2^-24 covers the float32 rounding of the exact dot product the rows are compared by.

The scan is the pruned exact scan of `jit.scan_ranges` with one change: once k rows are
held, a row whose bound times its weight is not above the k-th best score cannot be pushed
(the exact scan pushes only rows strictly above it) and is skipped without reading its
float32 row. Every other row gets the exact float32 score by the same compiled dot product
the float32 scan uses, in the same order, so the heap evolves exactly as in the float32
scan and the answer is the float32 brute force's answer, bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import binding as llvm
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .jit import _dot, _push, hit_parts

SAFETY = 1.0 + 2.0 ** -20      # relative slack on a bound computed in float64 from float32 parts


def quantise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(codes int8, scale, |s c|, |e|) of float rows (n, d); norms rounded up.

    float32 rows go through one compiled pass per row (`_quantise_rows`: the numpy form
    below makes eight float64 passes over the block, seconds per 100k rows, which the
    start-up load of 1M rows cannot afford). Codes and scales are the same values; the two
    norms are summed in another order, a difference of a few float64 ulps that SAFETY's
    2^-20 covers many times over, so each is still an upper bound."""
    if rows.dtype == np.float32 and rows.ndim == 2 and rows.shape[1]:
        n, d = rows.shape
        codes = np.empty((n, d), dtype=np.int8)
        scale = np.empty(n, dtype=np.float32)
        cnorm = np.empty(n, dtype=np.float32)
        err = np.empty(n, dtype=np.float32)
        quantise_into(rows, codes, scale, cnorm, err)
        return codes, scale, cnorm, err
    v = np.asarray(rows, dtype=np.float64)
    peak = np.abs(v).max(axis=1) if v.shape[1] else np.zeros(v.shape[0])
    peak = np.where(peak > 0, peak, 1.0)
    scale = (peak / 127.0).astype(np.float32)
    codes = np.clip(np.rint(v / scale[:, None].astype(np.float64)), -127, 127).astype(np.int8)
    approx = codes.astype(np.float64) * scale[:, None].astype(np.float64)
    cnorm = np.linalg.norm(approx, axis=1) * SAFETY
    err = np.linalg.norm(v - approx, axis=1) * SAFETY
    return codes, scale, cnorm.astype(np.float32), (err + 1e-12).astype(np.float32)


def quantise_into(rows: np.ndarray, codes: np.ndarray, scale: np.ndarray, cnorm: np.ndarray,
                  err: np.ndarray) -> None:
    """quantise() of float32 rows (n, d), written into the given arrays (codes int8 (n, d),
    the rest float32 (n,)), which may be views of the slab's own."""
    _quantise_rows(np.ascontiguousarray(rows), codes, scale, cnorm, err)


@njit(nogil=True, cache=True)
def _quantise_rows(rows, codes, scale, cnorm, err):  # pragma: no cover - compiled
    """`quantise` for float32 rows, the same arithmetic in float64, one row at a time."""
    n, d = rows.shape
    for i in range(n):
        peak = 0.0
        for j in range(d):
            peak = max(peak, abs(np.float64(rows[i, j])))
        if not peak > 0.0:
            peak = 1.0
        s32 = np.float32(peak / 127.0)
        s = np.float64(s32)
        sc = 0.0
        se = 0.0
        for j in range(d):
            x = np.float64(rows[i, j])
            c = min(127.0, max(-127.0, np.rint(x / s)))
            codes[i, j] = np.int8(c)
            a = c * s
            sc += a * a
            se += (x - a) * (x - a)
        scale[i] = s32
        cnorm[i] = np.float32(np.sqrt(sc) * SAFETY)
        err[i] = np.float32(np.sqrt(se) * SAFETY + 1e-12)


@njit(nogil=True, cache=True)
def quantise_query(q):  # pragma: no cover - compiled
    """(codes int8, scale t, |f| rounded up, |q| rounded up) of one float32 query, in float64
    as `quantise` does for rows (compiled: numpy would cost ~20 us a query here)."""
    d = q.shape[0]
    peak = 0.0
    sq = 0.0
    for j in range(d):
        x = np.float64(q[j])
        peak = max(peak, abs(x))
        sq += x * x
    if peak == 0.0:
        peak = 1.0
    scale = np.float64(np.float32(peak / 127.0))
    codes = np.empty(d, dtype=np.int8)
    err = 0.0
    for j in range(d):
        x = np.float64(q[j])
        c = min(127.0, max(-127.0, np.rint(x / scale)))
        codes[j] = np.int8(c)
        e = x - c * scale
        err += e * e
    return codes, scale, np.sqrt(err) * SAFETY + 1e-12, np.sqrt(sq) * SAFETY


@njit(fastmath=True, nogil=True, cache=True)
def _idots_int16(codes, qc, out):  # pragma: no cover - compiled
    """out[i] = codes row i . qc, exactly, in int32 (|sum| <= 127^2 d < 2^31).

    A loop of its own, over int16 values: LLVM turns it into vpmaddwd. Inside the branchy
    re-rank loop, or without the int16 casts (numba widens to int64), it runs 5-10x slower."""
    d = qc.shape[0]
    for i in range(out.shape[0]):
        s = np.int32(0)
        for j in range(d):
            s += np.int16(codes[i * d + j]) * np.int16(qc[j])
        out[i] = s


@intrinsic
def _dpbusd(typingctx, qu, codes, base, chunks):
    """sum over `chunks` 64-byte chunks of qu[j] * codes[base + j] (uint8 x int8 -> int32)
    minus 128 * sum(codes[base + j]): with qu = qc + 128 that is qc . codes, exactly.

    One vpdpbusd (AVX512-VNNI) takes 64 byte pairs; LLVM does not find it in a plain loop
    (it picks vpdpwssd on int16 pairs), so it is called by name. The code sum runs in a
    second accumulator with all-one bytes over the same loaded chunk."""
    sig = types.int32(qu, codes, base, chunks)

    def codegen(context, builder, signature, args):
        i8p = ir.IntType(8).as_pointer()
        v16 = ir.VectorType(ir.IntType(32), 16)
        qptr = builder.bitcast(context.make_array(signature.args[0])(context, builder, args[0]).data, i8p)
        cptr = builder.gep(builder.bitcast(context.make_array(signature.args[1])(context, builder, args[1]).data,
                                           i8p), [args[2]])
        dp = cgutils.get_or_insert_function(builder.module, ir.FunctionType(v16, [v16, v16, v16]),
                                            "llvm.x86.avx512.vpdpbusd.512")
        acc = cgutils.alloca_once_value(builder, ir.Constant(v16, None))
        tot = cgutils.alloca_once_value(builder, ir.Constant(v16, None))
        ones = ir.Constant(v16, 0x01010101)
        with cgutils.for_range(builder, args[3]) as loop:
            off = builder.mul(loop.index, ir.Constant(ir.IntType(64), 64))
            a = builder.load(builder.bitcast(builder.gep(qptr, [off]), v16.as_pointer()), align=1)
            b = builder.load(builder.bitcast(builder.gep(cptr, [off]), v16.as_pointer()), align=1)
            builder.store(builder.call(dp, [builder.load(acc), a, b]), acc)
            builder.store(builder.call(dp, [builder.load(tot), ones, b]), tot)
        add = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), [v16]),
                                             "llvm.vector.reduce.add.v16i32")
        return builder.sub(builder.call(add, [builder.load(acc)]),
                           builder.mul(builder.call(add, [builder.load(tot)]), ir.Constant(ir.IntType(32), 128)))

    return sig, codegen


@njit(nogil=True, cache=True)
def _idots_vnni(codes, qc, out):  # pragma: no cover - compiled
    """_idots_int16 through AVX512-VNNI: 64 byte pairs per instruction, ~2x faster per block
    here; the dimensions past the last whole 64 are summed one by one."""
    d = qc.shape[0]
    chunks = d // 64
    qu = np.empty(d, dtype=np.uint8)
    for j in range(d):
        qu[j] = np.uint8(np.int16(qc[j]) + 128)
    for i in range(out.shape[0]):
        s = _dpbusd(qu, codes, i * d, chunks)
        for j in range(chunks * 64, d):
            s += np.int32(codes[i * d + j]) * np.int32(qc[j])
        out[i] = s


# Compiled code may hold the VNNI instruction only where the CPU runs it (LLVM cannot even
# select it elsewhere), so the kernel is chosen here, before anything compiles against it.
# NUMBA_CPU_NAME (a portable cache) compiles for another CPU than this one: no VNNI then.
VNNI = not numba.config.CPU_NAME and bool(llvm.get_host_cpu_features().get("avx512vnni"))
_idots = _idots_vnni if VNNI else _idots_int16


@njit(fastmath=True, nogil=True, cache=True)
def _scan_block_q(codes, scale, cnorm, err, flat, q, qc, q_scale, q_err, q_norm, weights, mask, use_mask, offset, k,
                  heap_s, heap_r, size, margin, acc):  # pragma: no cover - compiled
    """One block, rows indexed from 0 (the form LLVM vectorises, as in jit._scan_block).
    Returns (heap size, rows re-ranked)."""
    d = q.shape[0]
    n = weights.shape[0]
    reranked = 0
    if size == k:
        _idots(codes, qc, acc[:n])
    thr = heap_s[0] if size == k else np.float32(-np.inf)
    for i in range(n):
        if use_mask and not mask[i]:
            continue
        w = weights[i]
        if size == k:
            approx = np.float64(scale[i]) * q_scale * np.float64(acc[i])
            bound = approx + np.float64(cnorm[i]) * q_err + q_norm * np.float64(err[i]) + margin
            if bound <= 0.0 or bound * np.float64(w) * SAFETY <= np.float64(thr):
                continue
        reranked += 1
        s = _dot(flat, i * d, q)
        s = (s + abs(s)) * np.float32(0.5) * w
        if s > thr or size < k:
            filling = size < k
            size = _push(s, offset + i, k, heap_s, heap_r, size)
            if size == k:
                thr = heap_s[0]
                if filling and i + 1 < n:  # the heap filled inside this block: the rest needs products
                    _idots(codes[(i + 1) * d:], qc, acc[i + 1:n])
    return size, reranked


@njit(nogil=True, cache=True)
def scan_ranges_q(codes, scale, cnorm, err, flat, q, qc, q_scale, q_err, q_norm, weights, mask, use_mask, los,
                  his, bounds, k, heap_s, heap_r, size):  # pragma: no cover - compiled
    """The pruned block scan (jit.scan_ranges) over int8 codes with exact float32 re-ranking.

    `codes` and `flat` are the flattened rows. Returns (heap size, rows scanned, rows
    re-ranked in float32)."""
    d = q.shape[0]
    margin = 2.0 * d * 2.0 ** -24 + 1e-7
    scanned = 0
    reranked = 0
    width = 0
    for b in range(los.shape[0]):
        width = max(width, his[b] - los[b])
    acc = np.empty(width, dtype=np.int32)
    for b in range(los.shape[0]):
        if size == k and heap_s[0] >= bounds[b]:
            break
        lo = los[b]
        hi = his[b]
        scanned += hi - lo
        size, rr = _scan_block_q(codes[lo * d: hi * d], scale[lo:hi], cnorm[lo:hi], err[lo:hi], flat[lo * d: hi * d],
                                 q, qc, q_scale, q_err, q_norm, weights[lo:hi], mask[lo:hi] if use_mask else mask,
                                 use_mask, lo, k, heap_s, heap_r, size, margin, acc)
        reranked += rr
    return size, scanned, reranked


@njit(nogil=True, cache=True)
def exact_topk_q(codes, scale, cnorm, err, flat, q, qc, q_scale, q_err, q_norm, weights, mask, use_mask, los, his,
                 bounds, k, imp_norm, created, alpha, tau, floor, now):  # pragma: no cover - compiled
    """jit.exact_topk through the int8 codes: (rows, score, similarity, importance, decay,
    rows scanned, rows re-ranked), best first."""
    heap_s = np.empty(k, dtype=np.float32)
    heap_r = np.empty(k, dtype=np.int64)
    size, scanned, reranked = scan_ranges_q(codes, scale, cnorm, err, flat, q, qc, q_scale, q_err, q_norm, weights,
                                            mask, use_mask, los, his, bounds, k, heap_s, heap_r, 0)
    rows, score, sim, imp, dec = hit_parts(heap_r[:size], flat, q, imp_norm, created, alpha, tau, floor, now)
    return rows, score, sim, imp, dec, scanned, reranked
