"""The /v1 resources: memories, recall, links and paths."""

from __future__ import annotations

import base64
import binascii
import math
import re

import numpy as np
from flask import Blueprint, Response, current_app, g, json, request
from werkzeug.exceptions import UnsupportedMediaType
from werkzeug.routing import BaseConverter

from memory.api import schemas as s
from memory.api.auth import require
from memory.errors import NotFound, RequestInvalid
from memory.service import MemoryService, NewMemory

bp = Blueprint("v1", __name__, url_prefix="/v1")


class MemoryIdConverter(BaseConverter):
    """A path segment naming a memory; never `bulk`, which is the bulk resource's own path,
    so /v1/memories/bulk has only POST (and OPTIONS says so). `bulk` is a reserved id."""
    regex = r"(?!bulk$)[^/]+"


@bp.record_once
def _converters(state) -> None:
    state.app.url_map.converters["mid"] = MemoryIdConverter

_ID = re.compile(s.ID_PATTERN)  # always fullmatch: `$` would let a final newline through
_F32_MAX = float(np.finfo(np.float32).max)


def _svc() -> MemoryService:
    return current_app.config["SERVICE"]


def _json(obj, status: int = 200) -> Response:
    return Response(json.dumps(obj), status=status, mimetype="application/json")


def _body(model):
    """Parse the body with `model`: 415 for a non-JSON type, 400 for anything invalid."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    return model.model_validate_json(request.get_data(cache=False) or b"")


def _vectors(items: list) -> tuple[np.ndarray, list[str]]:
    """Vectors of request items (client vectors or embedded text), checked for the dim.
    An item with a vector and a text keeps the vector; only text-only items are embedded."""
    svc = _svc()
    dim = svc.settings.dim
    out = np.empty((len(items), dim), dtype=np.float32)
    models = []
    # the text of one request, embedded or only stored, is bounded by one documented total
    total = sum(len(it.text) for it in items if it.text is not None)
    if total > svc.settings.max_text_chars:
        raise RequestInvalid(f"the texts of one request hold at most {svc.settings.max_text_chars} "
                             f"characters together, got {total}")
    texts = [(i, it.text) for i, it in enumerate(items)
             if it.text is not None and it.vector is None and it.vector_b64 is None]
    if texts:
        embedded = svc.embedder.embed([t for _, t in texts])
        for (i, _), vec in zip(texts, embedded):
            out[i] = vec
    for i, it in enumerate(items):
        if it.vector_b64 is not None:
            out[i] = _decode_b64(i, it.vector_b64, dim)
            models.append("client")
        elif it.vector is not None:
            out[i] = _client_vector(i, it.vector, dim)
            models.append("client")
        else:
            models.append(svc.embedder.model_id)
    return out, models


def _client_vector(i: int, values: list[float], dim: int) -> np.ndarray:
    """A JSON vector as float32. Only its direction counts (cosine), so one whose values
    overflow float32 (1e39) or vanish in it (1e-46) is stored scaled by its largest value:
    every finite vector that is not all zero is accepted, as the document says."""
    if len(values) != dim:
        raise RequestInvalid(f"item {i}: vector has {len(values)} dims, the service uses {dim}")
    vec = np.asarray(values, dtype=np.float64)
    peak = float(np.abs(vec).max())
    if peak == 0.0:
        raise RequestInvalid(f"item {i}: vector must not be all zero")
    with np.errstate(over="ignore"):
        as32 = vec.astype(np.float32)
    if peak > _F32_MAX or not as32.any() or not np.isfinite(as32).all():
        as32 = (vec / peak).astype(np.float32)
    return as32


def _decode_b64(i: int, text: str, dim: int) -> np.ndarray:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestInvalid(f"item {i}: vector_b64 is not valid base64") from None
    if len(raw) != dim * 4:
        raise RequestInvalid(f"item {i}: vector_b64 holds {len(raw) / 4:g} float32 values, "
                             f"the service uses {dim} dims")
    vec = np.frombuffer(raw, dtype="<f4")
    if not np.isfinite(vec).all():
        raise RequestInvalid(f"item {i}: vector_b64 contains NaN or Inf")
    if not vec.any():
        raise RequestInvalid(f"item {i}: vector must be non-zero in float32")
    return vec


def _new(items: list[s.MemoryIn]) -> list[NewMemory]:
    vectors, models = _vectors(items)
    return [NewMemory(vector=vectors[i], model=models[i], memory_type=it.memory_type,
                      payload=it.payload, importance=it.importance, coordinate=it.coordinate,
                      id=it.id, created_at=s.epoch(it.created_at), text=it.text)
            for i, it in enumerate(items)]


def memory_json(row, include_vector: bool = False) -> dict:
    out = {"id": row.id, "namespace": row.namespace, "memory_type": row.memory_type,
           "text": row.text, "payload": row.payload, "importance": row.importance,
           "importance_norm": row.importance_norm, "coordinate": row.coordinate,
           "embedding_model": row.model, "dim": row.dim, "created_at": s.iso(row.created_at),
           "updated_at": s.iso(row.updated_at), "last_access": s.iso(row.last_access),
           "access_count": row.access_count}
    if include_vector:
        out["vector"] = [float(x) for x in row.vector]
    return out


def _at_most(items: list, limit: int, what: str, unit: str) -> None:
    # a configured limit, so not in the schema: checked before anything is embedded or stored
    if len(items) > limit:
        raise RequestInvalid(f"{what} holds at most {limit} {unit}, got {len(items)}")


def _valid_id(memory_id: str) -> None:
    # an id that cannot exist is simply not found
    if not _ID.fullmatch(memory_id):
        raise NotFound(f"memory {memory_id!r} not found")


def _query(name: str, pattern: re.Pattern | None = None, *, required: bool = False) -> str | None:
    """A query parameter as the document declares it: 400 when given but not matching."""
    value = request.args.get(name)
    if value is None:
        if required:
            raise RequestInvalid(f"query parameter '{name}' is required")
        return None
    if pattern is not None and not pattern.fullmatch(value):
        raise RequestInvalid(f"query parameter '{name}' does not match {pattern.pattern}")
    return value


_BOOL = re.compile("true|false")
_LINK_TYPE = re.compile(s.LINK_TYPE_PATTERN)


# -- memories -----------------------------------------------------------------------------
@bp.post("/memories")
@require("write")
def create_memory():
    item = _body(s.MemoryIn)
    [(row, _)] = _svc().write(g.principal.namespace, _new([item]), upsert=False)
    resp = _json(memory_json(row), 201)
    resp.headers["Location"] = f"/v1/memories/{row.id}"
    return resp


@bp.put("/memories/<mid:memory_id>")
@require("write")
def put_memory(memory_id: str):
    if not _ID.fullmatch(memory_id):
        raise RequestInvalid("the id in the path must be 1-128 chars of letters, digits, . _ : -")
    item = s.MemoryIn.model_construct(**dict(_body(s.MemoryPut)), id=memory_id)  # validated as MemoryPut
    [(row, created)] = _svc().write(g.principal.namespace, _new([item]), upsert=True)
    return _json(memory_json(row), 201 if created else 200)


@bp.get("/memories/<mid:memory_id>")
@require("read")
def get_memory(memory_id: str):
    _valid_id(memory_id)
    include = _query("include_vector", _BOOL) == "true"
    return _json(memory_json(_svc().get(g.principal.namespace, memory_id), include))


@bp.delete("/memories/<mid:memory_id>")
@require("write")
def delete_memory(memory_id: str):
    # an id that cannot exist is already gone: 204 like any absent id, without the store
    if _ID.fullmatch(memory_id):
        _svc().delete(g.principal.namespace, memory_id)
    return Response(status=204)


@bp.post("/memories/bulk")
@require("write")
def bulk():
    data = _body(s.BulkIn)
    _at_most(data.items, _svc().settings.bulk_max_items, "a bulk request", "items")
    rows = _svc().write(g.principal.namespace, _new(data.items), upsert=True)
    return _json({"count": len(rows), "ids": [r.id for r, _ in rows]}, 201)


@bp.delete("/memories")
@require("admin")
def delete_scoped():
    memory_type = request.args.get("memory_type")
    unknown = set(request.args) - {"memory_type"}
    if unknown:
        raise RequestInvalid(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    if memory_type not in ("episodic", "semantic"):
        raise RequestInvalid("memory_type must be 'episodic' or 'semantic' (a scoped delete needs a scope)")
    return _json({"deleted": _svc().delete_scoped(g.principal.namespace, memory_type)})


_LIMIT = re.compile(r"[0-9]{1,4}")
_CURSOR = re.compile(s.CURSOR_PATTERN[1:-1])
_RFC3339 = re.compile(s.RFC3339[1:-1], re.IGNORECASE)
_LIST_PARAMS = {"limit", "cursor", "memory_type", "created_after", "created_before", "payload"}


def _time_param(name: str) -> float | None:
    """Epoch seconds or RFC 3339, as in bodies; 400 for anything else or out of range."""
    value = request.args.get(name)
    if value is None:
        return None
    try:
        if _RFC3339.fullmatch(value):
            return s._instant(value)
        number = float(value)
    except ValueError:
        number = math.nan
    if not 0 <= number <= s.EPOCH_MAX:  # NaN included
        raise RequestInvalid(f"query parameter '{name}' must be epoch seconds (0..{s.EPOCH_MAX:.0f}) "
                             "or an RFC 3339 date-time with an offset")
    return number


def _payload_param() -> dict | None:
    value = request.args.get("payload")
    if value is None:
        return None
    def refuse(const):
        raise ValueError(f"{const} is not JSON")
    try:
        parsed = json.loads(value, parse_constant=refuse)
        if not isinstance(parsed, dict):
            raise ValueError("not an object")
        s._strict_json(parsed)  # 1e400 parses as Infinity
    except ValueError:
        raise RequestInvalid("query parameter 'payload' must be a JSON object (equality on its "
                             "top-level keys)") from None
    return parsed


@bp.get("/memories")
@require("read")
def list_memories():
    unknown = set(request.args) - _LIST_PARAMS
    if unknown:
        raise RequestInvalid(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    limit = int(_query("limit", _LIMIT) or 50)
    if not 1 <= limit <= s.LIST_MAX:
        raise RequestInvalid(f"query parameter 'limit' must be 1..{s.LIST_MAX}")
    cursor = _query("cursor", _CURSOR)
    position = None
    if cursor is not None:
        created, _, last_id = cursor.partition("~")
        position = (float(created), last_id)
    memory_type = request.args.get("memory_type")
    if memory_type is not None and memory_type not in ("episodic", "semantic"):
        raise RequestInvalid("memory_type must be 'episodic' or 'semantic'")
    created_range = (_time_param("created_after"), _time_param("created_before"))
    rows, after = _svc().list(g.principal.namespace, limit, cursor=position, memory_type=memory_type,
                              created_range=created_range, payload_filter=_payload_param())
    return _json({"memories": [memory_json(r) for r in rows],
                  "next_cursor": None if after is None else f"{after[0]!r}~{after[1]}"})


# -- recall -------------------------------------------------------------------------------
def _recall(query_items, k, memory_type, filters, exact, explain, mode="vector"):
    svc = _svc()
    if mode != "vector" and any(it.text is None for it in query_items):
        raise RequestInvalid(f"mode '{mode}' searches text: every query needs 'text'")
    queries, _ = _vectors(query_items)
    payload_filter, created_range = None, None
    if filters is not None:
        payload_filter = filters.payload or None
        if filters.created_at is not None:
            created_range = (s.epoch(filters.created_at.gte), s.epoch(filters.created_at.lte))
            gte, lte = created_range
            if gte is not None and lte is not None and gte > lte:
                return [[] for _ in query_items]  # an empty range matches nothing (not an error)
    results = svc.recall_modes(g.principal.namespace, queries, [it.text for it in query_items], k, mode=mode,
                               memory_type=memory_type, payload_filter=payload_filter,
                               created_range=created_range, exact=exact)
    cfg = svc.settings
    rank_part = "max(0, cos)" if mode == "vector" else f"sum(1/({svc.RRF_K} + rank))"
    out = []
    for hits in results:
        rows = []
        for hit, meta, lists in hits:
            r = {"id": hit.id, "score": hit.score, "similarity": hit.similarity,
                 "importance": hit.importance, "decay": hit.decay, "memory_type": meta.memory_type,
                 "text": meta.text, "payload": meta.payload, "created_at": s.iso(meta.created_at),
                 "lists": lists}
            if explain:
                r["explain"] = {"formula": f"{rank_part} * importance_norm^alpha * 2^(-age/half_life)",
                                "similarity": hit.similarity, "importance_norm": hit.importance,
                                "alpha": cfg.alpha, "decay": hit.decay,
                                "half_life_s": s.finite_or_none(cfg.half_life_s)}
            rows.append(r)
        out.append(rows)
    return out


@bp.post("/recall")
@require("read")
def recall():
    q = _body(s.RecallIn)
    [results] = _recall([q], q.k, q.memory_type, q.filters, q.exact, q.explain, q.mode)
    return _json({"results": results})


@bp.post("/recall/batch")
@require("read")
def recall_batch():
    q = _body(s.BatchRecallIn)
    _at_most(q.queries, _svc().settings.batch_max_queries, "a batch", "queries")
    return _json({"results": _recall(q.queries, q.k, q.memory_type, q.filters, q.exact, q.explain, q.mode)})


# -- links --------------------------------------------------------------------------------
def _link_json(link) -> dict:
    return {"from": link.from_id, "to": link.to_id, "type": link.type, "weight": link.weight,
            "created_at": s.iso(link.created_at)}


@bp.post("/links")
@require("write")
def create_link():
    data = _body(s.LinkIn)
    link = _svc().link(g.principal.namespace, data.from_, data.to, data.type, data.weight)
    return _json(_link_json(link), 201)


@bp.get("/memories/<mid:memory_id>/links")
@require("read")
def list_links(memory_id: str):
    _valid_id(memory_id)
    links = _svc().links(g.principal.namespace, memory_id, _query("type", _LINK_TYPE))
    return _json({"links": [_link_json(x) for x in links]})


@bp.get("/paths")
@require("read")
def shortest_path():
    # from and to are ids: the document gives their pattern, so anything else is a 400
    src, dst = _query("from", _ID, required=True), _query("to", _ID, required=True)
    found = _svc().path(g.principal.namespace, src, dst, _query("type", _LINK_TYPE))
    if found is None:
        return _json({"path": [], "cost": None, "found": False})
    path, cost = found
    return _json({"path": path, "cost": cost, "found": True})


@bp.get("/stats")
@require("read")
def stats():
    return _json(_svc().stats(g.principal.namespace))
