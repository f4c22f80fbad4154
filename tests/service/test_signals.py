"""`inv memory.serve|relay|consume` forward SIGTERM/SIGINT to their child and exit with its
code: after the signal nothing listens on the port and no child is left behind."""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import sys
import time
import uuid

import httpx
import pytest
import sh

from memory.store import Store
from tests.fixtures._net import free_port

ROOT = pathlib.Path(__file__).parents[2]


def _inv(*args: str, env: dict, log: pathlib.Path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")}
    inv = sh.Command(str(pathlib.Path(sys.executable).with_name("inv")))
    return inv(*args, _cwd=str(ROOT), _env={**base, **env}, _bg=True, _bg_exc=False, _out=str(log),
               _err_to_out=True)


def _children(pid: int) -> list[int]:
    out = []
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        out += [int(x) for x in (task / "children").read_text().split()]
    return out


def _gone(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except FileNotFoundError:
        return True
    return state == "Z"  # a zombie waits only for its reaper; it runs nothing


def _exit_code(proc, timeout: float = 30) -> int:
    try:
        proc.wait(timeout=timeout)
    except sh.ErrorReturnCode as exc:
        return exc.exit_code
    return 0


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait_ready(port: int, proc, log: pathlib.Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.is_alive():
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    pytest.fail(f"inv memory.serve did not become ready; log:\n{log.read_text()[-3000:]}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_inv_memory_serve_stops_the_server(tmp_path, sig):
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _inv("memory.serve", "--port", str(port), env={"SOMA_MEMORY_DATA_DIR": str(tmp_path / "data"),
                                                          "SOMA_MEMORY_DIM": "16"}, log=log)
    try:
        _wait_ready(port, proc, log)
        children = _children(proc.pid)
        assert children, "inv runs the server as a child process"
        os.kill(proc.pid, sig)  # to inv only, as a supervisor would
        assert _exit_code(proc) == 0, log.read_text()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (_listening(port) or not all(map(_gone, children))):
            time.sleep(0.1)
        assert not _listening(port), "the server still listens after inv exited"
        assert all(map(_gone, children)), "the server process outlived inv"
        assert "Traceback" not in log.read_text()
    finally:
        if proc.is_alive():
            proc.kill()


def test_inv_exits_with_the_childs_code_when_the_child_is_killed(tmp_path):
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _inv("memory.serve", "--port", str(port), env={"SOMA_MEMORY_DATA_DIR": str(tmp_path / "data"),
                                                          "SOMA_MEMORY_DIM": "16"}, log=log)
    try:
        _wait_ready(port, proc, log)
        [child] = _children(proc.pid)
        os.kill(child, signal.SIGKILL)
        assert _exit_code(proc) == 128 + signal.SIGKILL
    finally:
        if proc.is_alive():
            proc.kill()


def test_sigterm_to_inv_memory_relay_and_consume_ends_both_cleanly(tmp_path, pg_url, kafka_broker):
    Store(pg_url).migrate()
    topic = f"sig-{uuid.uuid4().hex[:6]}"
    env = {"SOMA_MEMORY_DATABASE_URL": pg_url, "SOMA_MEMORY_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
           "SOMA_MEMORY_TOPIC": topic, "SOMA_MEMORY_CONSUMER_GROUP": f"g-{topic}"}
    procs = {name: _inv(f"memory.{name}", env=env, log=tmp_path / f"{name}.log") for name in ("relay", "consume")}
    try:
        deadline = time.monotonic() + 60
        markers = {"relay": "relay publishing", "consume": "consuming"}
        while time.monotonic() < deadline and not all(
                markers[n] in (tmp_path / f"{n}.log").read_text() for n in procs):
            time.sleep(0.2)
        children = {n: _children(p.pid) for n, p in procs.items()}
        for name, proc in procs.items():
            assert markers[name] in (tmp_path / f"{name}.log").read_text(), (tmp_path / f"{name}.log").read_text()
            os.kill(proc.pid, signal.SIGTERM)
        for name, proc in procs.items():
            assert _exit_code(proc) == 0, (tmp_path / f"{name}.log").read_text()
            assert all(map(_gone, children[name]))
    finally:
        for proc in procs.values():
            if proc.is_alive():
                proc.kill()


def test_inv_memory_consume_exits_with_the_childs_code_after_the_broker_deadline(tmp_path):
    url = f"sqlite:///{tmp_path / 'c.db'}"
    Store(url).migrate()
    log = tmp_path / "consume.log"
    proc = _inv("memory.consume", env={"SOMA_MEMORY_DATABASE_URL": url, "SOMA_MEMORY_BROKER_WAIT_S": "2",
                                       "SOMA_MEMORY_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}, log=log)
    assert _exit_code(proc, 60) == 1
    last = log.read_text().strip().splitlines()[-1]
    assert last.startswith("memory: no Kafka broker answered at 127.0.0.1:") and "within 2 s" in last
