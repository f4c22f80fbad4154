"""Plain numpy brute force the engine is checked against (independent of the engine's code paths)."""

from __future__ import annotations

import numpy as np


def brute_scores(vectors, norms, created, q, *, alpha=1.0, half_life=np.inf, floor=0.0, now=0.0, mask=None):
    """Full score of every row (float64); rows outside `mask` get -inf."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    qq = np.asarray(q, dtype=np.float64)
    qq = qq / np.linalg.norm(qq)
    if np.isfinite(half_life):
        decay = np.maximum(floor, 2.0 ** (-(now - np.asarray(created, dtype=np.float64)) / half_life))
    else:
        decay = np.ones(len(v))
    scores = np.maximum(v @ qq, 0.0) * np.asarray(norms, dtype=np.float64) ** alpha * decay
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    return scores


def check_topk(hits, ids, scores, k, tol=2e-5):
    """hits must be an exact top-k of `scores` (ties at the boundary may resolve either way).

    `tol` is relative to the largest score (scores exceed 1 when rows are newer than `now`).
    """
    ids = list(ids)
    finite = scores[np.isfinite(scores)]
    tol = tol * max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)
    eligible = int(np.isfinite(scores).sum())
    order = np.argsort(-scores, kind="stable")
    kk = min(k, eligible)
    assert len(hits) == kk, (len(hits), kk)
    expected = scores[order[:kk]]
    got = np.array([h.score for h in hits])
    np.testing.assert_allclose(got, expected, atol=tol, rtol=0)
    index = {i: n for n, i in enumerate(ids)}
    assert len({h.id for h in hits}) == len(hits), "duplicate ids in result"
    for h in hits:
        assert abs(scores[index[h.id]] - h.score) <= tol, (h, scores[index[h.id]])
    if kk:
        kth = expected[-1]
        must = {ids[i] for i in order[:kk] if scores[i] > kth + tol}
        assert must <= {h.id for h in hits}
