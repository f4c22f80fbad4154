"""Stable integer labels for rows, the ids an ANN index knows them by.

A row's index changes when the slab is re-packed and a freed row is reused by another id,
so the index never sees row numbers: each insert gets a fresh label, and this map turns
labels back into current rows (-1 once the row is removed, so a removed row can never come
back through the index, even when its slot is reused).
"""

from __future__ import annotations

import numpy as np


class LabelMap:
    def __init__(self, capacity: int = 1024) -> None:
        self.next = 0
        self.to_row = np.full(capacity, -1, dtype=np.int64)  # label -> row, -1 = gone

    def assign(self, rows: np.ndarray) -> np.ndarray:
        """Fresh labels for `rows` (never used before), mapped to them."""
        labels = np.arange(self.next, self.next + rows.size, dtype=np.int64)
        self.next += rows.size
        if self.next > self.to_row.size:
            grown = np.full(max(self.next, 2 * self.to_row.size), -1, np.int64)
            grown[: self.to_row.size] = self.to_row
            self.to_row = grown
        self.to_row[labels] = rows
        return labels

    def forget(self, labels: np.ndarray) -> None:
        self.to_row[labels] = -1

    def moved(self, labels: np.ndarray, rows: np.ndarray) -> None:
        """The rows holding `labels` are now `rows` (after a re-pack)."""
        self.to_row[labels] = rows
