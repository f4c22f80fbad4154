"""Weighted shortest path over a namespace's links (Dijkstra; weights are >= 0)."""

from __future__ import annotations

import heapq
import math
from typing import Iterable


def shortest_path(edges: Iterable[tuple[str, str, float]], src: str,
                  dst: str) -> tuple[list[str], float] | None:
    """The cheapest path from `src` to `dst` over directed (from, to, weight) edges and its
    cost, or None when `dst` cannot be reached."""
    graph: dict[str, list[tuple[str, float]]] = {}
    for a, b, w in edges:
        graph.setdefault(a, []).append((b, w))
    dist = {src: 0.0}
    prev: dict[str, str] = {}
    heap = [(0.0, src)]
    while heap:
        d, node = heapq.heappop(heap)
        if node == dst:
            path = [dst]
            while path[-1] != src:
                path.append(prev[path[-1]])
            return path[::-1], d
        if d > dist.get(node, math.inf):
            continue  # a stale heap entry: a shorter way here was already expanded
        for nxt, w in graph.get(node, ()):
            nd = d + w
            if nd < dist.get(nxt, math.inf):
                dist[nxt], prev[nxt] = nd, node
                heapq.heappush(heap, (nd, nxt))
    return None
