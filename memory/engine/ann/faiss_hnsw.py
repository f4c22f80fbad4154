"""faiss adapter (optional): IndexHNSWFlat with inner product, labels through IndexIDMap.

faiss's HNSW cannot delete, so removed labels are tombstoned here and filtered out of every
answer; the engine drops them again when it maps labels to live rows.
"""

from __future__ import annotations

import numpy as np

from ..errors import EngineError
from .base import AnnAdapter


class FaissHnswAdapter(AnnAdapter):
    name = "faiss"

    def __init__(self, dim: int, *, m: int, ef_construction: int, threads: int) -> None:
        try:
            import faiss
        except ImportError as exc:
            raise EngineError("ann='faiss' needs faiss-cpu: pip install 'somastack[ann]'") from exc
        self._faiss = faiss
        inner = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efConstruction = ef_construction
        self._inner = inner
        self._index = faiss.IndexIDMap(inner)
        self._dead: set[int] = set()
        self._live = 0

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        if labels.size:
            self._index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), labels.astype(np.int64))
            self._live += labels.size

    def remove(self, labels: np.ndarray) -> None:
        for label in labels.tolist():
            if label not in self._dead:
                self._dead.add(int(label))
                self._live -= 1

    def query(self, q: np.ndarray, n: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        if self._live <= 0 or n <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        fetch = min(n + len(self._dead), self._index.ntotal)
        params = self._faiss.SearchParametersHNSW(efSearch=max(ef, fetch))
        sims, labels = self._index.search(np.ascontiguousarray(q[None, :], dtype=np.float32), fetch, params=params)
        labels, sims = labels[0], sims[0]
        if self._dead:
            labels = np.where(np.isin(labels, np.fromiter(self._dead, dtype=np.int64)), -1, labels)
        return labels, sims

    def __len__(self) -> int:
        return self._live

    @property
    def slots(self) -> int:
        """Elements the graph holds, live and tombstoned (faiss HNSW cannot reuse them)."""
        return int(self._index.ntotal)
