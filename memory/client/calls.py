"""Each endpoint once: the request it sends and how its answer is read.

The sync and async clients differ only in how they send a `Call`; what goes over the wire
and what comes back is decided here, so the two cannot drift apart.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import email.utils
import json
import time
from typing import Any, Callable, Generic, Mapping, Sequence, TypeVar
from urllib.parse import quote

import httpx
import numpy as np

from memory import bulkformat
from memory.client import errors, models

T = TypeVar("T")
Vector = Sequence[float] | np.ndarray
Timestamp = float | dt.datetime | str


@dataclasses.dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: Mapping[str, str] | None = None
    content: bytes | None = None  # a body that is not JSON, sent with `content_type`
    content_type: str | None = None


# -- answers ------------------------------------------------------------------------------
def retry_after(resp: httpx.Response) -> float | None:
    """Retry-After as seconds: delta-seconds or an HTTP date (RFC 9110)."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def raise_for_problem(resp: httpx.Response) -> None:
    """Map an error answer (problem+json or not) onto the exception tree."""
    if resp.status_code < 400:
        return
    body: dict = {}
    try:
        parsed = resp.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    cls = errors.for_status(resp.status_code)
    raise cls(resp.status_code, str(body.get("title") or resp.reason_phrase or "error"),
              body.get("detail") or (None if body else resp.text[:500] or None),
              request_id=body.get("request_id") or resp.headers.get("X-Request-ID"),
              errors=body.get("errors"), retry_after=retry_after(resp),
              type=str(body.get("type") or "about:blank"))


def _model(cls: type[T]) -> Callable[[httpx.Response], T]:
    def parse(resp: httpx.Response) -> T:
        raise_for_problem(resp)
        return cls.model_validate(resp.json())
    return parse


def _field(name: str, read: Callable[[Any], T]) -> Callable[[httpx.Response], T]:
    def parse(resp: httpx.Response) -> T:
        raise_for_problem(resp)
        return read(resp.json()[name])
    return parse


def _nothing(resp: httpx.Response) -> None:
    raise_for_problem(resp)


def _json(resp: httpx.Response) -> dict:
    raise_for_problem(resp)
    return resp.json()


def _text(resp: httpx.Response) -> str:
    raise_for_problem(resp)
    return resp.text


def _hits(rows: list) -> list[models.Hit]:
    return [models.Hit.model_validate(r) for r in rows]


# -- requests -----------------------------------------------------------------------------
def _timestamp(value: Timestamp | None) -> float | str | None:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def query_fields(text: str | None, vector: Vector | None) -> dict:
    """A text, a vector or both (the service then uses the vector and keeps the text): a
    numpy array travels as base64 float32 (cheap to send and parse), a plain sequence as a
    JSON array."""
    if text is None and vector is None:
        raise ValueError("give a text, a vector or both")
    body: dict[str, Any] = {} if text is None else {"text": text}
    if vector is None:
        return body
    if isinstance(vector, np.ndarray):
        raw = np.ascontiguousarray(vector, dtype="<f4").tobytes()
        body["vector_b64"] = base64.b64encode(raw).decode()
    else:
        body["vector"] = [float(x) for x in vector]
    return body


def memory_body(*, text: str | None = None, vector: Vector | None = None, payload: Mapping | None = None,
                memory_type: str | None = None, importance: float | None = None,
                coordinate: Sequence[float] | None = None, id: str | None = None,
                created_at: Timestamp | None = None, extra: Mapping[str, Any] | None = None) -> dict:
    return {**query_fields(text, vector), **item_fields(payload=payload, memory_type=memory_type,
                                                        importance=importance, coordinate=coordinate, id=id,
                                                        created_at=created_at, extra=extra)}


def item_fields(*, text: str | None = None, payload: Mapping | None = None, memory_type: str | None = None,
                importance: float | None = None, coordinate: Sequence[float] | None = None,
                id: str | None = None, created_at: Timestamp | None = None,
                extra: Mapping[str, Any] | None = None) -> dict:
    """A memory's fields beside its vector (the binary bulk route's items; text optional)."""
    body: dict[str, Any] = {} if text is None else {"text": text}
    for key, value in (("payload", None if payload is None else dict(payload)), ("memory_type", memory_type),
                       ("importance", importance),
                       ("coordinate", None if coordinate is None else list(coordinate)),
                       ("id", id), ("created_at", _timestamp(created_at))):
        if value is not None:
            body[key] = value
    body.update(extra or {})  # fields of a newer service, passed through as given
    return body


