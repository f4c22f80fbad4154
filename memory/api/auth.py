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
    key: str  # rate-limit key: a hash of the token (never the token), or the address when anonymous


def identify(settings: Settings) -> Principal | str:
    """The caller's Principal, or why authentication failed; worked out once per request
    (the rate limiter asks before the view does, and both must see the same identity)."""
    found = g.get("identity")
    if found is None:
        found = g.identity = _identify(settings)
    return found


def _identify(settings: Settings) -> Principal | str:
    if not settings.auth_enabled:
        return Principal(settings.default_namespace, SCOPES, "a:" + (request.remote_addr or "local"))
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return "missing or malformed bearer token"
    found = None
    for candidate, spec in settings.tokens.items():
        if hmac.compare_digest(candidate.encode(), token.encode()):
            found = spec
    if found is None:
        return "unknown bearer token"
    return Principal(found.namespace, found.scopes, "t:" + hashlib.sha256(token.encode()).hexdigest()[:16])


def resolve(settings: Settings):
    """The caller's Principal, or a 401 problem response."""
    who = identify(settings)
    if isinstance(who, Principal):
        return who
    error = ', error="invalid_token"' if who.startswith("unknown") else ""
    return problem(401, "Unauthorized", who, headers={"WWW-Authenticate": f'Bearer realm="memory"{error}'})


def rate_key() -> str:
    """Rate-limit key (ratelimit.py): the authenticated identity (a hash of the token as auth reads it, so
    `bearer`, `BEARER` or two spaces share its bucket). A request that fails authentication
    counts against its client address instead, under the stricter AUTH_FAIL_LIMIT, so guessing
    tokens is throttled however many tokens are tried."""
    who = identify(current_app.config["SETTINGS"])
    if isinstance(who, Principal):
        return who.key
    return "f:" + (request.remote_addr or "local")


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
