"""Result records returned by the engine."""

from __future__ import annotations

import dataclasses
import typing

import numpy as np


class Hit(typing.NamedTuple):
    """One ranked memory with the parts of its score: score = similarity * importance**alpha * decay.

    A named tuple, not a dataclass: a search builds k of them, and a frozen dataclass costs
    ~1.8 us each against ~0.35 us, most of the Python around an ANN query."""

    id: str
    score: float
    similarity: float   # max(0, cos(q, v))
    importance: float   # normalised importance i in [0, 1]
    decay: float        # max(decay_floor, 2**(-(now - created) / half_life))


@dataclasses.dataclass(frozen=True)
class AddResult:
    importance_norm: np.ndarray          # the stored normalised importance of each added row
    evicted: list[str]                   # ids that left the hot tier because of this add
