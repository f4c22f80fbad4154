"""CloudEvents 1.0, structured JSON mode, one per memory change, keyed by memory id."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid

TYPES = ("memory.created", "memory.updated", "memory.deleted", "memory.linked", "memory.evicted")
SOURCE = "/somastack/memory"


# strict JSON: NaN and Infinity are not JSON, so an event holding one is refused, never sent
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def check_data(data: dict) -> None:
    """Raise ValueError when `data` cannot be an event's JSON (checked before a write commits)."""
    _encode(data)


@functools.lru_cache(maxsize=64)
def _rfc3339(time: float) -> str:
    # a batch shares one timestamp: format it once
    return dt.datetime.fromtimestamp(time, dt.timezone.utc).isoformat().replace("+00:00", "Z")


def build(event_type: str, namespace: str, memory_id: str, data: dict, *, time: float) -> dict:
    """An outbox row: the event JSON plus the columns the relay and followers index on."""
    if event_type not in TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    event_id = uuid.uuid4().hex
    event = {
        "specversion": "1.0",
        "id": event_id,
        "source": f"{SOURCE}/{namespace}",
        "type": event_type,
        "subject": memory_id,
        "time": _rfc3339(time),
        "datacontenttype": "application/json",
        "namespace": namespace,  # extension attribute: lower-case alphanumerics, per the spec
        "data": data,
    }
    return {"event_id": event_id, "namespace": namespace, "memory_id": memory_id,
            "type": event_type, "event": _encode(event)}


REQUIRED = ("specversion", "id", "source", "type")


def parse(raw: bytes | str) -> dict:
    """Decode and check a structured CloudEvent; ValueError names what is wrong."""
    try:
        event = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(event, dict):
        raise ValueError("a CloudEvent must be a JSON object")
    missing = [k for k in REQUIRED if not event.get(k)]
    if missing:
        raise ValueError(f"CloudEvent lacks {', '.join(missing)}")
    if event["specversion"] != "1.0":
        raise ValueError(f"unsupported specversion {event['specversion']!r}")
    if event["type"] not in TYPES:
        raise ValueError(f"unknown event type {event['type']!r}")
    return event
