"""hnswlib adapter: inner-product HNSW over unit vectors (= cosine)."""

from __future__ import annotations

import numpy as np

from ..errors import EngineError
from .base import AnnAdapter


def _none() -> tuple[np.ndarray, np.ndarray]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)


class HnswAdapter(AnnAdapter):
    name = "hnsw"

    def __init__(self, dim: int, *, m: int, ef_construction: int, threads: int) -> None:
        try:
            import hnswlib
        except ImportError as exc:  # the `ann` extra
            raise EngineError("ann='hnsw' needs hnswlib: pip install 'somastack[ann]'") from exc
        self._threads = threads
        self._index = hnswlib.Index(space="ip", dim=dim)
        # Deleted slots are reused by later inserts, so a long-running engine with updates
        # does not grow its graph without bound.
        self._index.init_index(max_elements=1024, M=m, ef_construction=ef_construction, allow_replace_deleted=True)
        # ef is index-global in hnswlib and searches use max(ef, k): keep it minimal and ask
        # for max(n, ef) results instead, so concurrent queries at different widths (the
        # guard probes another level on its worker) never race on a shared setting
        self._index.set_ef(1)
        self._deleted = 0
        self._live = 0

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if labels.size == 0:
            return
        reuse = min(self._deleted, labels.size)
        need = self._index.get_current_count() + labels.size - reuse
        if need > self._index.get_max_elements():
            self._index.resize_index(max(need, 2 * self._index.get_max_elements()))
        if reuse:
            self._index.add_items(vectors[:reuse], labels[:reuse], num_threads=self._threads, replace_deleted=True)
            self._deleted -= reuse
        if reuse < labels.size:
            self._index.add_items(vectors[reuse:], labels[reuse:], num_threads=self._threads)
        self._live += labels.size

    def remove(self, labels: np.ndarray) -> None:
        for label in labels.tolist():
            try:
                self._index.mark_deleted(int(label))
                self._live -= 1
                self._deleted += 1
            except RuntimeError:
                pass  # already deleted or never indexed

    def query(self, q: np.ndarray, n: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        # The hot path of every ANN search: no reshaping, no copies. Returns max(n, ef)
        # candidates (the whole search beam), all of which the engine re-ranks.
        n = min(max(n, ef), self._live)
        if n <= 0:
            return _none()
        try:
            labels, dist = self._index.knn_query(q, k=n, num_threads=1)
        except RuntimeError:  # too few reachable live points for n: let the caller go exact
            return _none()
        return labels[0].view(np.int64), np.float32(1.0) - dist[0]  # "ip" distance is 1 - q.v

    def __len__(self) -> int:
        return self._live

    @property
    def slots(self) -> int:
        """Elements the graph holds, live and deleted (bounded by reuse of deleted slots)."""
        return self._index.get_current_count()
