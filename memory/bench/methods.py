"""Every method in the comparison: build once, then answer one query -> top-k row indices.

Peers rank by inner product. On a weighted workload they get the weight folded into the
vectors (w * v, w = i**alpha * decay at `now`), because max(0, q.v) * w = max(0, q.(w v)) for
w >= 0: the same ranking our engine computes, so every exact method answers the same
question. hnswlib gets the unit vectors (cosine), as it would be used raw.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from memory.engine import Engine, EngineConfig


@dataclasses.dataclass
class Method:
    name: str
    family: str                      # "engine" | "peer"
    query: Callable[[np.ndarray], np.ndarray]
    bytes_per_query: Callable[[], float | None]
    batch: Callable[[np.ndarray], list] | None = None
    close: Callable[[], None] = lambda: None
    note: str = ""


def engine_method(name: str, w, ids: list[str], k: int, *, norms, threads: int, **cfg) -> Method:
    config = EngineConfig(half_life_s=w.half_life_s, threads=threads, **cfg)
    eng = Engine(w.vectors.shape[1], config)
    for lo in range(0, len(ids), 50_000):
        hi = lo + 50_000
        eng.add(ids[lo:hi], w.vectors[lo:hi], importance_norm=None if norms is None else norms[lo:hi],
                created=None if w.created is None else w.created[lo:hi])
    if config.ann:
        eng.build_index()
    index = {i: n for n, i in enumerate(ids)}
    now = w.now if w.created is not None else None
    base = {"scanned": 0, "searches": 0}

    def reset_counters():
        st = eng.stats()
        base["scanned"], base["searches"] = st["bytes_scanned"], st["searches"]

    def query(q):
        return np.fromiter((index[h.id] for h in eng.search(q, k, now=now)), dtype=np.int64)

    def per_query_bytes():
        st = eng.stats()
        n = st["searches"] - base["searches"]
        return (st["bytes_scanned"] - base["scanned"]) / n if n else None

    def batch(qs, threads=None):
        return [np.fromiter((index[h.id] for h in hits), np.int64)
                for hits in eng.search_batch(qs, k, now=now, threads=threads)]

    note = "index cosines; re-rank reads weights only" if config.ann else ""
    m = Method(name, "engine", query, per_query_bytes, batch=batch, close=eng.close, note=note)
    m.engine = eng  # type: ignore[attr-defined]
    m.reset = reset_counters  # type: ignore[attr-defined]
    return m


def numpy_method(mat: np.ndarray, k: int) -> Method:
    def query(q):
        s = mat @ q
        part = np.argpartition(-s, k - 1)[:k]
        return part[np.argsort(-s[part])]

    return Method("numpy scan f32", "peer", query, lambda: float(mat.nbytes))


def faiss_flat(mat: np.ndarray, k: int) -> Method:
    import faiss

    index = faiss.IndexFlatIP(mat.shape[1])
    index.add(mat)

    def batch(qs, threads=1):
        faiss.omp_set_num_threads(threads)
        try:
            return list(index.search(np.ascontiguousarray(qs, dtype=np.float32), k)[1])
        finally:
            faiss.omp_set_num_threads(1)

    return Method("FAISS IndexFlatIP", "peer", lambda q: index.search(q[None, :], k)[1][0], lambda: float(mat.nbytes),
                  batch=batch)


def faiss_sq16(mat: np.ndarray, k: int) -> Method:
    import faiss

    index = faiss.IndexScalarQuantizer(mat.shape[1], faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    index.train(mat)
    index.add(mat)
    return Method("FAISS SQ fp16", "peer", lambda q: index.search(q[None, :], k)[1][0],
                  lambda: float(mat.shape[0] * mat.shape[1] * 2))


def hnsw_raw(unit: np.ndarray, k: int, *, m: int, ef_construction: int, ef: int, threads: int) -> Method:
    import hnswlib

    index = hnswlib.Index(space="ip", dim=unit.shape[1])
    index.init_index(max_elements=unit.shape[0], M=m, ef_construction=ef_construction)
    index.add_items(unit, np.arange(unit.shape[0]), num_threads=threads)
    index.set_ef(ef)

    def query(q):
        return index.knn_query(q[None, :], k=k, num_threads=1)[0][0].astype(np.int64)

    method = Method(f"hnswlib raw (ef={ef})", "peer", query, lambda: None, note="cosine only")
    method.index = index  # type: ignore[attr-defined]
    return method


def hnsw_beam(raw: Method, k: int, beam: int) -> Method:
    """The same raw hnswlib index searched with the beam the engine's guard settled on:
    asks for `beam` results (hnswlib searches with max(ef, k)) and keeps the first k, as
    the engine's adapter does. The same-work, same-recall peer of the engine's ANN."""
    index = raw.index  # type: ignore[attr-defined]

    def query(q):
        return index.knn_query(q[None, :], k=max(k, beam), num_threads=1)[0][0][:k].astype(np.int64)

    return Method(f"hnswlib raw (beam={beam})", "peer", query, lambda: None, note="cosine only, engine's beam")
