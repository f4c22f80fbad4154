"""The client's exception tree: one base, the transport, and one class per problem status.

MemoryClientError
├── TransportError         no answer from the service (timeout, broken connection)
│   └── ConnectFailed      could not connect at all (nothing was sent; retried)
└── ProblemError           the service answered application/problem+json (or another 4xx/5xx)
    ├── BadRequest         400: invalid input (`errors` lists the fields); nothing was stored
    ├── Unauthorized       401: missing or unknown token
    ├── Forbidden          403: the token lacks the scope
    ├── NotFound           404: no such memory in the token's namespace
    ├── Conflict           409: POST of an id that holds a live memory (PUT replaces)
    ├── PayloadTooLarge    413: body above the service's limit
    ├── UnsupportedMediaType 415
    ├── RateLimited        429: still limited after the retries; `retry_after` seconds
    ├── Unavailable        503: database unreachable or not migrated, after the retries
    └── ServerError        any other 5xx
"""

from __future__ import annotations

from typing import Any


class MemoryClientError(Exception):
    """Base of every error the client raises."""


class TransportError(MemoryClientError):
    """The service could not be reached or did not answer in time."""


class ConnectFailed(TransportError):
    """No connection could be made, so nothing was sent: safe to retry any request."""


class ProblemError(MemoryClientError):
    """An error answer. Carries the RFC 9457 problem fields the service sends."""

    status: int = 0

    def __init__(self, status: int, title: str, detail: str | None = None, *,
                 request_id: str | None = None, errors: list[dict[str, Any]] | None = None,
                 retry_after: float | None = None, type: str = "about:blank"):
        self.status = status
        self.title = title
        self.detail = detail
        self.request_id = request_id
        self.errors = errors or []
        self.retry_after = retry_after
        self.type = type
        text = f"{status} {title}" + (f": {detail}" if detail else "")
        super().__init__(text + (f" (request {request_id})" if request_id else ""))


class BadRequest(ProblemError):
    pass


class Unauthorized(ProblemError):
    pass


class Forbidden(ProblemError):
    pass


class NotFound(ProblemError):
    pass


class Conflict(ProblemError):
    pass


class PayloadTooLarge(ProblemError):
    pass


class UnsupportedMediaType(ProblemError):
    pass


class RateLimited(ProblemError):
    pass


class Unavailable(ProblemError):
    pass


class ServerError(ProblemError):
    pass


BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 415: UnsupportedMediaType, 429: RateLimited, 503: Unavailable,
}


def for_status(status: int) -> type[ProblemError]:
    if status in BY_STATUS:
        return BY_STATUS[status]
    return ServerError if status >= 500 else ProblemError
