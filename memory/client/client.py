"""MemoryClient and AsyncMemoryClient: the service's HTTP API over httpx, typed.

Retries (tenacity): 429 and 503 are retried after the answer's Retry-After (capped at
`max_retry_wait`), a failed connection (nothing was sent) after exponential backoff; at
most `retries` attempts in all, then the last error is raised. Other errors are raised at
once. Every error is a `memory.client.errors.MemoryClientError`.

A test or an application may inject its own `httpx.Client`/`httpx.AsyncClient` (`http=`),
e.g. with event hooks or a transport; the client then neither builds nor closes one.
"""

from __future__ import annotations

from typing import Any, Iterator, Mapping, Sequence, TypeVar

import httpx
import tenacity

from memory.client import calls, errors, models
from memory.client.calls import Call, Timestamp, Vector

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:9595"


class _WaitRetryAfter(tenacity.wait.wait_base):
    """The answer's Retry-After when it sent one (capped), else exponential backoff."""

    def __init__(self, cap: float):
        self.cap = cap
        self.backoff = tenacity.wait_exponential(multiplier=0.1, max=cap)

    def __call__(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return min(float(after), self.cap)
        return self.backoff(state)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (errors.RateLimited, errors.Unavailable, errors.ConnectFailed))


def _policy(retries: int, max_retry_wait: float) -> dict:
    return dict(stop=tenacity.stop_after_attempt(max(1, retries)), wait=_WaitRetryAfter(max_retry_wait),
                retry=tenacity.retry_if_exception(_retryable), reraise=True)


def _transport_error(exc: httpx.HTTPError, call: Call) -> errors.MemoryClientError:
    where = f"{call.method} {call.path}"
    if isinstance(exc, httpx.ConnectError):
        return errors.ConnectFailed(f"{where}: cannot connect: {exc}")
    return errors.TransportError(f"{where}: {type(exc).__name__}: {exc}")


def _binary_items(vectors, items) -> list[dict]:
    items = [{}] * len(vectors) if items is None else list(items)
    return [calls.item_fields(**dict(it)) for it in items]  # the block holds the vectors


class _Base:
    def __init__(self, base_url: str, token: str | None, retries: int, max_retry_wait: float):
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._policy = _policy(retries, max_retry_wait)

    def _request(self, call: Call) -> dict:
        if call.content is not None:
            return dict(method=call.method, url=self.base_url + call.path, content=call.content,
                        params=call.params, headers={**self._headers, "Content-Type": call.content_type})
        return dict(method=call.method, url=self.base_url + call.path, json=call.json,
                    params=call.params, headers=self._headers)

    def __repr__(self) -> str:  # never the token
        return f"{type(self).__name__}({self.base_url!r})"


