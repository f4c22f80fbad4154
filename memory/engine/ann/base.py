"""The adapter interface: an index of unit vectors under stable integer labels.

Adapters only propose candidates by cosine; the engine maps labels back to live rows
(dropping anything removed), re-ranks candidates by the full score, and the recall guard
checks the result against the exact path.
"""

from __future__ import annotations

import abc

import numpy as np

from ..errors import InvalidArgument


class AnnAdapter(abc.ABC):
    name = "ann"

    @abc.abstractmethod
    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Insert (or replace) float32 unit vectors under int64 labels."""

    @abc.abstractmethod
    def remove(self, labels: np.ndarray) -> None:
        """Remove labels so they are never proposed again."""

    @abc.abstractmethod
    def query(self, q: np.ndarray, n: int, ef: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to n (labels int64, cosine similarities float32) nearest to the unit vector q,
        searched with a beam of ef; an adapter may return up to max(n, ef) (the whole beam).

        Labels may be padded with -1. The similarities come from the index's own float32
        copy of the vectors, so re-ranking needs no second read of the candidates' rows.
        """

    @abc.abstractmethod
    def __len__(self) -> int:
        """Live labels in the index."""


def make_adapter(kind: str, dim: int, *, m: int, ef_construction: int, threads: int) -> AnnAdapter:
    if kind == "hnsw":
        from .hnsw import HnswAdapter

        return HnswAdapter(dim, m=m, ef_construction=ef_construction, threads=threads)
    if kind == "faiss":
        from .faiss_hnsw import FaissHnswAdapter

        return FaissHnswAdapter(dim, m=m, ef_construction=ef_construction, threads=threads)
    raise InvalidArgument(f"unknown ANN backend {kind!r}")
