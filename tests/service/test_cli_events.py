"""`python -m memory serve` with a broker relays in-process; `python -m memory consume` applies."""

from __future__ import annotations

import os
import signal
import sys
import time
import uuid

import requests
import sh

from memory.store import Store
from tests.fixtures._net import free_port
from tests.service.conftest import DIM, vec
from tests.service.test_faults import _start_server, _wait


def test_serve_relays_and_consume_applies(tmp_path, pg_url, postgres_server, kafka_broker):
    Store(pg_url).migrate()
    sink_name = f"clisink{uuid.uuid4().hex[:6]}"
    postgres_server.create_database(sink_name)
    sink_url = postgres_server.url(sink_name)
    Store(sink_url).migrate()
    topic = f"cli-{uuid.uuid4().hex[:6]}"
    port = free_port()
    base_env = {**os.environ, "SOMA_MEMORY_DIM": str(DIM), "SOMA_MEMORY_TOPIC": topic,
                "SOMA_MEMORY_KAFKA_BOOTSTRAP": kafka_broker.bootstrap, "SOMA_MEMORY_LOG_LEVEL": "WARNING"}
    server = _start_server({**base_env, "SOMA_MEMORY_DATABASE_URL": pg_url, "SOMA_MEMORY_PORT": str(port)},
                           port, str(tmp_path / "serve.log"))
    consumer = sh.Command(sys.executable)("-m", "memory", "consume",
                                          _env={**base_env, "SOMA_MEMORY_DATABASE_URL": sink_url,
                                                "SOMA_MEMORY_CONSUMER_GROUP": f"g-{topic}"},
                                          _bg=True, _bg_exc=False, _out=str(tmp_path / "consume.log"),
                                          _err_to_out=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for i in range(5):
            assert requests.post(f"{base}/v1/memories", json={"vector": vec(i), "id": f"cli{i}"},
                                 timeout=10).status_code == 201
        store = Store(pg_url)
        _wait(lambda: store.outbox_lag()[0] == 0, 30, "the in-process relay to publish")
        sink = Store(sink_url)
        _wait(lambda: len(sink.consumed()) == 5, 40, "`python -m memory consume` to apply the events")
        assert sorted(e[2] for e in sink.consumed()) == [f"cli{i}" for i in range(5)]
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert "memory_outbox_pending 0.0" in metrics
    finally:
        for proc in (server, consumer):
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.2)
        for proc in (server, consumer):
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGKILL)
