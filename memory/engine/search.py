"""Exact top-k by blocks, skipping every block whose weight bound cannot enter the top k.

score_row = max(0, q.v) * weight_row and q.v <= 1, so a block's best possible score is its
largest weight. Blocks are visited from the largest bound down; once k results are held and
the k-th best score is >= the next block's bound, no later block can change the result, so
the answer is exactly the brute-force answer while reading only the blocks visited.
"""

from __future__ import annotations

import dataclasses

import numpy as np

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


def topk_batch(kernel: Kernel, vec: np.ndarray, qs: np.ndarray, k: int, plan: ScanPlan):
    """Top-k for m queries at once: one matrix-matrix product per block, shared pruning.

    Returns (rows (m, <=k), scores (m, <=k), rows scanned); rows padded with -1.
    """
    m = qs.shape[0]
    qt = np.ascontiguousarray(qs.T)
    best_s = np.full((m, k), -np.inf, dtype=np.float32)
    best_r = np.full((m, k), -1, dtype=np.int64)
    scanned = 0
    br = plan.block_rows
    for b in _block_order(plan).tolist():
        if plan.prune and best_s[:, -1].min() >= plan.bounds[b] and np.isfinite(best_s).all():
            break
        lo, hi = b * br, min((b + 1) * br, plan.top)
        s = kernel.sims_batch(vec, lo, hi, qt)          # (n, m)
        scanned += hi - lo
        np.maximum(s, 0.0, out=s)
        s *= plan.weights[lo:hi, None]
        r = np.arange(lo, hi)
        if plan.mask is not None:
            idx = np.flatnonzero(plan.mask[lo:hi])
            if idx.size == 0:
                continue
            s, r = s[idx], r[idx]
        s = s.T                                         # (m, n)
        if s.shape[1] > k:
            part = np.argpartition(-s, k - 1, axis=1)[:, :k]
            s = np.take_along_axis(s, part, axis=1)
            rr = r[part]
        else:
            rr = np.broadcast_to(r, s.shape)
        cs = np.concatenate([best_s, s], axis=1)
        cr = np.concatenate([best_r, rr], axis=1)
        part = np.argpartition(-cs, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(cs, part, axis=1)
        best_r = np.take_along_axis(cr, part, axis=1)
        # keep column k-1 the current k-th best for the pruning test
        order = np.argsort(-best_s, axis=1, kind="stable")
        best_s = np.take_along_axis(best_s, order, axis=1)
        best_r = np.take_along_axis(best_r, order, axis=1)
    return best_r, best_s, scanned
