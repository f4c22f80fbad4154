"""The rate limiter's storage (memory/api/ratelimit.py) on the real `limits` library: the
same counts and refusals as the stock storage, without a timer thread per 10 ms."""

from __future__ import annotations

import time

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from memory.api.ratelimit import SweptMemoryStorage


def _timers_started(storage, hits: int, pause_s: float) -> dict:
    limiter = SlidingWindowCounterRateLimiter(storage)
    item = parse("1000000/minute")
    seen = {id(storage.timer): storage.timer}  # the objects kept alive, so no id is reused
    for _ in range(hits):
        assert limiter.hit(item, "caller")
        seen[id(storage.timer)] = storage.timer
        time.sleep(pause_s)
    return seen


def test_swept_storage_starts_a_sweep_at_most_once_a_second():
    stock = _timers_started(MemoryStorage(), 60, 0.015)
    swept = _timers_started(SweptMemoryStorage(), 60, 0.015)
    assert len(stock) > 20  # the library's own behaviour: a new Timer thread after each 10 ms
    assert len(swept) <= 3  # the constructor's, and at most two sweeps in ~1 s


def test_swept_storage_counts_and_refuses_like_the_stock_one():
    item = parse("5/second")
    for storage in (MemoryStorage(), SweptMemoryStorage()):
        limiter = SlidingWindowCounterRateLimiter(storage)
        answers = [limiter.hit(item, "k") for _ in range(7)]
        assert answers == [True] * 5 + [False] * 2
        assert limiter.get_window_stats(item, "k").remaining == 0
        assert limiter.hit(item, "other")  # buckets are per key


def test_expired_windows_are_swept():
    storage = SweptMemoryStorage()
    limiter = SlidingWindowCounterRateLimiter(storage)
    limiter.hit(parse("10/second"), "gone-quiet")
    assert storage.storage  # the counters exist
    deadline = time.monotonic() + 5
    while storage.storage and time.monotonic() < deadline:
        time.sleep(0.1)
        storage._MemoryStorage__schedule_expiry()  # what the next request of anyone triggers
    assert not storage.storage  # both windows (2 s) expired and swept
