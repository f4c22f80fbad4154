"""CloudEvents 1.0, structured JSON mode, one per memory change, keyed by memory id."""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import uuid

TYPES = ("memory.created", "memory.updated", "memory.deleted", "memory.linked", "memory.evicted")
SOURCE = "/somastack/memory"


# strict JSON: NaN and Infinity are not JSON, so an event holding one is refused, never sent
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
encode = _encode  # public: the service encodes a batch's event data with the events' own rules


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


def build_many(event_types, namespace: str, memory_ids, data_json, *, time: float) -> list[dict]:
    """build() for a batch whose data is already JSON text (encoded and so checked by the
    caller): the envelope's shared part is encoded once and each event spliced from it,
    keys in build()'s order, so a consumer cannot tell the two apart."""
    if not set(event_types) <= set(TYPES):
        raise ValueError(f"unknown event type in {sorted(set(event_types) - set(TYPES))!r}")
    ids = os.urandom(16 * len(memory_ids)).hex()  # 128 random bits each, like uuid4().hex
    source = _encode(f"{SOURCE}/{namespace}")
    middle = (',"time":' + _encode(_rfc3339(time)) + ',"datacontenttype":"application/json","namespace":'
              + _encode(namespace) + ',"data":')
    out = []
    for i, (etype, mid, subject, data) in enumerate(zip(event_types, memory_ids, map(_encode, memory_ids),
                                                        data_json)):
        eid = ids[32 * i:32 * i + 32]
        out.append({"event_id": eid, "namespace": namespace, "memory_id": mid, "type": etype,
                    "event": f'{{"specversion":"1.0","id":"{eid}","source":{source},"type":"{etype}",'
                             f'"subject":{subject}{middle}{data}}}'})
    return out


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
