"""The /v1 resources: memories, recall, links and paths.

A view parses (its @operation declares the body, query and path models), calls the service
with the validated request, and returns the response model declared for the status; the
service does embedding, vector decoding and the deployment's checks (memory/intake.py).
"""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, g
from pydantic import ValidationError
from werkzeug.routing import BaseConverter

from memory.api import schemas as s
from memory.api.auth import require
from memory.api.operations import answer, operation
from memory.errors import NotFound, RequestInvalid
from memory.service import MemoryService

bp = Blueprint("v1", __name__, url_prefix="/v1")


class MemoryIdConverter(BaseConverter):
    """A path segment naming a memory; never `bulk`, which is the bulk resource's own path,
    so /v1/memories/bulk has only POST (and OPTIONS says so). `bulk` is a reserved id."""
    regex = r"(?!bulk$)[^/]+"


@bp.record_once
def _converters(state) -> None:
    state.app.url_map.converters["mid"] = MemoryIdConverter

_ID = re.compile(s.ID_PATTERN)  # always fullmatch: `$` would let a final newline through

# errors every operation of a kind can answer (the security scheme's, 401/403/429, are added
# by the document): one that takes a JSON body, and one that takes none
WITH_BODY = (400, 413, 415, 503)
NO_BODY = (503,)
BULK_ID = {405: "The id 'bulk' names the bulk resource (POST only)"}


def _svc() -> MemoryService:
    return current_app.config["SERVICE"]


def _valid_id(memory_id: str) -> None:
    # an id that cannot exist is simply not found
    if not _ID.fullmatch(memory_id):
        raise NotFound(f"memory {memory_id!r} not found")


# -- memories -----------------------------------------------------------------------------
@bp.post("/memories")
@require("write")
@operation("createMemory", summary="Store one memory", body=s.MemoryIn,
           responses={201: answer(s.Memory, "Stored", "Location")}, errors=(*WITH_BODY, 409))
def create_memory(body: s.MemoryIn):
    [(row, _)] = _svc().save(g.principal.namespace, [body], upsert=False)
    return s.Memory.of(row), 201, {"Location": f"/v1/memories/{row.id}"}


@bp.put("/memories/<mid:memory_id>")
@require("write")
@operation("putMemory", summary="Create or replace", path=s.MemoryPutPath, body=s.MemoryPut,
           responses={200: answer(s.Memory, "Replaced"), 201: answer(s.Memory, "Created")},
           errors=(405, *WITH_BODY), error_text=BULK_ID)
def put_memory(memory_id: str, body: s.MemoryPut):
    try:
        s.MemoryPutPath(id=memory_id)
    except ValidationError:
        raise RequestInvalid("the id in the path must be 1-128 chars of letters, digits, . _ : -") from None
    item = s.MemoryIn.model_construct(**dict(body), id=memory_id)  # validated as MemoryPut
    [(row, created)] = _svc().save(g.principal.namespace, [item], upsert=True)
    return s.Memory.of(row), 201 if created else 200


@bp.get("/memories/<mid:memory_id>")
@require("read")
@operation("getMemory", path=s.MemoryPath, query=s.GetQuery, responses={200: answer(s.Memory)},
           errors=(400, 404, 405, *NO_BODY), error_text=BULK_ID)
def get_memory(memory_id: str, query: s.GetQuery):
    _valid_id(memory_id)
    return s.Memory.of(_svc().get(g.principal.namespace, memory_id), query.include_vector)


@bp.delete("/memories/<mid:memory_id>")
@require("write")
@operation("deleteMemory", path=s.MemoryPath,
           responses={204: answer(None, "Deleted (also when already deleted)")},
           errors=(405, *NO_BODY), error_text=BULK_ID)
def delete_memory(memory_id: str):
    # an id that cannot exist is already gone: 204 like any absent id, without the store
    if _ID.fullmatch(memory_id):
        _svc().delete(g.principal.namespace, memory_id)
    return Response(status=204)


@bp.post("/memories/bulk")
@require("write")
@operation("bulkStore", summary="Store up to {settings.bulk_max_items} memories, all or nothing (upsert)",
           body=s.BulkIn, responses={201: answer(s.BulkOut, "Stored")}, errors=WITH_BODY)
def bulk(body: s.BulkIn):
    rows = _svc().save_bulk(g.principal.namespace, body.items)
    return s.BulkOut(count=len(rows), ids=[r.id for r, _ in rows]), 201


