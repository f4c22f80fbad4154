"""One namespace's contiguous storage: vectors plus parallel arrays, id maps and a free list.

Rows are addressed by index; `top` is the high-water mark. A removed row goes on the free
list and is reused by the next insert, so deletes leave no lasting holes, and a removed row
is dead (live=False, no id) the instant remove returns: it can never be returned again.
Capacity doubles when full. Rows are grouped into fixed blocks of `block_rows`; each block
keeps an upper bound of its rows' ranking weight, which lets search skip whole blocks.
With `codes=True` every row is also kept as int8 codes with its scale and error norms
(quant.py), moved with the row like every other parallel array.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True)
def _permute_rows(arr, perm):  # pragma: no cover - compiled
    """arr[i] = (old arr)[perm[i]] for i < perm.size, perm a permutation of range(perm.size),
    following its cycles with one row of scratch space."""
    n = perm.size
    done = np.zeros(n, dtype=np.bool_)
    tmp = np.empty(arr.shape[1], dtype=arr.dtype)
    for start in range(n):
        if done[start]:
            continue
        done[start] = True
        if perm[start] == start:
            continue
        tmp[:] = arr[start]
        j = start
        while True:
            k = perm[j]
            if k == start:
                arr[j] = tmp
                break
            arr[j] = arr[k]
            done[k] = True
            j = k



class Slab:
    def __init__(self, dim: int, dtype: str, capacity: int, block_rows: int, codes: bool = False) -> None:
        self.dim = dim
        self.has_codes = codes
        self.parallel = self.PARALLEL + (self.CODES if codes else ())
        self.dtype = np.dtype(dtype)
        self.block_rows = block_rows
        self.top = 0
        self.free: list[int] = []
        self.id_to_row: dict[str, int] = {}
        self.held = 0  # bytes held by live rows (row_bytes summed), kept current by add/release
        self._alloc(max(1, capacity))

    # -- allocation --------------------------------------------------------------------
    def _alloc(self, cap: int) -> None:
        self.vec = np.zeros((cap, self.dim), dtype=self.dtype)
        self.row_id = np.empty(cap, dtype=object)
        self.live = np.zeros(cap, dtype=bool)
        self.imp_raw = np.zeros(cap, dtype=np.float64)
        self.imp_norm = np.zeros(cap, dtype=np.float64)
        self.imp_alpha = np.zeros(cap, dtype=np.float32)   # i ** alpha
        self.tw = np.zeros(cap, dtype=np.float64)          # 2 ** ((t - t_ref) / tau)
        self.w = np.zeros(cap, dtype=np.float32)           # ranking weight imp_alpha * tw
        self.created = np.zeros(cap, dtype=np.float64)
        self.last_access = np.zeros(cap, dtype=np.float64)
        self.access_count = np.zeros(cap, dtype=np.int64)
        self.kind = np.zeros(cap, dtype=np.int32)
        self.extra_bytes = np.zeros(cap, dtype=np.int64)
        self.label = np.full(cap, -1, dtype=np.int64)      # stable ANN label of the row
        if self.has_codes:
            self.codes = np.zeros((cap, self.dim), dtype=np.int8)   # round(v / code_scale)
            self.code_scale = np.ones(cap, dtype=np.float32)
            self.code_cnorm = np.zeros(cap, dtype=np.float32)       # |code_scale * codes|, rounded up
            self.code_err = np.zeros(cap, dtype=np.float32)         # |v - code_scale * codes|, rounded up
        nblocks = -(-cap // self.block_rows)
        self.block_wmax = np.zeros(nblocks, dtype=np.float32)
        self.block_imax = np.zeros(nblocks, dtype=np.float32)

    PARALLEL = ("vec", "row_id", "live", "imp_raw", "imp_norm", "imp_alpha", "tw", "w", "created",
                "last_access", "access_count", "kind", "extra_bytes", "label")
    CODES = ("codes", "code_scale", "code_cnorm", "code_err")

    @property
    def capacity(self) -> int:
        return self.vec.shape[0]

    def __len__(self) -> int:
        return len(self.id_to_row)

    def _grow(self, need: int) -> None:
        cap = self.capacity
        while cap < need:
            cap *= 2
        if cap == self.capacity:
            return
        old = {name: getattr(self, name) for name in self.parallel}
        old_wmax, old_imax = self.block_wmax, self.block_imax
        self._alloc(cap)
        for name, arr in old.items():
            getattr(self, name)[: self.top] = arr[: self.top]
        self.block_wmax[: old_wmax.size] = old_wmax
        self.block_imax[: old_imax.size] = old_imax

    def take_rows(self, n: int) -> np.ndarray:
        """Row indices for n new rows: free slots first, then fresh rows past `top`."""
        reuse = [self.free.pop() for _ in range(min(n, len(self.free)))]
        fresh = n - len(reuse)
        if fresh:
            self._grow(self.top + fresh)
            reuse.extend(range(self.top, self.top + fresh))
            self.top += fresh
        return np.asarray(reuse, dtype=np.int64)

    def release(self, rows: np.ndarray) -> None:
        self.held -= int(self.row_bytes(rows[self.live[rows]]).sum())
        for r in rows.tolist():
            rid = self.row_id[r]
            if rid is not None:
                self.id_to_row.pop(rid, None)
            self.row_id[r] = None
        self.live[rows] = False
        self.w[rows] = 0.0
        self.imp_alpha[rows] = 0.0
        self.label[rows] = -1
        self.free.extend(sorted(rows.tolist(), reverse=True))
        # Keep the tail tight so scans stop at the last live row; the free list is only
        # filtered when the tail did shrink (a removal inside the slab costs O(rows removed)).
        top = self.top
        while self.top and not self.live[self.top - 1]:
            self.top -= 1
        if self.top != top:
            self.free = [r for r in self.free if r < self.top]

    def set_codes(self, rows: np.ndarray) -> None:
        """Quantise the stored vectors of `rows` (after they were written) into the int8 copy."""
        if not (self.has_codes and rows.size):
            return
        from .quant import quantise, quantise_into

        lo, hi = int(rows.min()), int(rows.max()) + 1
        if hi - lo == rows.size and self.vec.dtype == np.float32:
            # the rows are one run (a load chunk, a bulk write; rows are distinct): quantised
            # in place, without gathering the vectors and scattering the codes (~9% of a load)
            quantise_into(self.vec[lo:hi], self.codes[lo:hi], self.code_scale[lo:hi], self.code_cnorm[lo:hi],
                          self.code_err[lo:hi])
            return
        self.codes[rows], self.code_scale[rows], self.code_cnorm[rows], self.code_err[rows] = quantise(self.vec[rows])

    # -- block bounds ------------------------------------------------------------------
    def raise_bounds(self, rows: np.ndarray) -> None:
        """Blocks holding `rows` may now hold larger weights; bounds only ever grow here."""
        if rows.size == 0:
            return
        blocks = rows // self.block_rows
        np.maximum.at(self.block_wmax, blocks, self.w[rows])
        np.maximum.at(self.block_imax, blocks, self.imp_alpha[rows])

    def rebuild_bounds(self) -> None:
        nb = self.nblocks
        self.block_wmax[:] = 0.0
        self.block_imax[:] = 0.0
        if nb:
            pad = nb * self.block_rows - self.top
            w = np.concatenate([self.w[: self.top], np.zeros(pad, np.float32)])
            i = np.concatenate([self.imp_alpha[: self.top], np.zeros(pad, np.float32)])
            self.block_wmax[:nb] = w.reshape(nb, self.block_rows).max(axis=1)
            self.block_imax[:nb] = i.reshape(nb, self.block_rows).max(axis=1)

    @property
    def nblocks(self) -> int:
        return -(-self.top // self.block_rows)

    # -- reorganisation ----------------------------------------------------------------
    def reorganize(self) -> None:
        """Pack live rows to [0, n) sorted by weight, heaviest first, so blocks are tight."""
        rows = np.flatnonzero(self.live[: self.top])
        order = rows[np.argsort(-self.w[rows], kind="stable")]
        # the 2-D arrays (vectors, codes: nearly all the bytes) are permuted in place, a row at
        # a time: `arr[order]` would copy them whole, doubling the peak memory of a 1M load
        perm = np.concatenate([order, np.flatnonzero(~self.live[: self.top])])
        for name in self.parallel:
            arr = getattr(self, name)
            if arr.ndim == 2 and arr.dtype != np.float16:  # numba has no float16 arrays
                _permute_rows(arr, perm)
                continue
            arr[: order.size] = arr[order]
            if name == "live":
                arr[order.size: self.top] = False
            elif name == "row_id":
                arr[order.size: self.top] = None
            elif name == "label":
                arr[order.size: self.top] = -1
            elif name in ("w", "imp_alpha"):
                arr[order.size: self.top] = 0.0
        self.top = order.size
        self.free = []
        self.id_to_row = {rid: r for r, rid in enumerate(self.row_id[: self.top].tolist())}
        self.rebuild_bounds()

    # -- accounting --------------------------------------------------------------------
    @property
    def meta_bytes(self) -> int:
        """Bytes a row holds besides its vector: one row of every parallel array (int8 codes included)."""
        return sum(getattr(self, n)[:1].nbytes for n in self.parallel if n != "vec")

    def row_bytes(self, rows: np.ndarray | slice) -> np.ndarray:
        """Bytes held per row (the retention cost and the hot-tier budget count these)."""
        return self.dim * self.dtype.itemsize + self.meta_bytes + self.extra_bytes[rows]

    def nbytes(self) -> int:
        return int(sum(getattr(self, n).nbytes for n in self.parallel if n != "row_id")
                   + self.row_id.nbytes + self.block_wmax.nbytes + self.block_imax.nbytes)
