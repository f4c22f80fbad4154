"""JSON log lines with the request id; an access line per request. No tokens, no bodies."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import Flask, g, has_request_context, request

_RID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": round(record.created, 3), "level": record.levelname, "logger": record.name,
               "msg": record.getMessage()}
        if has_request_context() and g.get("request_id"):
            out["request_id"] = g.request_id
        for key in ("method", "path", "status", "duration_ms", "namespace", "config"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str = "INFO", stream=None) -> None:
    """Route the service's loggers to one JSON handler (idempotent)."""
    root = logging.getLogger("memory")
    root.setLevel(level.upper())
    for h in list(root.handlers):
        if getattr(h, "_memory_json", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._memory_json = True
    root.addHandler(handler)
    root.propagate = False


def register(app: Flask) -> None:
    access = logging.getLogger("memory.access")

    @app.before_request
    def _start():
        rid = request.headers.get("X-Request-ID", "")
        g.request_id = rid if _RID.fullmatch(rid) else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(resp):
        resp.headers["X-Request-ID"] = g.get("request_id", "")
        principal = g.get("principal")
        access.info("request", extra={
            "method": request.method, "path": request.path, "status": resp.status_code,
            "duration_ms": round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 2),
            "namespace": principal.namespace if principal else None})
        return resp
