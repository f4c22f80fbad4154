"""Each HTTP operation declared once, at its route: what it takes and what it answers.

    @bp.get("/memories/<mid:memory_id>")
    @require("read")
    @operation("getMemory", path=s.MemoryPath, query=s.GetQuery,
               responses={200: answer(s.Memory)}, errors=(400, 404, 405, 503))
    def get_memory(memory_id, query): ...

The declaration does the work and is the document: the wrapper parses the JSON body with
`body` (415 unless application/json, 400 when invalid) and the query string with `query`
(400), passes them to the view as `body=` / `query=`, and serialises the model the view
returns with pydantic's Rust serialiser after checking it is the model declared for that
status. openapi.py walks the app's url_map and builds the document from these
declarations alone, so what is validated, answered and documented is one thing.

Placed under `@require`, so authentication still answers before the body is read;
functools.wraps carries the declaration (`view.operation`) up to the registered view.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

from flask import Response, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import UnsupportedMediaType

from memory.errors import RequestInvalid

JSON = "application/json"


@dataclasses.dataclass(frozen=True)
class Answer:
    """One documented response: its model (None: no body), description, headers by name."""
    model: type[BaseModel] | None
    description: str = "OK"
    headers: tuple[str, ...] = ()
    media_type: str = JSON
    schema: dict | None = None  # a body that is no model (the Prometheus text, the document)


def answer(model: type[BaseModel] | None, description: str = "OK", *headers: str,
           media_type: str = JSON, schema: dict | None = None) -> Answer:
    return Answer(model, description, headers, media_type, schema)


@dataclasses.dataclass(frozen=True)
class Operation:
    operation_id: str
    responses: dict[int, Answer]
    errors: tuple[int, ...] = ()
    summary: str | None = None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path: type[BaseModel] | None = None
    # "api": the API's bearer tokens (when configured; the auth errors are added);
    # "none": always open; "metrics": the METRICS_TOKEN bearer, when one is set
    security: str = "api"
    error_text: dict[int, str] = dataclasses.field(default_factory=dict)
    # a body that is not a JSON model (a binary upload): its OpenAPI `content`, as stated or
    # as a function of (settings, schema) where schema(model) gives a model's $ref; the view
    # reads such a body itself
    body_content: dict | Callable | None = None
    description: str | None = None
    # reads such a body before the view, as a model body is: its errors are the caller's (400)
    body_parser: Callable | None = None


class AnswerInvalid(RuntimeError):
    """An answer that does not fit its declared model: a server bug (500), never a 400."""


def operation(operation_id: str, *, responses: dict[int, Answer], errors: tuple[int, ...] = (),
              summary: str | None = None, body: type[BaseModel] | None = None,
              query: type[BaseModel] | None = None, path: type[BaseModel] | None = None,
              security: str = "api", error_text: dict[int, str] | None = None,
              body_content: dict | Callable | None = None, description: str | None = None,
              body_parser: Callable | None = None) -> Callable:
    if body is not None and body_content is not None:
        raise ValueError(f"{operation_id}: a body model or a body_content, not both")
    op = Operation(operation_id, responses, tuple(errors), summary, body, query, path, security,
                   error_text or {}, body_content, description, body_parser)

    def deco(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if op.body is not None:
                kwargs["body"] = parse_body(op.body)
            elif op.body_parser is not None:
                kwargs["body"] = op.body_parser()
            if op.query is not None:
                kwargs["query"] = parse_query(op.query)
            try:
                result = view(*args, **kwargs)
            except ValidationError as exc:  # building the answer's model, after parsing
                raise AnswerInvalid(f"{operation_id}: the answer does not fit its model: {exc}") from None
            return respond(op, result)
        wrapper.operation = op
        return wrapper
    return deco


def parse_body(model: type[BaseModel]) -> BaseModel:
    """The body parsed with `model`: 415 for a non-JSON type, 400 (ValidationError) for
    anything invalid."""
    if request.mimetype != JSON:
        raise UnsupportedMediaType("send the body as application/json")
    return model.model_validate_json(request.get_data(cache=False) or b"")


def parse_query(model: type[BaseModel]) -> BaseModel:
    """The query string validated by `model` (first value of a repeated name), or a 400 that
    names each parameter at fault."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise RequestInvalid("; ".join(_query_error(e) for e in exc.errors(include_url=False)[:20])) from None


def _query_error(e: dict) -> str:
    name = ".".join(str(p) for p in e["loc"]) or "query"
    if e["type"] == "extra_forbidden":
        return f"unknown query parameter '{name}'"
    if e["type"] == "missing":
        return f"query parameter '{name}' is required"
    msg = str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"]
    return f"query parameter '{name}': {msg}"


def respond(op: Operation, result) -> Response:
    """A view's result as the response: a model (200), (model, status) or (model, status,
    headers); a Response (a problem, 204, text) passes as it is."""
    if isinstance(result, Response):
        return result
    status, headers = 200, None
    if isinstance(result, tuple):
        result, status, *rest = result
        headers = rest[0] if rest else None
    declared = op.responses.get(status)
    if declared is None or declared.model is None or type(result) is not declared.model:
        raise AnswerInvalid(f"{op.operation_id}: {type(result).__name__} answered with {status}, "
                            f"which declares {declared and declared.model}")
    body = result.model_dump_json(by_alias=True)
    return Response(body, status=status, headers=headers, mimetype=declared.media_type)
