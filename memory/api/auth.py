"""Bearer tokens → (namespace, scopes). Tokens are compared in constant time, never logged.

With no tokens configured (the embedded default) every request acts in the default
namespace with every scope; config.validate() then keeps the listener on loopback.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import hmac

from flask import current_app, g, request

from memory.api.problems import problem
from memory.config import SCOPES, Settings


@dataclasses.dataclass(frozen=True)
class Principal:
    namespace: str
    scopes: frozenset[str]
    key: str  # rate-limit key: a hash of the token, never the token


def resolve(settings: Settings):
    """The caller's Principal, or a 401 problem response."""
    if not settings.auth_enabled:
        return Principal(settings.default_namespace, SCOPES, "anonymous")
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return problem(401, "Unauthorized", "missing or malformed bearer token",
                       headers={"WWW-Authenticate": 'Bearer realm="memory"'})
    found = None
    for candidate, spec in settings.tokens.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            found = spec
    if found is None:
        return problem(401, "Unauthorized", "unknown bearer token",
                       headers={"WWW-Authenticate": 'Bearer realm="memory", error="invalid_token"'})
    return Principal(found.namespace, found.scopes, hashlib.sha256(token.encode()).hexdigest()[:16])


def rate_key() -> str:
    """flask-limiter key: per token (hashed); anonymous callers share one bucket per address."""
    header = request.headers.get("Authorization", "")
    if header:
        return "t:" + hashlib.sha256(header.encode()).hexdigest()[:16]
    return "a:" + (request.remote_addr or "local")


def require(scope: str):
    def deco(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = resolve(current_app.config["SETTINGS"])
            if not isinstance(principal, Principal):
                return principal
            if scope not in principal.scopes and "admin" not in principal.scopes:
                return problem(403, "Forbidden", f"this token lacks the '{scope}' scope")
            g.principal = principal
            return view(*args, **kwargs)
        return wrapper
    return deco
