"""Every 4xx/5xx as application/problem+json (RFC 9457), with the request id."""

from __future__ import annotations

import functools
import logging

from flask import Flask, Response, g
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from memory.api.schemas import Problem
from memory.engine import EngineError
from memory.errors import Conflict, NotFound, NotMigrated, RequestInvalid, StoreError, StoreUnavailable

log = logging.getLogger("memory.api")
PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, *, errors=None,
            headers: dict | None = None, retry_after: int | None = None, extra: dict | None = None) -> Response:
    """A problem response; `retry_after` (seconds) is kept for only_due_retry_after;
    `extra` adds members (RFC 9457 extension members, such as a load's progress)."""
    body = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra or {})
    rid = g.get("request_id")
    if rid:
        body["request_id"] = rid
    if errors:
        body["errors"] = errors
    # the documented Problem model; the parts not given are left out, as before
    resp = Response(Problem(**body).model_dump_json(exclude_none=True), status=status, mimetype=PROBLEM)
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    if retry_after is not None:
        g.retry_after = retry_after
        resp.headers["Retry-After"] = str(retry_after)
    return resp


def only_due_retry_after(resp: Response) -> Response:
    """Retry-After on 429 and 503 only, with the value the problem chose: a 4xx that
    waiting will not mend (415, 400) never says to come back later."""
    due = g.get("retry_after")
    if resp.status_code in (429, 503) and due is not None:
        resp.headers["Retry-After"] = str(due)
    else:
        resp.headers.pop("Retry-After", None)
    return resp


def _validation_errors(exc: ValidationError) -> list[dict]:
    # loc and message only: the input may be a large vector or hold a caller's data
    return [{"loc": ".".join(str(p) for p in e["loc"]), "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_input=False, include_url=False)[:20]]


def _as_problem(status: int, title: str, exc: Exception) -> Response:
    return problem(status, title, str(exc))


def register(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def _validation(exc: ValidationError):
        errs = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errs):
            return problem(400, "Malformed JSON", "the request body is not valid JSON")
        return problem(400, "Invalid request", "; ".join(f"{e['loc'] or 'body'}: {e['msg']}" for e in errs),
                       errors=errs)

    # the caller's own mistakes: the message is meant for them, as it is
    for exc_type, status, title in ((Conflict, 409, "Conflict"),
                                    (RequestInvalid, 400, "Invalid request"),
                                    (NotFound, 404, "Not found")):
        app.register_error_handler(exc_type, functools.partial(_as_problem, status, title))

    @app.errorhandler(EngineError)
    def _engine(exc):
        if isinstance(exc, KeyError):
            return problem(404, "Not found", str(exc))
        return problem(400, "Invalid request", str(exc))

    @app.errorhandler(StoreUnavailable)
    def _unavailable(exc):
        log.warning("store unavailable: %s", exc)
        return problem(503, "Service unavailable", "the database is unreachable; retry shortly",
                       retry_after=1)

    @app.errorhandler(NotMigrated)
    def _not_migrated(exc):
        return problem(503, "Service unavailable", str(exc), retry_after=5)

    @app.errorhandler(StoreError)
    def _store(exc):
        log.error("store error: %s", exc)
        return problem(500, "Internal error", "the database refused the operation")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        headers = {}
        if exc.code == 405 and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        retry_after = g.get("retry_after", 1) if exc.code == 429 else None
        detail = exc.description if exc.code != 404 else "no such resource"
        return problem(exc.code or 500, exc.name, detail, headers=headers, retry_after=retry_after)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return problem(500, "Internal error", "an unexpected error occurred; see the server log")
