"""Flask app factory: blueprints, problem+json errors, auth, limiter, metrics, logs, CORS."""

from __future__ import annotations

import math
import time

from flask import Flask, Response, current_app, json, request
from flask.json.provider import DefaultJSONProvider

from memory.api import bulk_binary, logs, metrics, openapi, problems, tracing, views
from memory.api.ratelimit import RateLimits
from memory.api import schemas as s
from memory.api.operations import answer, operation
from memory.config import Settings
from memory.errors import StoreError


class StrictJSON(DefaultJSONProvider):
    """Never answer NaN or Infinity (not JSON): a value that slipped through fails loudly."""

    def dumps(self, obj, **kwargs):
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)


def create_app(settings: Settings, service) -> Flask:
    app = Flask("memory.api")
    app.json = StrictJSON(app)
    app.config.update(SETTINGS=settings, SERVICE=service, MAX_CONTENT_LENGTH=settings.max_body_bytes,
                      JSON_SORT_KEYS=False)
    logs.register(app)
    problems.register(app)
    metrics.register(app, service)
    tracing.instrument(app)
    app.after_request(problems.only_due_retry_after)

    # one bucket per identity across every route; checked before the index-loading 503
    limiter = RateLimits(settings)
    limiter.register(app)

    app.register_blueprint(views.bp)
    app.register_blueprint(bulk_binary.bp)

    @app.get("/healthz")
    @limiter.exempt
    @operation("healthz", security="none", responses={200: answer(s.Status, "Process up")})
    def healthz():
        return s.Status(status="ok")

    @app.get("/readyz")
    @limiter.exempt
    @operation("readyz", security="none", responses={200: answer(s.Status, "Ready")}, errors=(503,),
               error_text={503: "Not ready"})
    def readyz():
        svc = current_app.config["SERVICE"]
        try:
            svc.store.ping()
            svc.store.check_migrated()
        except StoreError as exc:
            return problems.problem(503, "Not ready", str(exc), retry_after=1)
        if not svc.loaded:
            return _loading(svc)
        # unauthenticated: no per-tenant figures (those are in /v1/stats, totals in /metrics);
        # while loading, the load's progress over all tenants (what an operator waits for)
        return s.Status(status="ready")

    @app.before_request
    def _wait_for_index():
        # the API answers from the index: a half-loaded one would miss memories (recall) and
        # a write would wait behind the load; 503 + Retry-After until it is complete
        if request.blueprint in (views.bp.name, bulk_binary.bp.name):
            svc = current_app.config["SERVICE"]
            if not svc.loaded:
                return _loading(svc)

    @app.get("/openapi.json")
    @limiter.exempt
    @operation("openapi", security="none",
               responses={200: answer(None, "This document", schema={"type": "object"})})
    def openapi_json():
        # built on first use, from every route registered by then (openapi.py)
        doc = app.extensions.get("memory_openapi")
        if doc is None:
            doc = app.extensions["memory_openapi"] = json.dumps(openapi.document(settings, app))
        return Response(doc, mimetype="application/json")

    limiter.exempt(app.view_functions["metrics"])

    @app.after_request
    def _cors(resp):
        origin = request.headers.get("Origin")
        if origin and origin in settings.cors_origins:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Vary"] = "Origin"
            resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, X-Request-ID"
            # the methods this path has (as Allow says), not a fixed list
            adapter = current_app.create_url_adapter(request)
            try:
                methods = sorted(adapter.allowed_methods())
            except Exception:  # no route: nothing to allow
                methods = []
            if methods:
                resp.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
        return resp

    return app


def _loading(svc) -> Response:
    """503 while the index loads: rows loaded of the total, and a Retry-After estimated
    from the load's rate so far (1 to 30 s)."""
    done, total = svc.load_progress
    extra = {"loaded": done, "total": total,
             "progress": (done / total if total else 0.0) if total is not None else None}
    retry = 1
    started = getattr(svc, "load_started", None)
    if total and done and started:
        rate = done / max(time.monotonic() - started, 1e-3)
        retry = min(30, max(1, math.ceil((total - done) / rate)))
    detail = "the index is still loading"
    if svc.load_error:
        detail += f" (last attempt failed: {svc.load_error})"
    elif total is not None:
        detail += f": {done} of {total} memories"
    return problems.problem(503, "Not ready", detail, retry_after=retry, extra=extra)