class MemoryClient(_Base):
    """Blocking client. Use as a context manager, or call close()."""

    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None, *, timeout: float = 30.0,
                 retries: int = 4, max_retry_wait: float = 30.0, http: httpx.Client | None = None):
        super().__init__(base_url, token, retries, max_retry_wait)
        self._owns = http is None
        self._http = http or httpx.Client(timeout=timeout)

    def _run(self, call: Call[T]) -> T:
        for attempt in tenacity.Retrying(**self._policy):
            with attempt:
                try:
                    resp = self._http.request(**self._request(call))
                except httpx.HTTPError as exc:
                    raise _transport_error(exc, call) from exc
                return call.parse(resp)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def close(self) -> None:
        if self._owns:
            self._http.close()

    def __enter__(self) -> "MemoryClient":
        return self

    def __exit__(self, *_) -> None:
        self.close()

    # -- memories -----------------------------------------------------------------------
    def remember(self, text: str | None = None, *, vector: Vector | None = None, payload: Mapping | None = None,
                 memory_type: str | None = None, importance: float | None = None,
                 coordinate: Sequence[float] | None = None, id: str | None = None,
                 created_at: Timestamp | None = None, **extra: Any) -> models.Memory:
        """Store one memory (POST /v1/memories): its text (embedded by the service unless a
        vector is given too; stored either way), a vector, or both.
        Conflict if `id` holds a live memory. `extra` passes newer fields through."""
        return self._run(calls.remember(calls.memory_body(
            text=text, vector=vector, payload=payload, memory_type=memory_type, importance=importance,
            coordinate=coordinate, id=id, created_at=created_at, extra=extra)))

    def put(self, id: str, text: str | None = None, *, vector: Vector | None = None,
            payload: Mapping | None = None, memory_type: str | None = None, importance: float | None = None,
            coordinate: Sequence[float] | None = None, created_at: Timestamp | None = None,
            **extra: Any) -> models.Memory:
        """Create or replace the memory `id` (PUT /v1/memories/{id})."""
        return self._run(calls.put(id, calls.memory_body(
            text=text, vector=vector, payload=payload, memory_type=memory_type, importance=importance,
            coordinate=coordinate, created_at=created_at, extra=extra)))

    def remember_many(self, items: Sequence[Mapping[str, Any]]) -> models.Stored:
        """Store or replace many memories in one transaction (POST /v1/memories/bulk); each
        item takes the keyword arguments of remember(), e.g. {"text": ..., "payload": ...}."""
        return self._run(calls.remember_many([calls.memory_body(**dict(it)) for it in items]))

    def remember_vectors(self, vectors: Sequence[Vector], items: Sequence[Mapping[str, Any]] | None = None) -> models.Stored:
        """Store or replace many memories whose vectors you have, the fastest way in (POST
        /v1/memories/bulk/binary: the vectors as one float32 block, no JSON numbers). Row i
        of `vectors` is items[i]'s vector; an item takes remember()'s keywords except
        `vector` (id, text, payload, memory_type, importance, coordinate, created_at)."""
        return self._run(calls.remember_vectors(_binary_items(vectors, items), vectors))

    def get(self, id: str, *, include_vector: bool = False) -> models.Memory:
        return self._run(calls.get(id, include_vector))

    def list_memories(self, *, limit: int = 50, cursor: str | None = None, memory_type: str | None = None,
                      payload: Mapping | None = None, created_after: Timestamp | None = None,
                      created_before: Timestamp | None = None) -> models.Page:
        """One page of the namespace's memories, newest first (GET /v1/memories); pass its
        `next_cursor` as `cursor` for the next page (None: the last page)."""
        return self._run(calls.list_memories(calls.list_params(limit, cursor, memory_type, payload,
                                                               created_after, created_before)))

    def iter_memories(self, *, page_size: int = 200, **filters: Any) -> Iterator[models.Memory]:
        """Every memory matching the filters of list_memories, newest first, page by page."""
        cursor = None
        while True:
            page = self.list_memories(limit=page_size, cursor=cursor, **filters)
            yield from page.memories
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def forget(self, id: str) -> None:
        """Delete one memory; succeeds for an absent id too."""
        self._run(calls.forget(id))

    def forget_all(self, memory_type: str) -> int:
        """Delete every memory of a type in the namespace (admin scope); how many."""
        return self._run(calls.forget_all(memory_type))

    # -- recall -------------------------------------------------------------------------
    def recall(self, text: str | None = None, *, vector: Vector | None = None, k: int = 10,
               memory_type: str | None = None, payload: Mapping | None = None,
               created_after: Timestamp | None = None, created_before: Timestamp | None = None,
               exact: bool = False, explain: bool = False, mode: str | None = None,
               **extra: Any) -> list[models.Hit]:
        """The k best memories for a text, a vector or both, best first (POST /v1/recall);
        mode: "vector" (the service's default), "keyword" or "hybrid" (both need the text)."""
        body = {**calls.query_fields(text, vector),
                **calls.recall_options(k, memory_type, payload, created_after, created_before, exact, explain,
                                       extra, mode)}
        return self._run(calls.recall(body))

    def recall_batch(self, queries: Sequence[str | Vector], *, k: int = 10, memory_type: str | None = None,
                     payload: Mapping | None = None, created_after: Timestamp | None = None,
                     created_before: Timestamp | None = None, exact: bool = False, explain: bool = False,
                     mode: str | None = None, **extra: Any) -> list[list[models.Hit]]:
        """One result list per query (texts or vectors), in order (POST /v1/recall/batch)."""
        body = {"queries": [calls.query_fields(q, None) if isinstance(q, str) else calls.query_fields(None, q)
                            for q in queries],
                **calls.recall_options(k, memory_type, payload, created_after, created_before, exact, explain,
                                       extra, mode)}
        return self._run(calls.recall_batch(body))

    # -- links --------------------------------------------------------------------------
    def link(self, from_id: str, to_id: str, *, type: str = "related", weight: float = 1.0) -> models.Link:
        return self._run(calls.link(from_id, to_id, type, weight))

    def links(self, id: str, *, type: str | None = None) -> list[models.Link]:
        return self._run(calls.links(id, type))

    def path(self, from_id: str, to_id: str, *, type: str | None = None) -> models.Path:
        return self._run(calls.path(from_id, to_id, type))

    # -- the service --------------------------------------------------------------------
    def stats(self) -> models.Stats:
        return self._run(calls.stats())

    def health(self) -> dict:
        return self._run(calls.health())

    def ready(self) -> dict:
        """200 body of /readyz; Unavailable (after the retries) while it is not ready."""
        return self._run(calls.ready())

    def openapi(self) -> dict:
        return self._run(calls.openapi())

    def metrics(self) -> str:
        return self._run(calls.metrics())


