"""confluent-kafka clients built from settings; nothing is created at import time."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger("memory.events")


def producer_config(bootstrap: str, **extra) -> dict:
    return {
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,   # no duplicates from producer retries
        "acks": "all",
        "linger.ms": 5,
        "message.timeout.ms": 15000,  # undelivered after this: the outbox row stays unpublished
        "socket.connection.setup.timeout.ms": 3000,
        "reconnect.backoff.max.ms": 1000,
        **extra,
    }


def make_producer(bootstrap: str, **extra) -> Producer:
    return Producer(producer_config(bootstrap, **extra))


def ensure_topics(bootstrap: str, topics: list[str], partitions: int = 3, timeout: float = 10, *,
                  replication_factor: int = 1, **extra) -> None:
    """Create the topics if absent (idempotent). Raises KafkaException when the broker is down.

    `replication_factor` comes from the settings (the mode: 1 on one broker, else 3); `extra`
    carries the security options (memory/contract.py kafka_security)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 3000, **extra})
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = [NewTopic(t, num_partitions=partitions, replication_factor=replication_factor)
           for t in topics if t not in existing]
    if not new:
        return
    for topic, fut in admin.create_topics(new, request_timeout=timeout).items():
        try:
            fut.result(timeout=timeout)
            log.info("created topic %s", topic)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc) and "already exists" not in str(exc).lower():
                raise
