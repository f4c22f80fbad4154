"""`create_app()` with no arguments builds the app from SOMA_MEMORY_*: the Flask CLI,
gunicorn and waitress-serve load it as any Flask app, store and recall, and stop on a signal."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys
import time

import httpx
import pytest
import sh

from memory.config import Settings
from tests.fixtures._net import free_port
from tests.service.conftest import DIM, vec

BIN = pathlib.Path(sys.executable).parent
TOKEN = "wsgi-token-rw-1"


def _servers(port: int) -> dict[str, list[str]]:
    return {
        "flask": [str(BIN / "flask"), "--app", "memory.api", "run", "--port", str(port), "--no-reload"],
        "gunicorn": [str(BIN / "gunicorn"), "memory.api:create_app()", "--bind", f"127.0.0.1:{port}",
                     "--workers", "1", "--threads", "4"],
        "waitress": [str(BIN / "waitress-serve"), "--listen", f"127.0.0.1:{port}", "--call",
                     "memory.api:create_app"],
    }


@pytest.mark.parametrize("server", ["flask", "gunicorn", "waitress"])
def test_wsgi_servers_load_the_factory_from_the_environment(server, tmp_path, pg_url):
    from memory.store import Store
    Store(pg_url).migrate()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")}
    env.update({"SOMA_MEMORY_DATABASE_URL": pg_url, "SOMA_MEMORY_DIM": str(DIM),
                "SOMA_MEMORY_TOKENS": json.dumps({TOKEN: {"namespace": "wsgi", "scopes": ["read", "write"]}})})
    log = tmp_path / f"{server}.log"
    cmd, *args = _servers(port)[server]
    proc = sh.Command(cmd)(*args, _env=env, _bg=True, _bg_exc=False, _out=str(log), _err_to_out=True)
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.is_alive():
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"{server} did not serve the app; log:\n{log.read_text()[-3000:]}")
        r = httpx.post(base + "/v1/memories", json={"vector": vec(1), "id": f"{server}-1"}, headers=headers)
        assert r.status_code == 201, r.text
        assert httpx.post(base + "/v1/memories", json={"vector": vec(1)}).status_code == 401  # tokens from env
        hits = httpx.post(base + "/v1/recall", json={"vector": vec(1), "k": 1}, headers=headers).json()["results"]
        assert hits[0]["id"] == f"{server}-1"
        assert "effective configuration" in log.read_text()  # the factory configured the JSON logs
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except sh.ErrorReturnCode:
            pass  # the exit code on SIGTERM is each server's own business; stopping is ours
        assert not proc.is_alive()
    finally:
        if proc.is_alive():
            proc.kill()


def test_factory_without_arguments_uses_the_embedded_default(tmp_path):
    """No database configured: the factory migrates its own SQLite file, like serve."""
    out = sh.Command(sys.executable)(
        "-c", "from memory.api import create_app; app = create_app(); "
              "c = app.test_client(); print(c.get('/readyz').status_code, "
              "c.post('/v1/memories', json={'text': 'hello'}).status_code)",
        _env={**{k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")},
              "SOMA_MEMORY_DATA_DIR": str(tmp_path)}, _return_cmd=True, _timeout=120)
    assert out.stdout.decode().split() == ["200", "201"]
    assert (tmp_path / "memory.db").exists()


def test_factory_refuses_bad_configuration_with_the_config_error():
    from memory.api import create_app
    from memory.errors import ConfigError
    with pytest.raises(ConfigError):
        create_app(Settings(dim=0))
    with pytest.raises(TypeError):
        create_app(service=object())
