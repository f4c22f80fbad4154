"""One contract: the routes the app serves are the operations the document states, and the
property-based run (test_openapi_fuzz.py) would notice an answer whose body or headers
stray from it. Query parameters are validated by the models the document comes from."""

from __future__ import annotations

import json
import math
import re

import pytest
import schemathesis
from schemathesis.core.transport import Response
from pydantic import ValidationError

from memory.api import schemas as s
from memory.api.operations import AnswerInvalid, answer, operation, respond
from memory.memory_type import MemoryType
from tests.service.conftest import TOKENS, auth, vec

ROOTS = {"/healthz", "/readyz", "/metrics", "/openapi.json"}


def _routes(app) -> set[tuple[str, str]]:
    """(path in OpenAPI form, method) of every route, from the url_map alone."""
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:<>]+:)?memory_id>", "{id}", rule.rule)
        out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


@pytest.mark.parametrize("tokens", [False, True], ids=["open", "tokens"])
def test_every_route_is_in_the_document_and_nothing_else(make_running, tokens):
    app = make_running(tokens=TOKENS if tokens else {}, metrics_token="m" * 24 if tokens else "")
    doc = app.client.get("/openapi.json").get_json()
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    served = _routes(app.app)
    assert {p for p, _ in served} - ROOTS and all(p.startswith("/v1/") or p in ROOTS for p, _ in served)
    assert ROOTS <= {p for p, _ in served}
    assert served == documented
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids)) == len(served)
    # what the security scheme adds, per deployment
    get = doc["paths"]["/v1/memories/{id}"]["get"]
    assert ("401" in get["responses"]) is tokens and "429" in get["responses"]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
    assert doc["paths"]["/metrics"]["get"]["security"] == ([{"metrics": []}] if tokens else [])


def test_query_parameters_are_the_models_fields(sqlite_app):
    """The list operation's parameters are ListQuery's fields (aliases), typed as the model
    validates them: an integer limit with its range, the memory type enum, a JSON payload."""
    doc = sqlite_app.client.get("/openapi.json").get_json()
    params = {p["name"]: p for p in doc["paths"]["/v1/memories"]["get"]["parameters"]}
    assert set(params) == {f.alias or n for n, f in s.ListQuery.model_fields.items()}
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": s.LIST_MAX, "default": 50}
    assert params["memory_type"]["schema"] == {"$ref": "#/components/schemas/MemoryType"}
    assert doc["components"]["schemas"]["MemoryType"]["enum"] == [t.value for t in MemoryType]
    assert params["payload"]["content"] == {"application/json": {"schema": {"type": "object"}}}
    paths = {p["name"]: p for p in doc["paths"]["/v1/paths"]["get"]["parameters"]}
    assert paths["from"]["required"] and paths["to"]["required"] and not paths["type"].get("required")
    put = doc["paths"]["/v1/memories/{id}"]["put"]["parameters"]
    assert [(p["name"], p["in"], p["schema"]["pattern"]) for p in put] == [("id", "path", s.ID_PATTERN)]


@pytest.mark.parametrize("query, fragment", [
    ("limit=1.0", "query parameter 'limit': must be a whole number"),
    ("limit=1001", "query parameter 'limit'"),
    ("memory_type=other", "query parameter 'memory_type'"),
    ("colour=red", "unknown query parameter 'colour'"),
    ("created_after=nan", "must be epoch seconds"),
    ("payload=%5B1%5D", "must be a JSON object"),
])
def test_query_errors_name_the_parameter(sqlite_app, query, fragment):
    r = sqlite_app.client.get(f"/v1/memories?{query}")
    assert r.status_code == 400 and r.mimetype == "application/problem+json"
    assert fragment in r.get_json()["detail"]


def test_paths_and_scoped_delete_validate_their_query(sqlite_app):
    c = sqlite_app.client
    assert "query parameter 'from' is required" in c.get("/v1/paths?to=a").get_json()["detail"]
    assert c.get("/v1/paths?from=a%0A&to=b").status_code == 400  # a final newline is no id
    assert c.get("/v1/memories/x?include_vector=yes").status_code == 400
    assert "query parameter 'memory_type' is required" in c.delete("/v1/memories").get_json()["detail"]
    assert c.delete("/v1/memories?memory_type=semantic").get_json() == {"deleted": 0}


