"""The OpenAPI 3.1 document, built from the pydantic models the views validate with."""

from __future__ import annotations

from pydantic import BaseModel

from memory.api import schemas as s
from memory.config import Settings

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict, mode: str) -> dict:
    sch = model.model_json_schema(ref_template=_REF, mode=mode, by_alias=True)
    for name, sub in sch.pop("$defs", {}).items():
        components.setdefault(name, sub)
    components.setdefault(model.__name__, sch)
    return {"$ref": _REF.format(model=model.__name__)}


def document(settings: Settings) -> dict:
    comps: dict = {}
    inp = lambda m: _schema(m, comps, "validation")  # noqa: E731
    out = lambda m: _schema(m, comps, "serialization")  # noqa: E731
    problem = {"application/problem+json": {"schema": out(s.Problem)}}
    retry_after = {"Retry-After": {"description": "Seconds to wait before retrying",
                                   "schema": {"type": "integer", "minimum": 1}}}

    def errs(*codes):
        text = {400: "Invalid request", 401: "Missing or invalid token", 403: "Scope missing",
                404: "Not found", 409: "Id already exists", 413: "Body too large",
                415: "Not application/json", 429: "Rate limited", 503: "Store unavailable"}
        out = {str(c): {"description": text[c], "content": problem} for c in codes}
        for c in {429, 503} & set(codes):  # only these two say when to come back
            out[str(c)]["headers"] = retry_after
        return out

    def body(m):
        return {"required": True, "content": {"application/json": {"schema": inp(m)}}}

    def ok(code, m, desc="OK"):
        return {str(code): {"description": desc, "content": {"application/json": {"schema": out(m)}}}}

    common = (400, 401, 403, 413, 415, 429, 503)
    read_common = (401, 403, 429, 503)
    mid = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    sec = [{"bearer": []}] if settings.auth_enabled else []
    paths = {
        "/v1/memories": {
            "post": {"operationId": "createMemory", "summary": "Store one memory",
                     "requestBody": body(s.MemoryIn),
                     "responses": {**ok(201, s.Memory, "Stored"), **errs(*common, 409)}},
            "delete": {"operationId": "deleteMemoriesByType",
                       "summary": "Delete every memory of one type in one transaction (admin)",
                       "parameters": [{"name": "memory_type", "in": "query", "required": True,
                                       "schema": {"enum": ["episodic", "semantic"]}}],
                       "responses": {**ok(200, s.DeletedOut), **errs(400, *read_common)}},
        },
        "/v1/memories/bulk": {
            "post": {"operationId": "bulkStore",
                     "summary": f"Store up to {settings.bulk_max_items} memories, all or nothing (upsert)",
                     "requestBody": body(s.BulkIn),
                     "responses": {**ok(201, s.BulkOut, "Stored"), **errs(*common)}}},
        "/v1/memories/{id}": {
            "get": {"operationId": "getMemory", "parameters": [mid, {
                        "name": "include_vector", "in": "query", "schema": {"type": "boolean"}}],
                    "responses": {**ok(200, s.Memory), **errs(404, *read_common)}},
            "put": {"operationId": "putMemory", "summary": "Create or replace",
                    "parameters": [mid], "requestBody": body(s.MemoryIn),
                    "responses": {**ok(200, s.Memory, "Replaced"), **ok(201, s.Memory, "Created"),
                                  **errs(*common)}},
            "delete": {"operationId": "deleteMemory", "parameters": [mid],
                       "responses": {"204": {"description": "Deleted (also when already deleted)"},
                                     **errs(*read_common)}},
        },
        "/v1/memories/{id}/links": {
            "get": {"operationId": "listLinks", "parameters": [mid, {
                        "name": "type", "in": "query", "schema": {"type": "string"}}],
                    "responses": {**ok(200, s.LinksOut), **errs(404, *read_common)}}},
        "/v1/recall": {
            "post": {"operationId": "recall", "requestBody": body(s.RecallIn),
                     "responses": {**ok(200, s.RecallOut), **errs(*common)}}},
        "/v1/recall/batch": {
            "post": {"operationId": "recallBatch", "requestBody": body(s.BatchRecallIn),
                     "responses": {**ok(200, s.BatchRecallOut), **errs(*common)}}},
        "/v1/links": {
            "post": {"operationId": "createLink", "requestBody": body(s.LinkIn),
                     "responses": {**ok(201, s.Link, "Linked"), **errs(*common, 404)}}},
        "/v1/paths": {
            "get": {"operationId": "shortestPath", "summary": "Weighted shortest path",
                    "parameters": [{"name": n, "in": "query", "required": n != "type",
                                    "schema": {"type": "string"}} for n in ("from", "to", "type")],
                    "responses": {**ok(200, s.PathOut), **errs(400, 404, *read_common)}}},
        "/v1/stats": {"get": {"operationId": "stats",
                              "responses": {"200": {"description": "Counts, index and outbox state",
                                                    "content": {"application/json": {"schema": {"type": "object"}}}},
                                            **errs(*read_common)}}},
        "/healthz": {"get": {"operationId": "healthz", "security": [],
                             "responses": {"200": {"description": "Process up",
                                                   "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        "/readyz": {"get": {"operationId": "readyz", "security": [],
                            "responses": {"200": {"description": "Ready",
                                                  "content": {"application/json": {"schema": {"type": "object"}}}},
                                          "503": {"description": "Not ready", "content": problem,
                                                  "headers": retry_after}}}},
        "/metrics": {"get": {"operationId": "metrics", "security": [],
                             "responses": {"200": {"description": "Prometheus text format",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    }
    # the vector length is a deployment setting: state it where the schema is
    b64_len = 4 * ((settings.dim * 4 + 2) // 3)
    for name in ("MemoryIn", "RecallIn", "QueryIn"):
        props = comps.get(name, {}).get("properties", {})
        for alt in props.get("vector", {}).get("anyOf", []):
            if alt.get("type") == "array":
                alt["minItems"] = alt["maxItems"] = settings.dim
        for alt in props.get("vector_b64", {}).get("anyOf", []):
            if alt.get("type") == "string":
                alt["minLength"] = alt["maxLength"] = b64_len
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "SomaStack memory service", "version": "1",
                 "description": "Long-term memory for agents. Errors are application/problem+json."},
        "paths": paths,
        "components": {"schemas": comps,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": sec,
    }
    return doc
