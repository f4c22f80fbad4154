"""Result records returned by the engine."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Hit:
    """One ranked memory with the parts of its score: score = similarity * importance**alpha * decay."""

    id: str
    score: float
    similarity: float   # max(0, cos(q, v))
    importance: float   # normalised importance i in [0, 1]
    decay: float        # max(decay_floor, 2**(-(now - created) / half_life))


@dataclasses.dataclass(frozen=True)
class AddResult:
    importance_norm: np.ndarray          # the stored normalised importance of each added row
    evicted: list[str]                   # ids that left the hot tier because of this add
