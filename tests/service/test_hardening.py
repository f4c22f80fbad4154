"""Regression tests of the hardening issue: each defect of the adversarial run, on SQLite.

Each test states the request that once did harm and what must hold now: a clear 4xx, nothing
stored, every read path still answering valid JSON.
"""

from __future__ import annotations

import json

import pytest

from tests.service.conftest import DIM, TOKENS, auth, vec


def _strict_json(response):
    """The body parsed by a parser that refuses NaN and Infinity (what JSON allows)."""
    def refuse(const):
        raise ValueError(f"not JSON: {const}")
    return json.loads(response.get_data(as_text=True), parse_constant=refuse)


def _nothing_stored(app):
    assert app.store.max_seq() == 0
    assert app.client.get("/v1/stats").get_json()["memories"] == 0


# -- 5: ids are matched in full -------------------------------------------------------------
@pytest.mark.parametrize("path_id", ["abc%0A", "abc%0D", "a%0Ab"])
def test_put_id_with_newline_is_refused(sqlite_app, path_id):
    r = sqlite_app.client.put(f"/v1/memories/{path_id}", json={"vector": vec(1)})
    assert r.status_code == 400
    _nothing_stored(sqlite_app)


def test_body_id_with_trailing_newline_is_refused(sqlite_app):
    r = sqlite_app.client.post("/v1/memories", json={"vector": vec(1), "id": "abc\n"})
    assert r.status_code == 400
    r = sqlite_app.client.post("/v1/memories/bulk", json={"items": [{"vector": vec(1), "id": "x" * 128 + "\n"}]})
    assert r.status_code == 400
    _nothing_stored(sqlite_app)
    assert sqlite_app.client.get("/v1/memories/abc%0A").status_code == 404
