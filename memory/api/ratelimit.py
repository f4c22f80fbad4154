"""Rate limits: one bucket per identity across every route, with the `limits` library.

The service has one application-wide limit per caller (RATE_LIMIT, or AUTH_FAIL_LIMIT for
a request that failed authentication), a sliding-window counter in process memory. This
module asks `limits` for exactly that. flask-limiter, which did it before, resolved decorated,
default and exempt limits, scopes and context proxies on every request and re-parsed the
answer into headers: about a third of a recall's time in the service's own profile
(docs/benchmarks.md), for one counter update.

Answers: 429 problem+json with Retry-After when the bucket is full; `X-RateLimit-Limit`,
`X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds) on every limited response.
`/healthz`, `/readyz`, `/metrics`, `/openapi.json` and unmatched paths are not limited.
"""

from __future__ import annotations

import math
import threading
import time

from flask import Flask, current_app, g, request
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from memory.api import problems
from memory.api.auth import Principal, identify, rate_key
from memory.config import Settings


class SweptMemoryStorage(MemoryStorage):
    """limits' in-process storage, sweeping expired windows at most once a second.

    The stock storage starts a `threading.Timer` thread (10 ms) from every counter update
    whenever the previous one has ended: under steady traffic about one thread start per
    10 ms, ~12% of a single store's time in-process (docs/benchmarks.md). Expired counters
    are also dropped when they are read, so the sweep only reclaims windows nobody reads
    again (an identity gone quiet): once a second is plenty. Overrides limits 5.x's private
    hook; tests/service/test_ratelimit.py fails if that hook stops being the one called."""

    SWEEP_EVERY_S = 1.0

    def __init__(self) -> None:
        self._next_sweep = 0.0
        super().__init__()

    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now >= self._next_sweep and not self.timer.is_alive():
            self._next_sweep = now + self.SWEEP_EVERY_S
            self.timer = threading.Timer(0.01, self._MemoryStorage__expire_events)
            self.timer.start()


class RateLimits:
    """The app's limiter: `limiter` (a limits strategy over its own in-memory storage) is
    also what /metrics counts failed scrapes in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = SweptMemoryStorage()
        self.limiter = SlidingWindowCounterRateLimiter(self.storage)
        self._ok = parse(settings.rate_limit)
        self._failed = parse(settings.auth_fail_limit)
        self._exempt: set = set()

    def exempt(self, view):
        """Decorator: this view is not limited."""
        self._exempt.add(view)
        return view

    def register(self, app: Flask) -> None:
        app.extensions["memory_limiter"] = self
        app.before_request(self._check)
        app.after_request(self._headers)

    def _check(self):
        endpoint = request.endpoint
        if not endpoint or current_app.view_functions.get(endpoint) in self._exempt:
            return None
        item = self._ok if isinstance(identify(self.settings), Principal) else self._failed
        key = rate_key()
        allowed = self.limiter.hit(item, key)
        stats = self.limiter.get_window_stats(item, key)
        g.rate_window = (item.amount, stats.remaining, int(stats.reset_time))
        if allowed:
            return None
        return problems.problem(429, "Too Many Requests", f"rate limit exceeded: {item}",
                                retry_after=max(1, math.ceil(stats.reset_time - time.time())))

    @staticmethod
    def _headers(resp):
        window = g.get("rate_window")
        if window is not None:
            amount, remaining, reset = window
            resp.headers["X-RateLimit-Limit"] = str(amount)
            resp.headers["X-RateLimit-Remaining"] = str(remaining)
            resp.headers["X-RateLimit-Reset"] = str(reset)
        return resp