def test_answers_are_the_response_models(sqlite_app):
    """Bodies are the models' JSON: field names as declared, `from` by alias, optional parts
    left out rather than null, strict JSON."""
    c = sqlite_app.client
    created = c.post("/v1/memories", json={"vector": vec(1), "id": "a", "memory_type": "semantic"})
    c.put("/v1/memories/b", json={"vector": vec(2)})
    body = created.get_json()
    assert set(body) == set(s.Memory.model_fields) - {"vector"} and body["memory_type"] == "semantic"
    assert set(c.get("/v1/memories/a?include_vector=true").get_json()) == set(s.Memory.model_fields)
    link = c.post("/v1/links", json={"from": "a", "to": "b"}).get_json()
    assert set(link) == {"from", "to", "type", "weight", "created_at"}
    hit = c.post("/v1/recall", json={"vector": vec(1), "k": 1}).get_json()["results"][0]
    assert "explain" not in hit and hit["text"] is None and hit["lists"] == {"vector": 1}
    explained = c.post("/v1/recall", json={"vector": vec(1), "k": 1, "explain": True}).get_json()
    assert explained["results"][0]["explain"]["formula"].startswith("max(0, cos)")
    for when in (0, 1700000000.123456, 1700000000.5, 2e10 + 0.25, s.EPOCH_MAX):  # seconds, never ms
        got = c.put("/v1/memories/t", json={"vector": vec(4), "created_at": when}).get_json()
        assert got["created_at"] == s.iso(when)
    assert c.get("/v1/memories/t").get_json()["created_at"] == "3000-01-01T00:00:00Z"
    raw = c.get("/v1/stats").get_data(as_text=True)
    assert json.loads(raw, parse_constant=lambda x: pytest.fail(f"{x} in an answer"))["by_type"] == \
        {"episodic": 2, "semantic": 1}


def test_an_answer_that_strays_from_its_model_is_a_server_error():
    op = operation("x", responses={200: answer(s.Status)})(lambda: None).operation
    with pytest.raises(AnswerInvalid):
        respond(op, s.DeletedOut(deleted=1))  # not the model declared for 200
    with pytest.raises(AnswerInvalid):
        respond(op, (s.Status(status="ok"), 201))  # no 201 declared
    with pytest.raises(ValidationError):  # NaN never reaches a body: the model refuses it
        s.PathOut(path=[], cost=math.nan, found=False)


def test_the_fuzz_check_catches_a_wrong_body_and_wrong_headers(make_running):
    """test_openapi_fuzz.py calls case.validate_response on every answer: it must fail on
    a body off its schema, a missing required header and a header value off its schema,
    not only on a status code."""
    app = make_running(tokens=TOKENS)
    headers = auth("tok-alpha-rw")
    api = schemathesis.openapi.from_wsgi("/openapi.json", app.app)
    create = api["/v1/memories"]["POST"]
    case = create.Case(body={"vector": vec(3)}, media_type="application/json")
    response = case.call(headers=headers)
    assert response.status_code == 201
    case.validate_response(response, headers=headers)  # the real answer passes
    without_location = {k: v for k, v in response.headers.items() if k != "location"}
    _fails(case, _altered(response, headers=without_location), headers, "Location")
    wrong = {**json.loads(response.content), "memory_type": "procedural"}
    _fails(case, _altered(response, content=json.dumps(wrong).encode()), headers, "procedural")
    # a 429's Retry-After is documented as an integer >= 1
    limited = make_running(tokens=TOKENS, rate_limit="1/minute")
    stats = schemathesis.openapi.from_wsgi("/openapi.json", limited.app)["/v1/stats"]["GET"].Case()
    stats.call(headers=headers)
    refused = stats.call(headers=headers)
    assert refused.status_code == 429
    stats.validate_response(refused, headers=headers)
    _fails(stats, _altered(refused, headers={**refused.headers, "retry-after": ["0"]}), headers,
           "minimum")


def _fails(case, response, headers, fragment: str) -> None:
    with pytest.raises(BaseExceptionGroup) as failed:
        case.validate_response(response, headers=headers)
    assert any(fragment in str(e) for e in failed.value.exceptions), failed.value.exceptions


def _altered(response, *, headers=None, content=None):
    """The real answer with one part replaced."""
    return Response(response.status_code, headers if headers is not None else response.headers,
                    content if content is not None else response.content, response.request,
                    response.elapsed, response.verify)
