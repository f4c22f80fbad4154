"""A replica fed only by the event stream (`<ns>.events`), with a database of its own.

Each `memory.created|updated|deleted` CloudEvent carries the whole row (the vector as
`vector_b64`, little-endian float32, and the normalised importance the writer stored), so
the replica needs no access to the writer's database. `apply(event)` writes the row into
the replica's store AND the event into the replica's own outbox in one transaction; the
replica's MemoryService follows that outbox like any other writer's, so its index
converges through the same code path as a PostgreSQL replica. The event id is the outbox's
unique key: a redelivered event changes nothing (at-least-once from Kafka is safe).

    store = Store("sqlite:///replica.db"); store.migrate()
    replica = EventReplica(store)
    EventConsumer(Consumer(...), producer, "<ns>.events", replica.apply)   # memory/events/consumer.py
"""

from __future__ import annotations

import base64
import json
import time

import numpy as np
import sqlalchemy as sa

from memory.store import MemoryRow, Store
from memory.store.schema import outbox

APPLIED = ("memory.created", "memory.updated", "memory.deleted")


def row_from_event(event: dict) -> MemoryRow:
    data = event["data"]
    if "vector_b64" not in data:
        raise ValueError(f"event {event['id']} carries no vector (written by an older service)")
    vector = np.frombuffer(base64.b64decode(data["vector_b64"]), dtype="<f4")
    if vector.shape[0] != data["dim"]:
        raise ValueError(f"event {event['id']}: vector has {vector.shape[0]} values, dim says {data['dim']}")
    return MemoryRow(namespace=data["namespace"], id=data["id"], memory_type=data["memory_type"], vector=vector,
                     model=data["model"], importance=data["importance"], importance_norm=data["importance_norm"],
                     payload=data["payload"], created_at=data["created_at"], updated_at=time.time(),
                     coordinate=data.get("coordinate"), text=data.get("text"))


class EventReplica:
    def __init__(self, store: Store):
        self.store = store

    def apply(self, event: dict) -> bool:
        """Apply one event once; False for a duplicate or a type that changes no row."""
        if event["type"] not in APPLIED:
            return False
        namespace, memory_id = event.get("namespace") or "", event.get("subject") or ""
        row = row_from_event(event) if event["type"] != "memory.deleted" else None
        with self.store.transaction() as tx:
            if tx.conn.execute(sa.select(outbox.c.event_id).where(outbox.c.event_id == event["id"])).first():
                return False
            if row is None:
                tx.tombstone(namespace, [memory_id], time.time())
            else:
                found = tx.existing_created(namespace, [row.id])
                if row.id in found:
                    tx.update_memories([row])
                else:
                    tx.insert_memories([row])
            tx.add_events([{"event_id": event["id"], "namespace": namespace, "memory_id": memory_id,
                            "type": event["type"], "event": json.dumps(event, separators=(",", ":"))}])
        return True
