"""Outbox relay and consumer against the real Tansu broker and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
import uuid

import numpy as np
from confluent_kafka import Consumer, Producer

from memory.events import cloudevents, kafka
from memory.events.consumer import EventConsumer, consumer_config
from memory.events.relay import Relay
from memory.service import NewMemory
from memory.store import Store
from tests.service.conftest import drain_topic, vec


def _topic() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def _relay(store, broker, topic):
    return Relay(store, lambda: kafka.make_producer(broker.bootstrap), topic,
                 ensure_topic=lambda t: kafka.ensure_topics(broker.bootstrap, [t]))


def test_relay_publishes_cloudevents_keyed_by_id(make_running, pg_url, kafka_broker):
    app = make_running(pg_url)
    topic = _topic()
    app.service.write("ev", [NewMemory(vector=np.asarray(vec(i), np.float32), model="client",
                                       id=f"k{i}") for i in range(5)], upsert=True)
    app.service.link("ev", "k0", "k1", "related", 1.0)
    app.service.delete("ev", "k2")
    relay = _relay(app.store, kafka_broker, topic)
    assert relay.drain(30)
    assert app.store.outbox_lag() == (0, None)
    msgs = drain_topic(kafka_broker.bootstrap, topic, 7)
    events = [json.loads(m.value()) for m in msgs]
    assert sorted(e["type"] for e in events) == sorted(["memory.created"] * 5 + ["memory.linked", "memory.deleted"])
    for m, e in zip(msgs, events):
        assert m.key().decode() == e["subject"]
        assert e["specversion"] == "1.0" and e["source"] == "/somastack/memory/ev"
        cloudevents.parse(m.value())


def test_consumer_applies_once_and_dead_letters_poison(pg_url, kafka_broker):
    store = Store(pg_url)
    store.migrate()
    topic = _topic()
    kafka.ensure_topics(kafka_broker.bootstrap, [topic, topic + ".dlq"])
    good = json.loads(cloudevents.build("memory.created", "ns", "x1", {"id": "x1"}, time=time.time())["event"])
    p = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    p.produce(topic, key=b"x1", value=json.dumps(good).encode())
    p.produce(topic, key=b"x1", value=json.dumps(good).encode())      # redelivery: same event id
    p.produce(topic, key=b"bad", value=b"not a cloudevent")            # poison: undecodable
    failing = json.loads(cloudevents.build("memory.created", "ns", "boom", {}, time=time.time())["event"])
    p.produce(topic, key=b"boom", value=json.dumps(failing).encode())  # poison: apply always fails
    p.flush(10)

    attempts = {"boom": 0}

    def apply(event):
        if event["subject"] == "boom":
            attempts["boom"] += 1
            raise RuntimeError("handler cannot apply this event")
        return store.apply_event("g1", event)

    consumer = EventConsumer(Consumer(consumer_config(kafka_broker.bootstrap, f"g-{topic}")),
                             kafka.make_producer(kafka_broker.bootstrap), topic, apply,
                             max_attempts=3, backoff_s=0.01)
    consumer.consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while consumer.applied + consumer.duplicates + consumer.dead_lettered < 4 and time.monotonic() < deadline:
        consumer.run_once(0.5)
    consumer.consumer.close()
    assert (consumer.applied, consumer.duplicates, consumer.dead_lettered) == (1, 1, 2)
    assert attempts["boom"] == 3
    assert [e[0] for e in store.consumed()] == [good["id"]]
    dlq = drain_topic(kafka_broker.bootstrap, topic + ".dlq", 2)
    assert sorted(m.key() for m in dlq) == [b"bad", b"boom"]
    assert all(dict(m.headers())["source-topic"] == topic.encode() for m in dlq)
    store.close()


def test_per_namespace_topics_and_pattern_consumer(make_running, pg_url, kafka_broker):
    app = make_running(pg_url)
    prefix = f"ns{uuid.uuid4().hex[:6]}"
    template = prefix + ".{namespace}.events"
    for ns in ("n1", "n2"):
        app.service.write(ns, [NewMemory(vector=np.asarray(vec(1), np.float32), model="client", id=f"{ns}-m")],
                          upsert=True)
    relay = _relay(app.store, kafka_broker, template)
    assert relay.drain(30)
    for ns in ("n1", "n2"):
        [msg] = drain_topic(kafka_broker.bootstrap, f"{prefix}.{ns}.events", 1)
        assert json.loads(msg.value())["subject"] == f"{ns}-m"

    store = Store(pg_url)
    consumer = EventConsumer(Consumer(consumer_config(kafka_broker.bootstrap, f"g-{prefix}")),
                             kafka.make_producer(kafka_broker.bootstrap), template,
                             lambda e: store.apply_event("pattern", e))
    assert consumer.subscription() == "^" + prefix + r"\.[A-Za-z0-9_\-]+\.events$"
    stop = threading.Event()
    t = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    t.start()
    deadline = time.monotonic() + 40
    while consumer.applied < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert consumer.applied == 2
    # a namespace that appears while the consumer runs: its topic is created after the
    # subscription, and the running consumer still picks it up (metadata refresh)
    app.service.write("n3", [NewMemory(vector=np.asarray(vec(2), np.float32), model="client", id="n3-m")],
                      upsert=True)
    assert relay.drain(30)
    deadline = time.monotonic() + 40
    while consumer.applied < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    stop.set()
    t.join(20)
    assert consumer.applied == 3
    assert sorted(e[2] for e in store.consumed()) == ["n1-m", "n2-m", "n3-m"]
    store.close()
