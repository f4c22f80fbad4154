"""The OpenAPI 3.1 document, built from the pydantic models the views validate with."""

from __future__ import annotations

from pydantic import BaseModel

from memory.api import bulk_binary
from memory.api import schemas as s
from memory.config import Settings

_REF = "#/components/schemas/{model}"


def _schema(model: type[BaseModel], components: dict, mode: str, inputs: set | None = None) -> dict:
    sch = model.model_json_schema(ref_template=_REF, mode=mode, by_alias=True)
    for name, sub in sch.pop("$defs", {}).items():
        components.setdefault(name, sub)
        if inputs is not None:
            inputs.add(name)
    components.setdefault(model.__name__, sch)
    if inputs is not None:
        inputs.add(model.__name__)
    return {"$ref": _REF.format(model=model.__name__)}


def _without_null(schema):
    """Request bodies never take null (schemas._Strict refuses it): drop the null branch
    pydantic writes for an optional field, so the document says what the service does."""
    if isinstance(schema, dict):
        alts = schema.get("anyOf")
        if alts is not None:
            alts = [a for a in alts if a != {"type": "null"}]
            if len(alts) == 1:
                del schema["anyOf"]
                extra = {k: v for k, v in alts[0].items() if k not in schema}
                schema.update(extra)
            else:
                schema["anyOf"] = alts
        if schema.get("default", 0) is None:
            del schema["default"]
        for v in schema.values():
            _without_null(v)
    elif isinstance(schema, list):
        for v in schema:
            _without_null(v)
    return schema


def b64_pattern(dim: int) -> str:
    """Exactly the base64 text of `dim` float32 values: length and padding included."""
    n = dim * 4
    full, rest = divmod(n, 3)
    tail = {0: "", 1: "[A-Za-z0-9+/]{2}==", 2: "[A-Za-z0-9+/]{3}="}[rest]
    return f"^[A-Za-z0-9+/]{{{4 * full}}}{tail}$"


