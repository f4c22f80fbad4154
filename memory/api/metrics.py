"""Prometheus metrics in a registry owned by the app (no process-global state)."""

from __future__ import annotations

import hmac
import math
import time

from flask import Flask, Response, current_app, g, request
from limits import parse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily

from memory.api.operations import answer, operation
from memory.api.problems import problem
from memory.errors import StoreError


class _LiveCollector:
    """Values read at scrape time: outbox lag, index sizes, follower errors."""

    def __init__(self, service, by_namespace: bool):
        self.service = service
        self.by_namespace = by_namespace

    def collect(self):
        sizes = self.service.index_sizes()
        if self.by_namespace:  # tenant names as labels: only when METRICS_NAMESPACES says so
            rows = GaugeMetricFamily("memory_index_rows", "Memories in the in-process index",
                                     labels=["namespace"])
            for ns, n in sizes.items():
                rows.add_metric([ns], n)
        else:
            rows = GaugeMetricFamily("memory_index_rows", "Memories in the in-process index",
                                     value=sum(sizes.values()))
        yield rows
        errs = GaugeMetricFamily("memory_follow_errors", "Failed rounds of following the change log")
        errs.add_metric([], self.service.follow_errors)
        yield errs
        try:
            pending, oldest = self.service.store.outbox_lag()
        except StoreError:
            return
        yield GaugeMetricFamily("memory_outbox_pending", "Outbox events not yet published", value=pending)
        yield GaugeMetricFamily("memory_outbox_lag_seconds", "Age of the oldest unpublished event",
                                value=(time.time() - oldest) if oldest else 0.0)


def register(app: Flask, service) -> CollectorRegistry:
    registry = CollectorRegistry()
    requests = Counter("memory_http_requests", "HTTP requests", ["method", "endpoint", "status"],
                       registry=registry)
    latency = Histogram("memory_http_request_duration_seconds", "HTTP request latency",
                        ["method", "endpoint"], registry=registry,
                        buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))
    settings = app.config["SETTINGS"]
    registry.register(_LiveCollector(service, settings.metrics_namespaces))

    @app.before_request
    def _t0():
        g.metrics_t0 = time.perf_counter()

    @app.after_request
    def _observe(resp):
        endpoint = request.url_rule.rule if request.url_rule else "<unmatched>"
        requests.labels(request.method, endpoint, str(resp.status_code)).inc()
        latency.labels(request.method, endpoint).observe(time.perf_counter() - g.get("metrics_t0", time.perf_counter()))
        return resp

    @app.get("/metrics")
    @operation("metrics", security="metrics", responses={200: answer(
        None, "Prometheus text format", media_type="text/plain", schema={"type": "string"})})
    def metrics():
        if settings.metrics_token:
            # /metrics is outside the API's per-identity buckets (a scraper must not eat a
            # tenant's limit), so failed guesses of its token count here, per client address,
            # under the same AUTH_FAIL_LIMIT as the API's failed authentications
            fails = _FailedScrapes(settings.auth_fail_limit)
            if not fails.allowed():
                return problem(429, "Too Many Requests", "too many failed /metrics authentications",
                               retry_after=fails.retry_after())
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    token.strip().encode(), settings.metrics_token.encode()):
                fails.count()
                return problem(401, "Unauthorized", "/metrics needs the metrics bearer token",
                               headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    return registry


class _FailedScrapes:
    """Failed /metrics authentications of this client address, in the app's limiter storage."""

    def __init__(self, limit: str):
        self._item = parse(limit)
        self._limiter = current_app.extensions["memory_limiter"].limiter
        self._key = ("metrics-auth-fail", request.remote_addr or "local")

    def allowed(self) -> bool:
        return self._limiter.test(self._item, *self._key)

    def count(self) -> None:
        self._limiter.hit(self._item, *self._key)

    def retry_after(self) -> int:
        reset_at = self._limiter.get_window_stats(self._item, *self._key).reset_time
        return max(1, math.ceil(reset_at - time.time()))
