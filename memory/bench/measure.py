"""Timing, recall and read bandwidth, measured in the same process as the methods."""

from __future__ import annotations

import time

import numpy as np


def warm_up(fn, queries: np.ndarray, n: int = 40) -> None:
    """Untimed calls; 40 also covers the recall guard's calibration window (32 checks)."""
    for i in range(n):
        fn(queries[i % len(queries)])


def interleaved(methods, queries: np.ndarray) -> list[np.ndarray]:
    """Seconds per single-query call, per method; query i goes through every method before i + 1."""
    out = [np.empty(len(queries)) for _ in methods]
    order = list(range(len(methods)))
    for i, q in enumerate(queries):
        for j in order:
            t = time.perf_counter()
            methods[j].query(q)
            out[j][i] = time.perf_counter() - t
        order = order[1:] + order[:1]
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
