"""Fault tests the issue requires: kill -9 during writes, broker outage, PostgreSQL outage."""

from __future__ import annotations

import os
import random
import signal
import sys
import threading
import time
import uuid

import pytest
import requests
import sh

from memory.events import kafka
from memory.events.consumer import EventConsumer, consumer_config
from memory.store import Store
from tests.fixtures._net import free_port
from tests.service.conftest import DIM, vec

pytestmark = pytest.mark.slow


def _start_server(env: dict, port: int, log: str):
    proc = sh.Command(sys.executable)("-m", "memory", "serve", _env=env, _bg=True, _bg_exc=False,
                                      _out=log, _err_to_out=True)
    deadline = time.monotonic() + 180  # a first start compiles the kernels before it is ready
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except requests.RequestException:
            pass
        if not proc.is_alive():
            break
        time.sleep(0.05)
    pytest.fail(f"memory server did not become ready; log:\n{open(log).read()[-3000:]}")


@pytest.fixture(params=["sqlite", "postgresql"])
def kill_db_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kill.db'}"
    server = request.getfixturevalue("postgres_server")
    name = f"kill{uuid.uuid4().hex[:6]}"
    server.create_database(name)
    return server.url(name)


def test_kill_9_during_writes_loses_no_acknowledged_write(tmp_path, kill_db_url):
    """10 cycles: write from two threads, SIGKILL the server mid-loop, restart, check every
    acknowledged id (and the index) after the restart."""
    Store(kill_db_url).migrate()
    port = free_port()
    env = {**os.environ, "SOMA_MEMORY_DATABASE_URL": kill_db_url, "SOMA_MEMORY_PORT": str(port),
           "SOMA_MEMORY_DIM": str(DIM), "SOMA_MEMORY_LOG_LEVEL": "WARNING"}
    base = f"http://127.0.0.1:{port}"
    acked: list[str] = []
    rng = random.Random(7)
    log = str(tmp_path / "server.log")
    for cycle in range(10):
        proc = _start_server(env, port, log)
        # everything acknowledged in earlier cycles survived the kill
        with requests.Session() as s:
            missing = [i for i in acked if s.get(f"{base}/v1/memories/{i}", timeout=5).status_code != 200]
        assert missing == [], f"cycle {cycle}: lost {len(missing)} acknowledged writes"
        assert requests.get(f"{base}/v1/stats", timeout=5).json()["indexed"] >= len(acked)

        stop = threading.Event()

        def writer(tag: str):
            with requests.Session() as s:
                n = 0
                while not stop.is_set():
                    mid = f"c{cycle}-{tag}-{n}"
                    n += 1
                    try:
                        r = s.post(f"{base}/v1/memories", json={"vector": vec(n), "id": mid}, timeout=5)
                    except requests.RequestException:
                        return  # the server died mid-request: not acknowledged
                    if r.status_code == 201:
                        acked.append(mid)

        threads = [threading.Thread(target=writer, args=(t,)) for t in "ab"]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.2, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        stop.set()
        for t in threads:
            t.join(10)
        try:
            proc.wait()
        except (sh.ErrorReturnCode, sh.SignalException):
            pass
    proc = _start_server(env, port, log)
    try:
        with requests.Session() as s:
            missing = [i for i in acked if s.get(f"{base}/v1/memories/{i}", timeout=5).status_code != 200]
        assert len(acked) > 50 and missing == []
    finally:
        os.kill(proc.pid, signal.SIGKILL)


