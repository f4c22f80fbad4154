"""Retention score of reference-upstream §1.5 (orthogonal to the retrieval score).

R = g1 * i**alpha + g2 * 2**(-(now - t_access)/tau_r) + g3 * log(1 + c)/log(1 + C_max) - g4 * cost

c is the row's access count and C_max the largest access count among the rows ranked (the
frequency term is 0 while nothing has been accessed); t_access is the last access, or the
creation time for a row never accessed; cost = bytes the row holds / cost_unit_bytes.
"""

from __future__ import annotations

import numpy as np


def retention_scores(*, imp_alpha: np.ndarray, last_access: np.ndarray, access_count: np.ndarray,
                     row_bytes: np.ndarray, now: float, g1: float, g2: float, g3: float, g4: float,
                     tau_r: float, cost_unit: float) -> np.ndarray:
    recency = np.exp2(-np.maximum(now - last_access, 0.0) / tau_r)
    c_max = int(access_count.max()) if access_count.size else 0
    freq = np.log1p(access_count) / np.log1p(c_max) if c_max > 0 else np.zeros(access_count.shape)
    cost = row_bytes / cost_unit
    return g1 * imp_alpha.astype(np.float64) + g2 * recency + g3 * freq - g4 * cost
