"""A real memory service process for the client and MCP tests: `python -m memory serve` on a
free port, ready when /readyz says so, stopped with SIGTERM (then SIGKILL) by its fixture."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import httpx
import pytest
import sh

from tests.fixtures._net import free_port

DIM = 32
TOKENS = {
    "client-alpha-rw": {"namespace": "alpha", "scopes": ["read", "write"]},
    "client-alpha-ro": {"namespace": "alpha", "scopes": ["read"]},
    "client-alpha-admin": {"namespace": "alpha", "scopes": ["admin"]},
    "client-beta-rw": {"namespace": "beta", "scopes": ["read", "write"]},
}


def service_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")}
    env.update({"SOMA_MEMORY_DATABASE_URL": url, "SOMA_MEMORY_DIM": str(DIM),
                "SOMA_MEMORY_TOKENS": json.dumps(TOKENS), "SOMA_MEMORY_LOG_LEVEL": "WARNING"})
    env.update({f"SOMA_MEMORY_{k.upper()}": v for k, v in extra.items()})
    return env


class Server:
    def __init__(self, env: dict[str, str], log: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = sh.Command(sys.executable)("-m", "memory", "serve",
                                               _env={**env, "SOMA_MEMORY_PORT": str(self.port)},
                                               _bg=True, _bg_exc=False, _out=log, _err_to_out=True)
        # the first start on a machine compiles the kernels: minutes on a loaded 2-core box
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.proc.is_alive():
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"memory server did not become ready; log:\n{open(log).read()[-3000:]}")

    def stop(self) -> None:
        if self.proc.is_alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while self.proc.is_alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        if self.proc.is_alive():
            self.proc.kill()


def database_url(kind: str, tmp_path_factory, request) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('client-db') / 'memory.db'}"
    pg = request.getfixturevalue("postgres_server")
    name = f"client{os.urandom(4).hex()}"
    pg.create_database(name)
    return pg.url(name)


def migrated(url: str) -> str:
    from memory.store import Store
    store = Store(url)
    store.migrate()
    store.close()
    return url