def test_broker_outage_loses_no_event_and_consumer_applies_once(make_running, postgres_server, pg_url,
                                                              kafka_broker):
    """Writes succeed while the broker is down; the outbox drains when it returns; the
    consumer applies every event exactly once (by event id)."""
    from memory.events.relay import Relay
    topic = f"outage-{uuid.uuid4().hex[:6]}"
    app = make_running(pg_url)
    relay = Relay(app.store, lambda: kafka.make_producer(kafka_broker.bootstrap, **{"message.timeout.ms": 4000}),
                  topic, ensure_topic=lambda t: kafka.ensure_topics(kafka_broker.bootstrap, [t]))
    sink_name = f"sink{uuid.uuid4().hex[:6]}"
    postgres_server.create_database(sink_name)
    sink = Store(postgres_server.url(sink_name))
    sink.migrate()
    stop = threading.Event()
    relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    relay_thread.start()

    def make_consumer():
        from confluent_kafka import Consumer
        return EventConsumer(Consumer(consumer_config(kafka_broker.bootstrap, f"g-{topic}")),
                             kafka.make_producer(kafka_broker.bootstrap), topic,
                             lambda e: sink.apply_event("sink", e), max_attempts=3)

    consumer = make_consumer()
    consumer_thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    consumer_thread.start()
    errors = 0

    def write(prefix: str, n: int) -> None:
        nonlocal errors
        for i in range(n):
            r = app.client.post("/v1/memories", json={"vector": vec(i), "id": f"{prefix}{i}"})
            errors += r.status_code != 201
    try:
        write("before", 20)
        _wait(lambda: len(sink.consumed()) >= 20, 40, "consumer to apply the first events")
        kafka_broker.stop()
        write("during", 40)                      # broker down: writes must still succeed
        app.client.delete("/v1/memories/before3")
        assert errors == 0
        assert app.store.outbox_lag()[0] >= 41
        stop.set()                               # the old consumer's group died with the broker
        consumer_thread.join(20)
        relay_thread.join(20)
        assert not relay_thread.is_alive() and not consumer_thread.is_alive()
        kafka_broker.start()
        stop.clear()
        consumer2 = make_consumer()
        consumer_thread = threading.Thread(target=consumer2.run, args=(stop,), daemon=True)
        consumer_thread.start()
        relay_thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
        relay_thread.start()
        _wait(lambda: app.store.outbox_lag()[0] == 0, 60, "the outbox backlog to drain")
        _wait(lambda: len(sink.consumed()) >= 61, 60, "the consumer to apply the backlog")
        applied = sink.consumed()
        with app.store.engine.connect() as conn:
            import sqlalchemy as sa
            produced = {r[0] for r in conn.execute(sa.text("select event_id from outbox"))}
        ids = [e[0] for e in applied]
        assert len(ids) == len(set(ids)) == 61 and set(ids) == produced
        assert sorted(e[2] for e in applied if e[1] == "memory.deleted") == ["before3"]
    finally:
        stop.set()
        if not kafka_broker.running:
            kafka_broker.start()
        sink.close()


def _wait(cond, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def test_postgres_outage_answers_503_then_recovers(make_running, postgres_server, pg_url):
    app = make_running(pg_url)
    c = app.client
    acked = []
    for i in range(10):
        r = c.post("/v1/memories", json={"vector": vec(i), "id": f"pg{i}"})
        assert r.status_code == 201
        acked.append(f"pg{i}")
    postgres_server.stop()
    try:
        r = c.post("/v1/memories", json={"vector": vec(99), "id": "during"})
        assert r.status_code == 503 and r.mimetype == "application/problem+json"
        assert r.headers["Retry-After"] == "1"
        assert c.get("/v1/memories/pg1").status_code == 503
        assert c.delete("/v1/memories/pg1").status_code == 503
        assert c.get("/readyz").status_code == 503
        assert c.get("/healthz").status_code == 200
        # every other route that needs the database: a known outage is 503, never 500
        needs_db = {
            "PUT": c.put("/v1/memories/during-put", json={"vector": vec(98)}),
            "bulk": c.post("/v1/memories/bulk", json={"items": [{"vector": vec(97), "id": "during-bulk"}]}),
            "link": c.post("/v1/links", json={"from": "pg1", "to": "pg2"}),
            "links": c.get("/v1/memories/pg1/links"),
            "path": c.get("/v1/paths?from=pg1&to=pg2"),
            "stats": c.get("/v1/stats"),
            "scoped delete": c.delete("/v1/memories?memory_type=episodic"),
        }
        assert {k: r.status_code for k, r in needs_db.items()} == {k: 503 for k in needs_db}
        assert all(r.mimetype == "application/problem+json" for r in needs_db.values())
        assert c.post("/v1/recall", json={"vector": vec(3), "k": 1}).get_json()["results"][0]["id"] == "pg3"
    finally:
        postgres_server.start()
    _wait(lambda: c.get("/readyz").status_code == 200, 30, "readiness after the restart")
    r = c.post("/v1/memories", json={"vector": vec(50), "id": "after"})
    assert r.status_code == 201
    for mid in acked + ["after"]:
        assert c.get(f"/v1/memories/{mid}").status_code == 200
    for mid in ("during", "during-put", "during-bulk"):
        assert c.get(f"/v1/memories/{mid}").status_code == 404
    assert c.get("/v1/memories/pg1/links").get_json() == {"links": []}
