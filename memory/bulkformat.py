"""The binary bulk body (POST /v1/memories/bulk/binary), as the client writes it and the
service reads it (docs/service.md): b"SMB1", the JSON part's length (uint32 little-endian),
the JSON part {"dim": D, "items": [...]}, then n x D float32 little-endian, row i being
items[i]'s vector. No Flask here: the client imports it."""

from __future__ import annotations

import json
import struct

import numpy as np

MEDIA_TYPE = "application/vnd.somastack.bulk"
MAGIC = b"SMB1"
HEAD = struct.Struct("<4sI")


def json_bytes(value) -> bytes:
    return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()


def encode(items: list[dict], vectors) -> bytes:
    """A body of this format: items as JSON dicts (no vectors), one vector row each."""
    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    if vectors.ndim != 2 or vectors.shape[0] != len(items):
        raise ValueError(f"need one vector row per item: {len(items)} items, vectors of shape {vectors.shape}")
    head = json_bytes({"dim": int(vectors.shape[1]), "items": items})
    return HEAD.pack(MAGIC, len(head)) + head + vectors.tobytes()