def document(settings: Settings) -> dict:
    comps: dict = {}
    inputs: set[str] = set()
    inp = lambda m: _schema(m, comps, "validation", inputs)  # noqa: E731
    out = lambda m: _schema(m, comps, "serialization")  # noqa: E731
    problem = {"application/problem+json": {"schema": out(s.Problem)}}
    retry_after = {"Retry-After": {"description": "Seconds to wait before retrying", "required": True,
                                   "schema": {"type": "integer", "minimum": 1}}}

    def errs(*codes):
        text = {400: "Invalid request", 401: "Missing or invalid token", 403: "Scope missing",
                404: "Not found", 405: "The id 'bulk' names the bulk resource (POST only)",
                409: "Id already exists", 413: "Body too large",
                415: "Not application/json", 429: "Rate limited", 503: "Store unavailable"}
        out = {str(c): {"description": text[c], "content": problem} for c in codes}
        for c in {429, 503} & set(codes):  # only these two say when to come back
            out[str(c)]["headers"] = retry_after
        return out

    def body(m):
        return {"required": True, "content": {"application/json": {"schema": inp(m)}}}

    def ok(code, m, desc="OK", headers=None):
        answer = {"description": desc, "content": {"application/json": {"schema": out(m)}}}
        if headers:
            answer["headers"] = headers
        return {str(code): answer}

    auth = (401, 403, 429) if settings.auth_enabled else (429,)
    common = (400, 413, 415, 503, *auth)
    read_common = (503, *auth)
    reserved = {"not": {"enum": list(s.RESERVED_IDS)}}  # /v1/memories/bulk is its own resource
    any_id = {"name": "id", "in": "path", "required": True, "schema": {"type": "string", **reserved},
              "description": "A memory id; one that no memory can have is simply not found"}
    put_id = {"name": "id", "in": "path", "required": True,
              "schema": {"type": "string", "pattern": s.ID_PATTERN, **reserved}}
    link_type = {"name": "type", "in": "query", "schema": {"type": "string", "pattern": s.LINK_TYPE_PATTERN}}
    location = {"Location": {"description": "The memory's URL", "required": True, "schema": {"type": "string"}}}
    sec = [{"bearer": []}] if settings.auth_enabled else []
    paths = {
        "/v1/memories": {
            "post": {"operationId": "createMemory", "summary": "Store one memory",
                     "requestBody": body(s.MemoryIn),
                     "responses": {**ok(201, s.Memory, "Stored", location), **errs(*common, 409)}},
            "get": {"operationId": "listMemories",
                    "summary": "A page of the namespace's memories, newest first (keyset pagination)",
                    "parameters": [
                        {"name": "limit", "in": "query",
                         "schema": {"type": "integer", "minimum": 1, "maximum": s.LIST_MAX, "default": 50}},
                        {"name": "cursor", "in": "query", "description": "A page's next_cursor",
                         "schema": {"type": "string", "pattern": s.CURSOR_PATTERN}},
                        {"name": "memory_type", "in": "query",
                         "schema": {"type": "string", "enum": ["episodic", "semantic"]}},
                        *({"name": name, "in": "query",
                           "description": f"created_at {op}; epoch seconds or RFC 3339",
                           "schema": {"anyOf": [{"type": "number", "minimum": 0, "maximum": s.EPOCH_MAX},
                                                {"type": "string", "pattern": s.RFC3339}]}}
                          for name, op in (("created_after", ">="), ("created_before", "<="))),
                        {"name": "payload", "in": "query",
                         "description": "A JSON object: memories whose payload has these top-level key/values",
                         "content": {"application/json": {"schema": {"type": "object"}}}},
                    ],
                    "responses": {**ok(200, s.ListOut), **errs(400, *read_common)}},
            "delete": {"operationId": "deleteMemoriesByType",
                       "summary": "Delete every memory of one type in one transaction (admin)",
                       "parameters": [{"name": "memory_type", "in": "query", "required": True,
                                       "schema": {"type": "string", "enum": ["episodic", "semantic"]}}],
                       "responses": {**ok(200, s.DeletedOut), **errs(400, *read_common)}},
        },
        "/v1/memories/bulk": {
            "post": {"operationId": "bulkStore",
                     "summary": f"Store up to {settings.bulk_max_items} memories, all or nothing (upsert)",
                     "requestBody": body(s.BulkIn),
                     "responses": {**ok(201, s.BulkOut, "Stored"), **errs(*common)}}},
        "/v1/memories/{id}": {
            "get": {"operationId": "getMemory", "parameters": [any_id, {
                        "name": "include_vector", "in": "query", "schema": {"type": "boolean"}}],
                    "responses": {**ok(200, s.Memory), **errs(400, 404, 405, *read_common)}},
            "put": {"operationId": "putMemory", "summary": "Create or replace",
                    "parameters": [put_id], "requestBody": body(s.MemoryPut),
                    "responses": {**ok(200, s.Memory, "Replaced"), **ok(201, s.Memory, "Created"),
                                  **errs(405, *common)}},
            "delete": {"operationId": "deleteMemory", "parameters": [any_id],
                       "responses": {"204": {"description": "Deleted (also when already deleted)"},
                                     **errs(405, *read_common)}},
        },
        "/v1/memories/{id}/links": {
            "get": {"operationId": "listLinks", "parameters": [any_id, link_type],
                    "responses": {**ok(200, s.LinksOut), **errs(400, 404, *read_common)}}},
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
                    "parameters": [{"name": n, "in": "query", "required": True,
                                    "schema": {"type": "string", "pattern": s.ID_PATTERN}}
                                   for n in ("from", "to")] + [link_type],
                    "responses": {**ok(200, s.PathOut), **errs(400, 404, *read_common)}}},
        "/v1/stats": {"get": {"operationId": "stats",
                              "responses": {**ok(200, s.StatsOut, "The namespace's counts, index and outbox"),
                                            **errs(*read_common)}}},
        "/healthz": {"get": {"operationId": "healthz", "security": [],
                             "responses": ok(200, s.Status, "Process up")}},
        "/readyz": {"get": {"operationId": "readyz", "security": [],
                            "responses": {**ok(200, s.Status, "Ready"),
                                          "503": {"description": "Not ready", "content": problem,
                                                  "headers": retry_after}}}},
        "/metrics": {"get": {"operationId": "metrics", "security": [],
                             "responses": {"200": {"description": "Prometheus text format",
                                                   "content": {"text/plain": {"schema": {"type": "string"}}}},
                                           **({"401": {"description": "Metrics token missing or wrong",
                                                       "content": problem},
                                               "429": {"description": "Too many failed authentications "
                                                                      "from this address (AUTH_FAIL_LIMIT)",
                                                       "content": problem, "headers": retry_after}}
                                              if settings.metrics_token else {})}}},
        "/openapi.json": {"get": {"operationId": "openapi", "security": [],
                                  "responses": {"200": {"description": "This document",
                                                        "content": {"application/json": {"schema": {"type": "object"}}}}}}},
    }
    # the binary bulk store (memory/api/bulk_binary.py): a framed body JSON Schema cannot
    # describe, so its JSON part's schema is named by an extension beside the framing
    paths["/v1/memories/bulk/binary"] = {"post": {
        "operationId": "bulkStoreBinary",
        "summary": f"Store up to {settings.bulk_max_items} memories, vectors as one raw float32 block "
                   "(all or nothing, upsert)",
        "description": "Body: b'SMB1', the JSON part's length J (uint32 little-endian), J bytes of "
                       "JSON (BinaryHead: dim and the items without vectors), then n x dim float32 "
                       "little-endian, row i being items[i]'s vector, and nothing after. Body limit "
                       f"BULK_MAX_BODY_BYTES ({settings.bulk_max_body_bytes}); 400 names what is wrong.",
        "requestBody": {"required": True, "content": {bulk_binary.MEDIA_TYPE: {
            "schema": {"type": "string", "format": "binary", "maxLength": settings.bulk_max_body_bytes},
            "x-json-part": inp(bulk_binary.BinaryHead)}}},
        "responses": {**ok(201, s.BulkOut, "Stored"), **errs(*common)}}}
    if settings.metrics_token:
        paths["/metrics"]["get"]["security"] = [{"metrics": []}]
    for name in inputs:
        _without_null(comps[name])
    # text, a vector (vector or vector_b64, never both), or text and a vector
    any_of = [{"required": ["vector"]}, {"required": ["vector_b64"]}, {"required": ["text"]}]
    for name in ("MemoryIn", "MemoryPut", "RecallIn", "QueryIn"):
        props = comps[name]["properties"]
        comps[name]["anyOf"] = any_of
        comps[name]["not"] = {"required": ["vector", "vector_b64"]}
        # the vector length is a deployment setting: state it where the schema is
        props["vector"].update(minItems=settings.dim, maxItems=settings.dim,
                               **{"not": {"items": {"const": 0}}})
        props["vector_b64"].update(pattern=b64_pattern(settings.dim))
        props["vector_b64"].pop("maxLength", None)
        props["text"]["maxLength"] = min(s.TEXT_MAX_CHARS, settings.max_text_chars)
    for name in ("MemoryIn", "MemoryPut"):  # stored text: no U+0000 (schemas.MemoryPut)
        comps[name]["properties"]["text"]["pattern"] = "^[^\\x00]*$"
    # keyword and hybrid search text: each query then needs its text
    text_modes = {"properties": {"mode": {"enum": ["keyword", "hybrid"]}}, "required": ["mode"]}
    comps["RecallIn"]["if"], comps["RecallIn"]["then"] = text_modes, {"required": ["text"]}
    comps["BatchRecallIn"]["if"] = text_modes
    comps["BatchRecallIn"]["then"] = {"properties": {"queries": {"items": {"required": ["text"]}}}}
    comps["BulkIn"]["properties"]["items"]["maxItems"] = settings.bulk_max_items
    comps["BatchRecallIn"]["properties"]["queries"]["maxItems"] = settings.batch_max_queries
    doc = {
        "openapi": "3.1.0",
        "info": {"title": "SomaStack memory service", "version": "1",
                 "description": "Long-term memory for agents. Errors are application/problem+json. "
                                "Three rules are beyond JSON Schema and answered 400: the texts of one "
                                f"request hold at most {settings.max_text_chars} characters together, "
                                "a vector_b64 must decode to finite float32 values, not all zero, and a date-time "
                                "(body or query) must name a day that exists (2021-02-30 is refused)."},
        "paths": paths,
        "components": {"schemas": comps,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                           **({"metrics": {"type": "http", "scheme": "bearer"}}
                                              if settings.metrics_token else {})}},
        "security": sec,
    }
    return doc
