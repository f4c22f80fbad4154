"""A readers-writer lock: many concurrent searches, one writer at a time.

Writers are preferred (a waiting writer blocks new readers) so a steady query load cannot
starve inserts. numpy and the compiled kernels release the GIL, so concurrent readers do
run in parallel on several cores. The lock is not reentrant: a reader must not take it again.
"""

from __future__ import annotations

import threading


class _Side:
    """`with lock.read():` / `with lock.write():` without a generator per use (hot path)."""

    __slots__ = ("_acquire", "_release")

    def __init__(self, acquire, release) -> None:
        self._acquire = acquire
        self._release = release

    def __enter__(self) -> None:
        self._acquire()

    def __exit__(self, *exc) -> None:
        self._release()


class RWLock:
    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0
        self._read = _Side(self._acquire_read, self._release_read)
        self._write = _Side(self._acquire_write, self._release_write)

    def read(self) -> _Side:
        return self._read

    def write(self) -> _Side:
        return self._write

    def _acquire_read(self) -> None:
        with self._cond:
            while self._writer or self._writers_waiting:
                self._cond.wait()
            self._readers += 1

    def _release_read(self) -> None:
        with self._cond:
            self._readers -= 1
            # only a writer ever waits for readers to leave; readers wait for writers only
            if not self._readers and self._writers_waiting:
                self._cond.notify_all()

    def _acquire_write(self) -> None:
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer = True

    def _release_write(self) -> None:
        with self._cond:
            self._writer = False
            self._cond.notify_all()