@bp.delete("/memories")
@require("admin")
@operation("deleteMemoriesByType", summary="Delete every memory of one type in one transaction (admin)",
           query=s.ScopedDeleteQuery, responses={200: answer(s.DeletedOut)}, errors=(400, *NO_BODY))
def delete_scoped(query: s.ScopedDeleteQuery):
    return s.DeletedOut(deleted=_svc().delete_scoped(g.principal.namespace, query.memory_type))


@bp.get("/memories")
@require("read")
@operation("listMemories", summary="A page of the namespace's memories, newest first (keyset pagination)",
           query=s.ListQuery, responses={200: answer(s.ListOut)}, errors=(400, *NO_BODY))
def list_memories(query: s.ListQuery):
    rows, after = _svc().list(g.principal.namespace, query.limit, cursor=query.position,
                              memory_type=query.memory_type,
                              created_range=(query.created_after, query.created_before),
                              payload_filter=query.payload)
    return s.ListOut.model_validate({"memories": [s.Memory.fields(r) for r in rows],
                                     "next_cursor": None if after is None else f"{after[0]!r}~{after[1]}"})


# -- recall -------------------------------------------------------------------------------
def _hits(hits, explain: bool, mode: str) -> list[dict]:
    """Recall hits as RecallHit's fields (validated with their answer, in one call)."""
    svc = _svc()
    cfg = svc.settings
    out = []
    for hit, meta, lists in hits:
        fields = {"id": hit.id, "score": hit.score, "similarity": hit.similarity,
                  "importance": hit.importance, "decay": hit.decay, "memory_type": meta.memory_type,
                  "text": meta.text, "payload": meta.payload, "created_at": meta.created_at, "lists": lists}
        if explain:
            fields["explain"] = {"formula": svc.score_formula(mode), "similarity": hit.similarity,
                                 "importance_norm": hit.importance, "alpha": cfg.alpha, "decay": hit.decay,
                                 "half_life_s": s.finite_or_none(cfg.half_life_s)}
        out.append(fields)
    return out


@bp.post("/recall")
@require("read")
@operation("recall", body=s.RecallIn, responses={200: answer(s.RecallOut)}, errors=WITH_BODY)
def recall(body: s.RecallIn):
    hits = _svc().recall_request(g.principal.namespace, body)
    return s.RecallOut.model_validate({"results": _hits(hits, body.explain, body.mode)})


@bp.post("/recall/batch")
@require("read")
@operation("recallBatch", body=s.BatchRecallIn, responses={200: answer(s.BatchRecallOut)}, errors=WITH_BODY)
def recall_batch(body: s.BatchRecallIn):
    results = _svc().recall_batch_request(g.principal.namespace, body)
    return s.BatchRecallOut.model_validate({"results": [_hits(hits, body.explain, body.mode) for hits in results]})


# -- links --------------------------------------------------------------------------------
@bp.post("/links")
@require("write")
@operation("createLink", body=s.LinkIn, responses={201: answer(s.Link, "Linked")}, errors=(*WITH_BODY, 404))
def create_link(body: s.LinkIn):
    link = _svc().link(g.principal.namespace, body.from_, body.to, body.type, body.weight)
    return s.Link.of(link), 201


@bp.get("/memories/<mid:memory_id>/links")
@require("read")
@operation("listLinks", path=s.MemoryPath, query=s.LinksQuery, responses={200: answer(s.LinksOut)},
           errors=(400, 404, *NO_BODY))
def list_links(memory_id: str, query: s.LinksQuery):
    _valid_id(memory_id)
    links = _svc().links(g.principal.namespace, memory_id, query.type)
    return s.LinksOut(links=[s.Link.of(x) for x in links])


@bp.get("/paths")
@require("read")
@operation("shortestPath", summary="Weighted shortest path", query=s.PathQuery,
           responses={200: answer(s.PathOut)}, errors=(400, 404, *NO_BODY))
def shortest_path(query: s.PathQuery):
    found = _svc().path(g.principal.namespace, query.from_, query.to, query.type)
    if found is None:
        return s.PathOut(path=[], cost=None, found=False)
    path, cost = found
    return s.PathOut(path=path, cost=cost, found=True)


@bp.get("/stats")
@require("read")
@operation("stats", responses={200: answer(s.StatsOut, "The namespace's counts, index and outbox")},
           errors=NO_BODY)
def stats():
    return s.StatsOut(**_svc().stats(g.principal.namespace))
