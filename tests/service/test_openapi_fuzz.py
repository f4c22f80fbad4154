"""Property-based run over /openapi.json (schemathesis): no request may produce a 5xx, and
every error is problem+json. Runs in-process against the WSGI app on a real SQLite store.

schemathesis' pytest fixture loader does not work with this pytest, so each operation's
hypothesis strategy is driven by hypothesis directly.
"""

from __future__ import annotations

import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from memory import runtime
from memory.api import create_app
from memory.config import Settings

DIM = 4


@pytest.fixture(scope="module")
def api_schema():
    cfg = Settings(data_dir=tempfile.mkdtemp(prefix="soma-fuzz-"), dim=DIM, rate_limit="100000/minute")
    svc = runtime.build_service(cfg, follow=False)
    app = create_app(cfg, svc)
    client = app.test_client()
    for i, name in enumerate(["a", "b", "c"]):  # something for GETs and links to find
        client.put(f"/v1/memories/{name}", json={"vector": [1.0 + i, 0.5, 0.25, 0.0]})
    yield schemathesis.openapi.from_wsgi("/openapi.json", app)
    svc.stop()
    svc.store.close()


def test_no_server_errors(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 13
    seen: dict[int, int] = {}
    doc = api_schema.raw_schema
    undocumented: set[str] = set()
    for op in operations:
        documented = doc["paths"][op.path][op.method.lower()]["responses"]

        @given(case=op.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def run(case):
            response = case.call()
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            if str(response.status_code) not in documented:
                undocumented.add(f"{case.method} {op.path} -> {response.status_code}")
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}")
            if response.status_code >= 400:
                ctype = {k.lower(): v for k, v in response.headers.items()}["content-type"]
                ctype = ctype[0] if isinstance(ctype, list) else ctype
                assert ctype.startswith("application/problem+json"), f"{case.method} {case.formatted_path}"
        run()
    assert sum(seen.values()) > 200 and any(code < 300 for code in seen)
    # the document is true to the behaviour: every status the fuzzer met is declared
    assert undocumented == set()
