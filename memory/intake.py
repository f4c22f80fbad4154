"""From validated request items to vectors and NewMemory rows: embedding, vector decoding
(`vector`, `vector_b64`) and the checks that need the deployment (dim, text total, item
limits). The HTTP layer only parses; MemoryService calls this.

An item is anything with the request models' attributes (memory.api.schemas): `text`,
`vector`, `vector_b64`, and for a memory also `payload`, `memory_type`, `importance`,
`coordinate`, `id`, `created_at` (already epoch seconds).
"""

from __future__ import annotations

import base64
import binascii
from typing import Protocol, Sequence

import numpy as np

from memory.config import Settings
from memory.errors import RequestInvalid

_F32_MAX = float(np.finfo(np.float32).max)


class VectorOrText(Protocol):
    text: str | None
    vector: list[float] | None
    vector_b64: str | None


def at_most(items: Sequence, limit: int, what: str, unit: str) -> None:
    # a configured limit, so not in the schema: checked before anything is embedded or stored
    if len(items) > limit:
        raise RequestInvalid(f"{what} holds at most {limit} {unit}, got {len(items)}")


def text_total(items: Sequence, settings: Settings) -> None:
    """The text of one request, embedded or only stored, is bounded by one documented total."""
    total = sum(len(it.text) for it in items if it.text is not None)
    if total > settings.max_text_chars:
        raise RequestInvalid(f"the texts of one request hold at most {settings.max_text_chars} "
                             f"characters together, got {total}")


def vectors(items: Sequence[VectorOrText], settings: Settings, embedder) -> tuple[np.ndarray, list[str]]:
    """Vectors of request items (client vectors or embedded text), checked for the dim, and
    the model each came from. An item with a vector and a text keeps the vector; only
    text-only items are embedded."""
    dim = settings.dim
    out = np.empty((len(items), dim), dtype=np.float32)
    models = []
    text_total(items, settings)
    texts = [(i, it.text) for i, it in enumerate(items)
             if it.text is not None and it.vector is None and it.vector_b64 is None]
    if texts:
        embedded = embedder.embed([t for _, t in texts])
        for (i, _), vec in zip(texts, embedded):
            out[i] = vec
    for i, it in enumerate(items):
        if it.vector_b64 is not None:
            out[i] = decode_b64(i, it.vector_b64, dim)
            models.append("client")
        elif it.vector is not None:
            out[i] = client_vector(i, it.vector, dim)
            models.append("client")
        else:
            models.append(embedder.model_id)
    return out, models


def client_vector(i: int, values: list[float], dim: int) -> np.ndarray:
    """A JSON vector as float32. Only its direction counts (cosine), so one whose values
    overflow float32 (1e39) or vanish in it (1e-46) is stored scaled by its largest value:
    every finite vector that is not all zero is accepted, as the document says."""
    if len(values) != dim:
        raise RequestInvalid(f"item {i}: vector has {len(values)} dims, the service uses {dim}")
    vec = np.asarray(values, dtype=np.float64)
    peak = float(np.abs(vec).max())
    if peak == 0.0:
        raise RequestInvalid(f"item {i}: vector must not be all zero")
    with np.errstate(over="ignore"):
        as32 = vec.astype(np.float32)
    if peak > _F32_MAX or not as32.any() or not np.isfinite(as32).all():
        as32 = (vec / peak).astype(np.float32)
    return as32


def decode_b64(i: int, text: str, dim: int) -> np.ndarray:
    """base64 of `dim` little-endian float32 values: finite, not all zero."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RequestInvalid(f"item {i}: vector_b64 is not valid base64") from None
    if len(raw) != dim * 4:
        raise RequestInvalid(f"item {i}: vector_b64 holds {len(raw) / 4:g} float32 values, "
                             f"the service uses {dim} dims")
    vec = np.frombuffer(raw, dtype="<f4")
    if not np.isfinite(vec).all():
        raise RequestInvalid(f"item {i}: vector_b64 contains NaN or Inf")
    if not vec.any():
        raise RequestInvalid(f"item {i}: vector must be non-zero in float32")
    return vec
