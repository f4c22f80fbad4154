"""Configuration from SOMA_MEMORY_* and the feature-hashing embedder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from memory.config import Settings
from memory.embed import HashingEmbedder
from memory.errors import ConfigError, RequestInvalid


def test_defaults_are_the_embedded_loopback_service():
    s = Settings.from_env({})
    assert s.embedded and s.host == "127.0.0.1" and not s.auth_enabled
    assert s.effective_database_url.endswith("data/memory.db")


def test_refuses_to_listen_beyond_loopback_without_tokens():
    with pytest.raises(ConfigError, match="without tokens"):
        Settings.from_env({"SOMA_MEMORY_HOST": "0.0.0.0"})
    s = Settings.from_env({"SOMA_MEMORY_HOST": "0.0.0.0", "SOMA_MEMORY_TOKENS": "secret-token-1=ns:read"})
    assert s.tokens["secret-token-1"].namespace == "ns"


def test_tokens_from_file_and_short_form(tmp_path):
    f = tmp_path / "tokens.json"
    f.write_text(json.dumps({"file-token-123": {"namespace": "a", "scopes": ["read", "write"]}}))
    s = Settings.from_env({"SOMA_MEMORY_TOKENS_FILE": str(f), "SOMA_MEMORY_TOKENS": "ignored-token=x:read"})
    assert set(s.tokens) == {"file-token-123"} and s.tokens["file-token-123"].scopes == {"read", "write"}
    s = Settings.from_env({"SOMA_MEMORY_TOKENS": "tok-one-aaaa=a:read; tok-two-bbbb=b:admin"})
    assert s.tokens["tok-two-bbbb"].namespace == "b"


@pytest.mark.parametrize("env, fragment", [
    ({"SOMA_MEMORY_PORT": "http"}, "cannot parse"),
    ({"SOMA_MEMORY_DIM": "0"}, "DIM"),
    ({"SOMA_MEMORY_TOKENS": "short=a:read"}, "at least 8"),
    ({"SOMA_MEMORY_TOKENS": "long-enough-token=a:fly"}, "scopes"),
    ({"SOMA_MEMORY_TOKENS": "{not json"}, "JSON"),
    ({"SOMA_MEMORY_TOKENS_FILE": "/nonexistent/tokens.json"}, "cannot read"),
    ({"SOMA_MEMORY_DATABASE_URL": "mysql://x"}, "sqlite"),
    ({"SOMA_MEMORY_EMBEDDER": "magic"}, "EMBEDDER"),
])
def test_bad_configuration_is_refused_clearly(env, fragment):
    with pytest.raises(ConfigError, match=fragment):
        Settings.from_env(env)


def test_redacted_configuration_hides_secrets():
    s = Settings.from_env({"SOMA_MEMORY_DATABASE_URL": "postgresql+psycopg://app:hunter2@db/memory",
                           "SOMA_MEMORY_TOKENS": "very-secret-token=ns:read"})
    text = json.dumps(s.redacted())
    assert "hunter2" not in text and "very-secret-token" not in text and "ns:read" in text


def test_hashing_embedder_is_deterministic_and_normalised():
    e1, e2 = HashingEmbedder(384), HashingEmbedder(384)
    texts = ["the cat sat on the mat", "a cat sat on a mat", "quarterly tax filing deadline"]
    a, b = e1.embed(texts), e2.embed(texts)
    assert a.dtype == np.float32 and a.shape == (3, 384)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-6)
    assert a[0] @ a[1] > a[0] @ a[2]
    with pytest.raises(RequestInvalid):
        e1.embed_one("")
    # any non-empty text has a vector (the OpenAPI document promises so): without word
    # characters it takes one stable bucket of its own
    for text in ("   ", "!!!"):
        v = e1.embed_one(text)
        assert np.array_equal(v, e2.embed_one(text)) and np.isclose(np.linalg.norm(v), 1.0)


def test_every_setting_is_documented_in_the_configuration_table():
    import dataclasses
    import pathlib
    import re

    from memory.config import FIELDS, PREFIX
    names = {f.name.upper() for f in dataclasses.fields(Settings)} | {"TOKENS_FILE"}
    assert set(FIELDS) == names
    doc = (pathlib.Path(__file__).parents[2] / "docs" / "service.md").read_text()
    rows = set(re.findall(r"^\| `" + PREFIX + r"([A-Z_]+)` \|", doc, re.M))
    assert rows == names