def recall_options(k: int, memory_type: str | None, payload: Mapping | None,
                   created_after: Timestamp | None, created_before: Timestamp | None,
                   exact: bool, explain: bool, extra: Mapping[str, Any] | None, mode: str | None = None) -> dict:
    body: dict[str, Any] = {"k": k}
    if memory_type is not None:
        body["memory_type"] = memory_type
    filters: dict[str, Any] = {}
    if payload:
        filters["payload"] = dict(payload)
    if created_after is not None or created_before is not None:
        filters["created_at"] = {key: _timestamp(v) for key, v in
                                 (("gte", created_after), ("lte", created_before)) if v is not None}
    if filters:
        body["filters"] = filters
    if exact:
        body["exact"] = True
    if explain:
        body["explain"] = True
    if mode is not None:
        body["mode"] = mode
    body.update(extra or {})
    return body


def _id(memory_id: str) -> str:
    return quote(memory_id, safe="")


def remember(body: dict) -> Call[models.Memory]:
    return Call("POST", "/v1/memories", _model(models.Memory), json=body)


def put(memory_id: str, body: dict) -> Call[models.Memory]:
    return Call("PUT", f"/v1/memories/{_id(memory_id)}", _model(models.Memory), json=body)


def get(memory_id: str, include_vector: bool) -> Call[models.Memory]:
    params = {"include_vector": "true"} if include_vector else None
    return Call("GET", f"/v1/memories/{_id(memory_id)}", _model(models.Memory), params=params)


def list_params(limit: int, cursor: str | None, memory_type: str | None, payload: Mapping | None,
                created_after: Timestamp | None, created_before: Timestamp | None) -> dict[str, str]:
    params = {"limit": str(limit)}
    for key, value in (("cursor", cursor), ("memory_type", memory_type),
                       ("created_after", _timestamp(created_after)),
                       ("created_before", _timestamp(created_before))):
        if value is not None:
            params[key] = value if isinstance(value, str) else repr(float(value))
    if payload:
        params["payload"] = json.dumps(dict(payload), allow_nan=False)
    return params


def list_memories(params: Mapping[str, str]) -> Call[models.Page]:
    return Call("GET", "/v1/memories", _model(models.Page), params=params)


def forget(memory_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/memories/{_id(memory_id)}", _nothing)


def remember_many(items: list[dict]) -> Call[models.Stored]:
    return Call("POST", "/v1/memories/bulk", _model(models.Stored), json={"items": items})


def remember_vectors(items: list[dict], vectors) -> Call[models.Stored]:
    """The binary bulk route: the vectors as one float32 block, the rest as JSON."""
    return Call("POST", "/v1/memories/bulk/binary", _model(models.Stored),
                content=bulkformat.encode(items, vectors), content_type=bulkformat.MEDIA_TYPE)


def forget_all(memory_type: str) -> Call[int]:
    return Call("DELETE", "/v1/memories", _field("deleted", int), params={"memory_type": memory_type})


def recall(body: dict) -> Call[list[models.Hit]]:
    return Call("POST", "/v1/recall", _field("results", _hits), json=body)


def recall_batch(body: dict) -> Call[list[list[models.Hit]]]:
    return Call("POST", "/v1/recall/batch", _field("results", lambda rows: [_hits(r) for r in rows]), json=body)


def link(from_id: str, to_id: str, type: str, weight: float) -> Call[models.Link]:
    return Call("POST", "/v1/links", _model(models.Link),
                json={"from": from_id, "to": to_id, "type": type, "weight": weight})


def links(memory_id: str, type: str | None) -> Call[list[models.Link]]:
    return Call("GET", f"/v1/memories/{_id(memory_id)}/links",
                _field("links", lambda rows: [models.Link.model_validate(r) for r in rows]),
                params={"type": type} if type else None)


def path(from_id: str, to_id: str, type: str | None) -> Call[models.Path]:
    params = {"from": from_id, "to": to_id, **({"type": type} if type else {})}
    return Call("GET", "/v1/paths", _model(models.Path), params=params)


def stats() -> Call[models.Stats]:
    return Call("GET", "/v1/stats", _model(models.Stats))


def health() -> Call[dict]:
    return Call("GET", "/healthz", _json)


def ready() -> Call[dict]:
    return Call("GET", "/readyz", _json)


def openapi() -> Call[dict]:
    return Call("GET", "/openapi.json", _json)


def metrics() -> Call[str]:
    return Call("GET", "/metrics", _text)
