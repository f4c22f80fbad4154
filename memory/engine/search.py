"""Exact top-k by blocks, skipping every block whose weight bound cannot enter the top k.

score_row = max(0, q.v) * weight_row and q.v <= 1, so a block's best possible score is its
largest weight. Blocks are visited from the largest bound down; once k results are held and
the k-th best score is >= the next block's bound, no later block can change the result, so
the answer is exactly the brute-force answer while reading only the blocks visited.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import batchkernel
from .kernel import Kernel


@dataclasses.dataclass
class ScanPlan:
    """Everything one scan needs, fixed under the read lock."""

    top: int
    block_rows: int
    bounds: np.ndarray          # per-block score upper bound
    weights: np.ndarray         # per-row ranking weight, float32 (top,)
    mask: np.ndarray | None     # per-row eligibility (live & filters), or None = all live
    prune: bool


def _block_order(plan: ScanPlan) -> np.ndarray:
    nb = -(-plan.top // plan.block_rows)
    if not plan.prune:
        return np.arange(nb)
    return np.argsort(-plan.bounds[:nb], kind="stable")


def scan_order(plan: ScanPlan) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, bounds) of the row ranges to scan, heaviest block first.

    When pruning cannot skip anything (pruning off, one block, or every block with the same
    bound, as with no importance spread and no decay) the whole slab is one range.
    """
    nb = -(-plan.top // plan.block_rows)
    if nb == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    bounds = plan.bounds[:nb]
    if not plan.prune or nb == 1 or bounds.min() == bounds.max():
        return np.zeros(1, np.int64), np.array([plan.top], np.int64), np.array([np.inf], np.float32)
    order = np.argsort(-bounds, kind="stable")
    los = order * plan.block_rows
    return los, np.minimum(los + plan.block_rows, plan.top), bounds[order].astype(np.float32)



def topk_rows(kernel: Kernel, vec: np.ndarray, q: np.ndarray, k: int, rows: np.ndarray, weights: np.ndarray):
    """Exact top-k over an explicit (small) set of rows: the gather path for id filters."""
    if rows.size == 0:
        return np.empty(0, np.int64), np.empty(0, np.float32), 0
    s = np.maximum(kernel.sims_rows(vec, rows, q), 0.0) * weights[rows]
    r = rows
    if s.size > k:
        part = np.argpartition(-s, k - 1)[:k]
        s, r = s[part], r[part]
    order = np.argsort(-s, kind="stable")
    return r[order], s[order], rows.size


def topk_batch(kernel: Kernel, vec: np.ndarray, qs: np.ndarray, k: int, plan: ScanPlan, pool=None, parts: int = 1):
    """Top-k for m queries at once: one matrix-matrix product per block, shared pruning.

    With a thread pool the queries are split into `parts` groups scanned in parallel (BLAS
    and the compiled merge release the GIL). Returns (rows (m, k), scores (m, k), rows
    scanned per query); rows padded with -1.
    """
    m = qs.shape[0]
    if pool is None or parts < 2 or m < 2:
        return _topk_batch(kernel, vec, qs, k, plan)
    cuts = np.linspace(0, m, min(parts, m) + 1).astype(int)
    futures = [pool.submit(_topk_batch, kernel, vec, qs[a:b], k, plan) for a, b in zip(cuts[:-1], cuts[1:])]
    done = [f.result() for f in futures]
    return (np.concatenate([d[0] for d in done]), np.concatenate([d[1] for d in done]),
            max(d[2] for d in done))


def _topk_batch(kernel: Kernel, vec: np.ndarray, qs: np.ndarray, k: int, plan: ScanPlan):
    m = qs.shape[0]
    qt = np.ascontiguousarray(qs.T)
    heap_s = np.empty((m, k), dtype=np.float32)
    heap_r = np.empty((m, k), dtype=np.int64)
    sizes = np.zeros(m, dtype=np.int64)
    use = plan.mask is not None
    none = np.zeros(0, dtype=bool)
    scanned = 0
    br = plan.block_rows
    for b in _block_order(plan).tolist():
        if plan.prune and batchkernel.kth_floor(heap_s, sizes, k) >= plan.bounds[b]:
            break
        lo, hi = b * br, min((b + 1) * br, plan.top)
        if use and not plan.mask[lo:hi].any():
            continue
        s = kernel.sims_batch(vec, lo, hi, qt)          # (n, m)
        scanned += hi - lo
        batchkernel.merge_block(s, plan.weights[lo:hi], plan.mask[lo:hi] if use else none, use, lo, k, heap_s,
                                heap_r, sizes)
    rows, scores = batchkernel.sorted_rows(heap_s, heap_r, sizes)
    return rows, scores, scanned
