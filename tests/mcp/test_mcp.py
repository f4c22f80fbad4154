"""The MCP server through the SDK's own ClientSession: stdio (python -m memory mcp and
inv memory.mcp) and streamable HTTP, in-process and against a running service, with the
service's tenancy (the token's namespace) on real SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sys
import time
import uuid

import anyio
import httpx
import httpx2
import pytest
import sh
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from memory.client import MemoryClient
from memory.store import Store
from tests.client.server import Server, database_url, migrated, service_env
from tests.fixtures._net import free_port

ROOT = pathlib.Path(__file__).parents[2]
RW, BETA = "client-alpha-rw", "client-beta-rw"


def _data(result) -> object:
    """A tool's structured result (a list comes wrapped as {"result": [...]})."""
    assert not result.is_error, result.content
    data = result.structured_content
    return data["result"] if isinstance(data, dict) and set(data) == {"result"} else data


async def _exercise(session: ClientSession, text: str) -> dict:
    """remember, recall, forget through one session; the remembered memory."""
    await session.initialize()
    tools = {t.name: t for t in (await session.list_tools()).tools}
    assert set(tools) == {"remember", "recall", "forget", "list_memories"}
    assert "text" in tools["remember"].input_schema["properties"]
    memory = _data(await session.call_tool("remember", {"text": text, "payload": {"via": "mcp"}}))
    assert memory["namespace"] == "alpha" and memory["payload"] == {"via": "mcp"}
    assert memory["text"] == text
    hits = _data(await session.call_tool("recall", {"query": text, "k": 3}))
    assert hits[0]["id"] == memory["id"] and hits[0]["score"] > 0 and hits[0]["text"] == text
    page = _data(await session.call_tool("list_memories", {"limit": 50, "payload": {"via": "mcp"}}))
    assert memory["id"] in {m["id"]: m for m in page["memories"]}
    assert {m["id"]: m for m in page["memories"]}[memory["id"]]["text"] == text
    first = _data(await session.call_tool("list_memories", {"limit": 1}))
    assert len(first["memories"]) == 1 and first["memories"][0]["id"] == memory["id"]  # newest first
    bad = await session.call_tool("recall", {"query": text, "k": 0})
    assert bad.is_error and "400" in bad.content[0].text
    return memory


def _stdio(env: dict, command: str = sys.executable, args=("-m", "memory", "mcp")) -> StdioServerParameters:
    return StdioServerParameters(command=command, args=list(args), env=env, cwd=str(ROOT))


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_stdio_in_process_acts_in_the_tokens_namespace(kind, tmp_path_factory, request):
    url = migrated(database_url(kind, tmp_path_factory, request))
    env = {**service_env(url), "SOMA_MEMORY_MCP_TOKEN": RW}
    text = f"stdio memory {uuid.uuid4().hex}"

    async def flow():
        async with stdio_client(_stdio(env)) as (read, write), ClientSession(read, write) as session:
            memory = await _exercise(session, text)
            store = Store(url)
            try:
                assert store.get("alpha", memory["id"]) is not None  # stored in the token's namespace
                assert store.get("beta", memory["id"]) is None
                forgotten = _data(await session.call_tool("forget", {"id": memory["id"]}))
                assert forgotten == {"id": memory["id"], "forgotten": True}
                assert store.get("alpha", memory["id"]) is None
            finally:
                store.close()
    anyio.run(flow)


def test_stdio_without_a_valid_token_is_refused_by_the_service(tmp_path_factory, request):
    url = migrated(database_url("sqlite", tmp_path_factory, request))

    async def flow():
        async with stdio_client(_stdio(service_env(url))) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            refused = await session.call_tool("remember", {"text": "no token"})
            assert refused.is_error and "401" in refused.content[0].text
    anyio.run(flow)
    assert Store(url).counts("alpha") == {}


def test_inv_memory_mcp_serves_stdio_against_a_running_service(tmp_path_factory, request):
    """`inv memory.mcp --url`: the tools call the running service; the task passes stdio through."""
    url = migrated(database_url("sqlite", tmp_path_factory, request))
    server = Server(service_env(url), str(tmp_path_factory.mktemp("mcp-log") / "serve.log"))
    inv = str(pathlib.Path(sys.executable).with_name("inv"))
    env = {"SOMA_MEMORY_MCP_TOKEN": RW, "SOMA_MEMORY_LOG_LEVEL": "WARNING"}
    text = f"through inv {uuid.uuid4().hex}"
    try:
        async def flow():
            params = _stdio(env, inv, ("memory.mcp", "--url", server.url))
            async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
                return await _exercise(session, text)
        memory = anyio.run(flow)
        with MemoryClient(server.url, RW) as client:  # the same service holds it
            assert client.get(memory["id"]).payload == {"via": "mcp"}
    finally:
        server.stop()


def _start_http_mcp(env: dict, log: pathlib.Path, port: int):
    proc = sh.Command(sys.executable)("-m", "memory", "mcp", "--transport", "http", "--port", str(port),
                                      _env=env, _bg=True, _bg_exc=False, _out=str(log), _err_to_out=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.is_alive():
        try:
            httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill() if proc.is_alive() else None
    pytest.fail(f"MCP HTTP server did not start; log:\n{log.read_text()[-3000:]}")


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_streamable_http_maps_each_callers_token_to_its_namespace(kind, tmp_path_factory, request):
    url = migrated(database_url(kind, tmp_path_factory, request))
    port = free_port()
    log = tmp_path_factory.mktemp("mcp-http") / "mcp.log"
    proc = _start_http_mcp(service_env(url), log, port)
    endpoint = f"http://127.0.0.1:{port}/mcp"
    text = f"over http {uuid.uuid4().hex}"

    async def session_as(token: str | None, body):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            async with streamable_http_client(endpoint, http_client=http) as (read, write, *_):
                async with ClientSession(read, write) as session:
                    return await body(session)

    async def beta_view(session):
        await session.initialize()
        return _data(await session.call_tool("recall", {"query": text, "k": 10}))

    async def anonymous(session):
        await session.initialize()
        return await session.call_tool("recall", {"query": text})

    try:
        memory = anyio.run(session_as, RW, lambda s: _exercise(s, text))
        assert memory["id"] not in {h["id"] for h in anyio.run(session_as, BETA, beta_view)}
        refused = anyio.run(session_as, None, anonymous)
        assert refused.is_error and "401" in refused.content[0].text
        store = Store(url)
        assert store.get("alpha", memory["id"]) is not None
        store.close()
    finally:
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except sh.ErrorReturnCode:
                pass
        if proc.is_alive():
            proc.kill()
    assert not proc.is_alive()
    json.dumps(memory)  # the tool's answer is plain JSON
