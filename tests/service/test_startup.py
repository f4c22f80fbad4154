"""What the process says and refuses at start: redacted configuration, no-auth warning,
no listener beyond loopback without tokens."""

from __future__ import annotations

import io
import json
import logging

from memory import runtime
from memory.api.logs import JsonFormatter
from memory.config import Settings
from tests.service.conftest import memory_cli


def _announced(settings: Settings) -> list[dict]:
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("memory.runtime")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        runtime.announce(settings)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return [json.loads(line) for line in buf.getvalue().splitlines()]


def test_start_logs_the_redacted_configuration_without_secrets():
    settings = Settings.from_env({
        "SOMA_MEMORY_DATABASE_URL": "postgresql+psycopg://app:hunter2@db.internal/memory",
        "SOMA_MEMORY_TOKENS": "start-secret-token=sa01:read,write", "SOMA_MEMORY_HOST": "0.0.0.0"})
    lines = _announced(settings)
    text = json.dumps(lines)
    assert "hunter2" not in text and "start-secret-token" not in text
    [config] = [x["config"] for x in lines if x["msg"] == "effective configuration"]
    assert config["tokens"] == ["sa01:read,write"]
    assert config["database_url"] == "postgresql+psycopg://app:***@db.internal/memory"
    assert config["host"] == "0.0.0.0" and config["rate_limit"] == settings.rate_limit
    assert not any("WITHOUT authentication" in x["msg"] for x in lines)


def test_start_without_tokens_says_it_serves_one_namespace_unauthenticated(tmp_path):
    lines = _announced(Settings.from_env({"SOMA_MEMORY_DATA_DIR": str(tmp_path)}))
    [warning] = [x for x in lines if x["level"] == "WARNING"]
    assert "WITHOUT authentication" in warning["msg"] and "'default'" in warning["msg"]
    assert "loopback only" in warning["msg"]


def test_serve_refuses_a_public_listener_without_tokens(tmp_path):
    out = memory_cli({"SOMA_MEMORY_HOST": "0.0.0.0", "SOMA_MEMORY_DATA_DIR": str(tmp_path)}, "serve")
    assert out.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without tokens" in out.stderr.decode()
    # refused before anything was created
    assert list(tmp_path.iterdir()) == []
