"""Timing, recall and read bandwidth, measured in the same process as the methods."""

from __future__ import annotations

import time

import numpy as np


def latencies(fn, queries: np.ndarray, warmup: int = 40) -> np.ndarray:
    """Seconds per single-query call of fn(q) for each query, after `warmup` untimed calls.

    The warm-up also covers the recall guard's calibration window (32 checked queries).
    """
    for i in range(warmup):
        fn(queries[i % len(queries)])
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        t = time.perf_counter()
        fn(q)
        out[i] = time.perf_counter() - t
    return out


def recall_at_k(found: list[np.ndarray], truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(np.asarray(f[:k]).tolist()) & set(t[:k].tolist())) for f, t in zip(found, truth))
    return hits / (k * len(truth))


def read_bandwidth(nbytes: int = 512 * 2**20, repeats: int = 5) -> float:
    """Bytes per second one thread reads from memory (best of `repeats` float32 sums)."""
    a = np.ones(nbytes // 4, dtype=np.float32)
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        a.sum()
        best = min(best, time.perf_counter() - t)
    return nbytes / best


def ground_truth(w, k: int) -> tuple[np.ndarray, np.ndarray]:
    """float64 brute force of the full score; returns (unit vectors float32, top-k indices)."""
    v = w.vectors.astype(np.float64)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    weights = np.ones(len(v))
    if w.importance is not None:
        weights = weights * w.norms
    if np.isfinite(w.half_life_s):
        weights = weights * 2.0 ** (-(w.now - w.created) / w.half_life_s)
    truth = []
    for lo in range(0, len(w.queries), 64):
        q = w.queries[lo:lo + 64].astype(np.float64)
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        s = np.maximum(v @ q.T, 0.0) * weights[:, None]
        part = np.argpartition(-s, k - 1, axis=0)[:k].T
        for j, p in enumerate(part):
            truth.append(p[np.argsort(-s[p, j], kind="stable")])
    return weights, np.asarray(truth)
