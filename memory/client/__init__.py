"""Python client of the memory service: `MemoryClient` (blocking) and `AsyncMemoryClient`.

    from memory.client import MemoryClient
    with MemoryClient("http://127.0.0.1:9595", token=None) as memory:
        memory.remember("the deploy key rotates every 90 days", payload={"topic": "ops"})
        for hit in memory.recall("how often does the key rotate?", k=3):
            print(hit.score, hit.text, hit.payload)

Errors: `memory.client.errors` (one tree under MemoryClientError). Answers:
`memory.client.models` (pydantic; fields a newer service adds are kept as attributes).
"""

from memory.client.client import DEFAULT_URL, AsyncMemoryClient, MemoryClient
from memory.client.errors import (BadRequest, Conflict, ConnectFailed, Forbidden, MemoryClientError, NotFound,
                                  PayloadTooLarge, ProblemError, RateLimited, ServerError, TransportError,
                                  Unauthorized, Unavailable, UnsupportedMediaType)
from memory.client.models import Explain, Hit, Link, Memory, Page, Path, Stats, Stored

__all__ = [
    "DEFAULT_URL", "MemoryClient", "AsyncMemoryClient",
    "MemoryClientError", "TransportError", "ConnectFailed", "ProblemError", "BadRequest", "Unauthorized",
    "Forbidden", "NotFound", "Conflict", "PayloadTooLarge", "UnsupportedMediaType", "RateLimited",
    "Unavailable", "ServerError",
    "Memory", "Page", "Hit", "Explain", "Stored", "Link", "Path", "Stats",
]
