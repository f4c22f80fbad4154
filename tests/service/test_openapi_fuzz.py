"""Property-based run over /openapi.json (schemathesis): the document states exactly what
the service accepts and answers.

Every operation is driven with schema-valid (positive) and schema-invalid (negative)
requests, and every response goes through schemathesis' checks: no 5xx, a documented status
code, content type and headers, a body that validates against the documented schema, every
valid request accepted (2xx, or 404/409 for a missing/taken id) and every invalid one
refused (4xx). Runs in-process against the WSGI app on a real SQLite store and on the
real PostgreSQL fixture.

schemathesis' pytest loader does not work with this pytest, so each operation's hypothesis
strategy is driven by hypothesis directly.

Three rules are beyond JSON Schema, and the document's description names them: a vector_b64
must decode to finite float32 values that are not all zero (bit patterns), the texts of
one request hold at most MAX_TEXT_CHARS together (a sum), and a date-time names a day that
exists (the pattern allows 2021-02-30). Valid-mode cases that break one of these are set
aside (`assume`); tests/service/test_hardening.py and test_list.py check the rules.
"""

from __future__ import annotations

import pytest
import schemathesis
import base64
import binascii
import os
import re

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from memory import runtime
from memory.api import create_app
from memory.api import schemas as s
from memory.config import Settings, Token
from memory.store import Store

DIM = 4
# per operation, mode and deployment: the module runs in about 2 minutes; raise it for a
# longer hunt (150 found nothing more)
EXAMPLES = int(os.environ.get("SOMA_FUZZ_EXAMPLES", "20"))


def _walk(value):
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def _beyond_schema(body, max_text_chars: int) -> bool:
    """True when a body breaks one of the two rules JSON Schema cannot state."""
    texts = 0
    for obj in _walk(body):
        b64 = obj.get("vector_b64")
        if isinstance(b64, str):
            try:
                vec = np.frombuffer(base64.b64decode(b64, validate=True), dtype="<f4")
            except (binascii.Error, ValueError):
                continue
            if not np.isfinite(vec).all() or not vec.any():
                return True
        if isinstance(obj.get("text"), str):
            texts += len(obj["text"])
        if any(_impossible_date(v) for v in obj.values()):
            return True
    return texts > max_text_chars


def _impossible_date(value) -> bool:
    """An RFC 3339 string of the documented form naming a day that does not exist (2021-02-30)."""
    if not (isinstance(value, str) and re.fullmatch(s.RFC3339[1:-1], value)):
        return False
    try:
        s._instant(value)
    except ValueError:
        return True
    return False


ADMIN = "fuzz-admin-token"  # a token with every scope: the fuzzer reaches every operation


@pytest.fixture(scope="module", params=["open", "tokens", pytest.param("postgresql", marks=pytest.mark.postgres)])
def api(request, tmp_path_factory):
    """The embedded default (no tokens), a deployment with tokens (the document then
    declares bearer security and 401/403; schemathesis also re-sends without the token),
    and the open deployment on the real PostgreSQL fixture."""
    tokens = {ADMIN: Token("fuzz", frozenset({"admin"}))} if request.param == "tokens" else {}
    url = ""
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres_server")
        server.create_database("openapi_fuzz")
        url = server.url("openapi_fuzz")
        store = Store(url)
        store.migrate()
        store.close()
    cfg = Settings(data_dir=str(tmp_path_factory.mktemp("soma-fuzz-")), dim=DIM, tokens=tokens,
                   database_url=url, rate_limit="100000/minute", auth_fail_limit="100000/minute")
    svc = runtime.build_service(cfg, follow=False)
    app = create_app(cfg, svc)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN}"} if tokens else {}
    for i, name in enumerate(["a", "b", "c"]):  # something for GETs and links to find
        client.put(f"/v1/memories/{name}", json={"vector": [1.0 + i, 0.5, 0.25, 0.0]}, headers=headers)
    yield schemathesis.openapi.from_wsgi("/openapi.json", app), headers
    svc.stop()
    svc.store.close()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])
def test_responses_match_the_document(api, mode):
    api_schema, headers = api
    # the binary bulk body is framed bytes JSON Schema cannot describe: the fuzzer would call
    # any bytes valid; test_write_properties generates framed bodies for it instead
    operations = [op for op in (result.ok() for result in api_schema.get_all_operations())
                  if op.path != "/v1/memories/bulk/binary"]
    assert len(operations) >= 14
    seen: dict[int, int] = {}
    failures: list[str] = []
    nothing_invalid: set[str] = set()
    for op in operations:
        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def run(case):
            if mode is GenerationMode.POSITIVE:
                assume(not _beyond_schema(case.body, Settings.max_text_chars))
                assume(not any(_impossible_date(v) for v in (case.query or {}).values()))
            response = case.call(headers=headers)
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            case.validate_response(response, headers=headers)
        try:
            run()
        except Unsatisfiable:  # no invalid request exists (no parameters, or any string goes)
            nothing_invalid.add(f"{op.method.upper()} {op.path}")
        except Exception as exc:  # collect every operation's mismatch, not only the first
            failures.append(f"{op.method.upper()} {op.path}: {str(exc)[:2000]}")
    assert failures == [], "\n\n".join(failures)
    if mode is GenerationMode.POSITIVE:
        assert nothing_invalid == set()
    else:
        assert nothing_invalid <= {"GET /healthz", "GET /readyz", "GET /metrics", "GET /openapi.json",
                                   "GET /v1/stats", "DELETE /v1/memories/{id}"}
    assert sum(seen.values()) > 100
    if mode is GenerationMode.POSITIVE:
        assert any(200 <= code < 300 for code in seen)
    else:
        assert any(code == 400 for code in seen)
