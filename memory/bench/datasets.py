"""The three workloads (and external .npy data) with their ground truth inputs."""

from __future__ import annotations

import dataclasses
import math

import numpy as np

DAY = 86400.0


@dataclasses.dataclass
class Workload:
    name: str
    vectors: np.ndarray          # (n, d) float32, not necessarily unit
    queries: np.ndarray          # (m, d) float32
    importance: np.ndarray | None = None
    created: np.ndarray | None = None
    half_life_s: float = math.inf
    now: float = 0.0

    @property
    def weighted(self) -> bool:
        return self.importance is not None or math.isfinite(self.half_life_s)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def uniform(n: int, d: int, m: int, rng: np.random.Generator) -> Workload:
    """Isotropic Gaussian directions: the hardest case for pruning and for ANN."""
    return Workload("uniform", rng.standard_normal((n, d), dtype=np.float32),
                    rng.standard_normal((m, d), dtype=np.float32))


def clustered(n: int, d: int, m: int, rng: np.random.Generator, clusters: int = 256) -> Workload:
    """Gaussian clusters around random centres, queries drawn near the same centres."""
    centres = _unit(rng.standard_normal((clusters, d), dtype=np.float32))
    spread = 0.6 / math.sqrt(d)
    vecs = centres[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, d), dtype=np.float32)
    qs = centres[rng.integers(0, clusters, m)] + spread * rng.standard_normal((m, d), dtype=np.float32)
    return Workload("clustered", vecs.astype(np.float32), qs.astype(np.float32))


def agent_memory(n: int, d: int, m: int, rng: np.random.Generator, half_life_days: float = 14.0) -> Workload:
    """Clustered memories written over 90 days, heavy-tailed importance, a 14-day half-life."""
    base = clustered(n, d, m, rng)
    now = 1_700_000_000.0
    created = now - 90 * DAY * rng.random(n) ** 1.5   # more recent memories than old ones
    importance = rng.pareto(1.2, n) + 1.0             # most memories routine, a few critical
    return Workload("agent", base.vectors, base.queries, importance=importance, created=created,
                    half_life_s=half_life_days * DAY, now=now)


def text(n: int, d: int, m: int, rng: np.random.Generator, log=print) -> Workload:
    """MiniLM embeddings (384-d) of docstring paragraphs of the installed packages, queried
    by held-out paragraphs (textdata.py; embedded once, cached outside the repository)."""
    from .textdata import TextEmbeddings

    if d != 384:
        raise SystemExit("the text workload is MiniLM's 384 dimensions: use --dim 384")
    data = TextEmbeddings(log=log)
    if n > data.available_rows:
        raise SystemExit(f"the docstring corpus has {data.available_rows:,} rows; asked for {n:,}")
    return Workload("text", data.rows(n), data.queries(m))


def external(vectors_path: str, queries_path: str | None, m: int, rng: np.random.Generator) -> Workload:
    vecs = np.load(vectors_path, mmap_mode="r")
    if vecs.ndim != 2:
        raise SystemExit(f"{vectors_path}: expected a 2-D float array (rows, dim), got shape {vecs.shape}")
    vecs = np.ascontiguousarray(vecs, dtype=np.float32)
    if queries_path:
        qs = np.ascontiguousarray(np.load(queries_path), dtype=np.float32)
        if qs.ndim != 2 or qs.shape[1] != vecs.shape[1]:
            raise SystemExit(f"{queries_path}: expected (m, {vecs.shape[1]}), got shape {qs.shape}")
        qs = qs[:m]
    else:  # held-out style: perturbed copies of random rows
        pick = vecs[rng.integers(0, vecs.shape[0], m)]
        qs = pick + 0.05 * np.linalg.norm(pick, axis=1, keepdims=True) / math.sqrt(vecs.shape[1]) \
            * rng.standard_normal(pick.shape, dtype=np.float32)
    keep = np.linalg.norm(vecs, axis=1) > 0
    if not keep.all():
        vecs = vecs[keep]
    return Workload("external", vecs, qs.astype(np.float32))