class AsyncMemoryClient(_Base):
    """The same API as MemoryClient, awaitable. Use `async with`, or await aclose()."""

    def __init__(self, base_url: str = DEFAULT_URL, token: str | None = None, *, timeout: float = 30.0,
                 retries: int = 4, max_retry_wait: float = 30.0, http: httpx.AsyncClient | None = None):
        super().__init__(base_url, token, retries, max_retry_wait)
        self._owns = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout)

    async def _run(self, call: Call[T]) -> T:
        async for attempt in tenacity.AsyncRetrying(**self._policy):
            with attempt:
                try:
                    resp = await self._http.request(**self._request(call))
                except httpx.HTTPError as exc:
                    raise _transport_error(exc, call) from exc
                return call.parse(resp)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def aclose(self) -> None:
        if self._owns:
            await self._http.aclose()

    async def __aenter__(self) -> "AsyncMemoryClient":
        return self

    async def __aexit__(self, *_) -> None:
        await self.aclose()

    async def remember(self, text: str | None = None, *, vector: Vector | None = None,
                       payload: Mapping | None = None, memory_type: str | None = None,
                       importance: float | None = None, coordinate: Sequence[float] | None = None,
                       id: str | None = None, created_at: Timestamp | None = None,
                       **extra: Any) -> models.Memory:
        return await self._run(calls.remember(calls.memory_body(
            text=text, vector=vector, payload=payload, memory_type=memory_type, importance=importance,
            coordinate=coordinate, id=id, created_at=created_at, extra=extra)))

    async def put(self, id: str, text: str | None = None, *, vector: Vector | None = None,
                  payload: Mapping | None = None, memory_type: str | None = None,
                  importance: float | None = None, coordinate: Sequence[float] | None = None,
                  created_at: Timestamp | None = None, **extra: Any) -> models.Memory:
        return await self._run(calls.put(id, calls.memory_body(
            text=text, vector=vector, payload=payload, memory_type=memory_type, importance=importance,
            coordinate=coordinate, created_at=created_at, extra=extra)))

    async def remember_many(self, items: Sequence[Mapping[str, Any]]) -> models.Stored:
        return await self._run(calls.remember_many([calls.memory_body(**dict(it)) for it in items]))

    async def remember_vectors(self, vectors: Sequence[Vector],
                               items: Sequence[Mapping[str, Any]] | None = None) -> models.Stored:
        return await self._run(calls.remember_vectors(_binary_items(vectors, items), vectors))

    async def get(self, id: str, *, include_vector: bool = False) -> models.Memory:
        return await self._run(calls.get(id, include_vector))

    async def list_memories(self, *, limit: int = 50, cursor: str | None = None,
                            memory_type: str | None = None, payload: Mapping | None = None,
                            created_after: Timestamp | None = None,
                            created_before: Timestamp | None = None) -> models.Page:
        return await self._run(calls.list_memories(calls.list_params(limit, cursor, memory_type, payload,
                                                                     created_after, created_before)))

    async def forget(self, id: str) -> None:
        await self._run(calls.forget(id))

    async def forget_all(self, memory_type: str) -> int:
        return await self._run(calls.forget_all(memory_type))

    async def recall(self, text: str | None = None, *, vector: Vector | None = None, k: int = 10,
                     memory_type: str | None = None, payload: Mapping | None = None,
                     created_after: Timestamp | None = None, created_before: Timestamp | None = None,
                     exact: bool = False, explain: bool = False, mode: str | None = None,
                     **extra: Any) -> list[models.Hit]:
        body = {**calls.query_fields(text, vector),
                **calls.recall_options(k, memory_type, payload, created_after, created_before, exact, explain,
                                       extra, mode)}
        return await self._run(calls.recall(body))

    async def recall_batch(self, queries: Sequence[str | Vector], *, k: int = 10, memory_type: str | None = None,
                           payload: Mapping | None = None, created_after: Timestamp | None = None,
                           created_before: Timestamp | None = None, exact: bool = False,
                           explain: bool = False, mode: str | None = None, **extra: Any) -> list[list[models.Hit]]:
        body = {"queries": [calls.query_fields(q, None) if isinstance(q, str) else calls.query_fields(None, q)
                            for q in queries],
                **calls.recall_options(k, memory_type, payload, created_after, created_before, exact, explain,
                                       extra, mode)}
        return await self._run(calls.recall_batch(body))

    async def link(self, from_id: str, to_id: str, *, type: str = "related", weight: float = 1.0) -> models.Link:
        return await self._run(calls.link(from_id, to_id, type, weight))

    async def links(self, id: str, *, type: str | None = None) -> list[models.Link]:
        return await self._run(calls.links(id, type))

    async def path(self, from_id: str, to_id: str, *, type: str | None = None) -> models.Path:
        return await self._run(calls.path(from_id, to_id, type))

    async def stats(self) -> models.Stats:
        return await self._run(calls.stats())

    async def health(self) -> dict:
        return await self._run(calls.health())

    async def ready(self) -> dict:
        return await self._run(calls.ready())

    async def openapi(self) -> dict:
        return await self._run(calls.openapi())

    async def metrics(self) -> str:
        return await self._run(calls.metrics())
