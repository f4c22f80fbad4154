"""The OpenAPI 3.1 document, generated from the app's routes and their declarations.

Nothing here lists a path: `document` walks the Flask url_map, turns each werkzeug rule into
an OpenAPI path (`/v1/memories/<mid:memory_id>` -> `/v1/memories/{id}`, the name from the
path model's alias) and each method's view's @operation (memory/api/operations.py) into an
operation: its body, query and path models (the ones that validate), its responses by
status with their models and headers, its error codes. A route without a declaration is
an error, not a silent gap. What depends on the deployment (dim, item limits, text maximum,
whether tokens are configured) comes from Settings, as before.
"""

from __future__ import annotations

import re

from flask import Flask
from pydantic import BaseModel

from memory.api import schemas as s
from memory.api.operations import Operation
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


# a werkzeug rule's variable: <converter(args):name> or <name>
_RULE_VAR = re.compile(r"<(?:[^:<>]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
_ERROR_TEXT = {400: "Invalid request", 401: "Missing or invalid token", 403: "Scope missing",
               404: "Not found", 405: "Method not allowed", 409: "Id already exists",
               413: "Body too large", 415: "Not application/json", 429: "Rate limited",
               503: "Store unavailable"}
_RETRY_AFTER = {"description": "Seconds to wait before retrying", "required": True,
                "schema": {"type": "integer", "minimum": 1}}
_HEADERS = {"Location": {"description": "The memory's URL", "required": True, "schema": {"type": "string"}},
            "Retry-After": _RETRY_AFTER}


def _auth_errors(security: str, settings: Settings) -> dict[int, str]:
    """The errors an operation's security scheme adds (rate limits included)."""
    if security == "api":
        return ({401: "Missing or invalid token", 403: "Scope missing", 429: "Rate limited"}
                if settings.auth_enabled else {429: "Rate limited"})
    if security == "metrics" and settings.metrics_token:
        return {401: "Metrics token missing or wrong",
                429: "Too many failed authentications from this address (AUTH_FAIL_LIMIT)"}
    return {}


def _security(security: str, settings: Settings) -> list | None:
    if security == "api":
        return None  # the document's default
    if security == "metrics" and settings.metrics_token:
        return [{"metrics": []}]
    return []


def openapi_path(rule: str, path_model: type[BaseModel] | None) -> str:
    """A werkzeug rule as an OpenAPI path; each variable takes its path model field's alias."""
    fields = path_model.model_fields if path_model is not None else {}

    def name(m: re.Match) -> str:
        field = fields.get(m.group(1))
        if field is None:
            raise ValueError(f"route {rule}: variable {m.group(1)!r} has no field in its path model")
        return "{" + (field.alias or m.group(1)) + "}"
    return _RULE_VAR.sub(name, rule)


def routes(app: Flask):
    """(OpenAPI path, method, Operation) of every route the app serves, HEAD and OPTIONS aside."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        op: Operation | None = getattr(view, "operation", None)
        if op is None:
            raise ValueError(f"route {rule.rule} ({rule.endpoint}) declares no @operation: "
                             "the document cannot state it")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield openapi_path(rule.rule, op.path), method.lower(), op


def document(settings: Settings, app: Flask) -> dict:
    comps: dict = {}
    inputs: set[str] = set()
    inp = lambda m: _schema(m, comps, "validation", inputs)  # noqa: E731
    out = lambda m: _schema(m, comps, "serialization")  # noqa: E731
    problem = {"application/problem+json": {"schema": out(s.Problem)}}

    def parameters(model: type[BaseModel], where: str) -> list[dict]:
        sch = model.model_json_schema(ref_template=_REF, mode="validation", by_alias=True)
        for name, sub in sch.pop("$defs", {}).items():
            comps.setdefault(name, sub)
            inputs.add(name)
        required = set(sch.get("required", ()))
        params = []
        for name, prop in sch["properties"].items():
            prop = _without_null(prop)
            prop.pop("title", None)
            param = {"name": name, "in": where}
            if where == "path" or name in required:
                param["required"] = True
            if "description" in prop:
                param["description"] = prop.pop("description")
            if prop.get("contentMediaType") == "application/json":  # a JSON document as the value
                param["content"] = {"application/json": {"schema": prop["contentSchema"]}}
            else:
                param["schema"] = prop
            params.append(param)
        return params

    def responses(op: Operation) -> dict:
        answers = {}
        for status, ans in sorted(op.responses.items()):
            doc = {"description": ans.description}
            if ans.model is not None:
                doc["content"] = {ans.media_type: {"schema": out(ans.model)}}
            elif ans.schema is not None:
                doc["content"] = {ans.media_type: {"schema": ans.schema}}
            if ans.headers:
                doc["headers"] = {h: _HEADERS[h] for h in ans.headers}
            answers[str(status)] = doc
        errors = {c: op.error_text.get(c, _ERROR_TEXT[c]) for c in op.errors}
        errors.update(_auth_errors(op.security, settings))
        for code in sorted(errors):
            answers[str(code)] = {"description": errors[code], "content": problem}
            if code in (429, 503):  # only these two say when to come back
                answers[str(code)]["headers"] = {"Retry-After": _RETRY_AFTER}
        return answers

    paths: dict = {}
    for path, method, op in routes(app):
        entry = {"operationId": op.operation_id}
        if op.summary:
            entry["summary"] = op.summary.format(settings=settings)
        if op.description:
            entry["description"] = op.description
        params = [*(parameters(op.path, "path") if op.path else ()),
                  *(parameters(op.query, "query") if op.query else ())]
        if params:
            entry["parameters"] = params
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {"application/json": {"schema": inp(op.body)}}}
        elif op.body_content is not None:
            content = op.body_content(settings, inp) if callable(op.body_content) else op.body_content
            entry["requestBody"] = {"required": True, "content": content}
        entry["responses"] = responses(op)
        security = _security(op.security, settings)
        if security is not None:
            entry["security"] = security
        paths.setdefault(path, {})[method] = entry
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
    sec = [{"bearer": []}] if settings.auth_enabled else []
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
