"""POST /v1/memories/bulk/binary: the bulk store without JSON numbers or base64.

JSON and base64 were most of a bulk request's cost (docs/benchmarks.md), so this route takes
the vectors as one raw block. The body (Content-Type `application/vnd.somastack.bulk`):

    bytes 0..3     b"SMB1"                 magic and format version
    bytes 4..7     J, uint32 little-endian  length of the JSON part
    bytes 8..8+J   JSON, UTF-8              {"dim": D, "items": [{...}, ...]}
    the rest       n * D float32, little-endian, row-major: row i is items[i]'s vector

Each item takes what a JSON bulk item takes except a vector (`id`, `text`, `payload`,
`memory_type`, `importance`, `coordinate`, `created_at`), with the same rules; its vector is
its row of the block and its text is stored, not embedded. The body must be exactly that
long. The answer and the write are the JSON bulk route's: 201 `{count, ids}`, all or nothing,
upsert, one event per memory. Its body limit is BULK_MAX_BODY_BYTES, not MAX_BODY_BYTES.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from flask import Blueprint, current_app, g, request
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import UnsupportedMediaType

from memory.api import schemas as s
from memory import bulkformat, intake
from memory.api.auth import require
from memory.api.operations import answer as s_answer, operation
from memory.errors import RequestInvalid
from memory.service import Batch, MemoryService

bp = Blueprint("bulk_binary", __name__, url_prefix="/v1")

MEDIA_TYPE, MAGIC, _HEAD = bulkformat.MEDIA_TYPE, bulkformat.MAGIC, bulkformat.HEAD
encode, s_json = bulkformat.encode, bulkformat.json_bytes


class BinaryItem(BaseModel):
    """A bulk item of the binary format: a JSON bulk item without its vector, with the same
    rules. Validated entirely in pydantic-core (no Python validator per item): null is
    refused because no field's type admits it, a missing field takes its default."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
    id: s.MemoryId = Field(None, description="Default: a new random id")
    text: Annotated[str, Field(min_length=1, max_length=s.TEXT_MAX_CHARS)] = Field(
        None, description="The content, stored as given (never embedded: the block holds the vector)")
    payload: s.JsonObject = Field(default_factory=dict)
    memory_type: s.MemoryType = "episodic"
    importance: s.Finite = 1.0
    coordinate: Annotated[list[s.Finite], Field(max_length=64)] = None
    created_at: s.Timestamp = None


class BinaryHead(s._Strict):
    dim: Annotated[int, Field(strict=True, ge=1)]
    items: list[BinaryItem] = Field(min_length=1)


def decode(body: bytes, dim: int) -> tuple[BinaryHead, np.ndarray]:
    """The JSON part and the (n, dim) vector block; RequestInvalid names what is wrong."""
    if len(body) < _HEAD.size:
        raise RequestInvalid(f"a binary bulk body starts with {_HEAD.size} bytes: {MAGIC!r} and the "
                             "JSON part's length")
    magic, size = _HEAD.unpack_from(body)
    if magic != MAGIC:
        raise RequestInvalid(f"a binary bulk body starts with {MAGIC!r}, got {magic!r}")
    if _HEAD.size + size > len(body):
        raise RequestInvalid(f"the JSON part's length {size} runs past the body's end")
    # a ValidationError answers 400 with its errors, as the JSON routes' bodies do
    head = BinaryHead.model_validate_json(body[_HEAD.size:_HEAD.size + size])
    if head.dim != dim:
        raise RequestInvalid(f"the vectors have {head.dim} dims, the service uses {dim}")
    block = memoryview(body)[_HEAD.size + size:]
    want = len(head.items) * dim * 4
    if len(block) != want:
        raise RequestInvalid(f"{len(head.items)} items of {dim} float32 need a block of {want} bytes "
                             f"after the JSON part, got {len(block)}")
    nul = [n for n, it in enumerate(head.items) if it.text is not None and "\x00" in it.text]
    if nul:  # PostgreSQL text cannot hold U+0000: refused on every database alike
        raise RequestInvalid(f"item {nul[0]}: a memory's text must not contain U+0000 (NUL)")
    vectors = np.frombuffer(block, dtype="<f4").reshape(len(head.items), dim)
    bad = ~np.isfinite(vectors).all(axis=1)
    if bad.any():
        raise RequestInvalid(f"item {int(np.flatnonzero(bad)[0])}: the vector contains NaN or Inf")
    zero = ~vectors.any(axis=1)
    if zero.any():
        raise RequestInvalid(f"item {int(np.flatnonzero(zero)[0])}: vector must be non-zero in float32")
    return head, vectors


def read_body() -> tuple[BinaryHead, np.ndarray]:
    """The request's body in this format (415 for another type), under its own size limit."""
    settings = current_app.config["SERVICE"].settings
    if request.mimetype != MEDIA_TYPE:
        raise UnsupportedMediaType(f"send the body as {MEDIA_TYPE} (docs/service.md)")
    request.max_content_length = settings.bulk_max_body_bytes  # this route's own limit
    return decode(request.get_data(cache=False), settings.dim)


@bp.post("/memories/bulk/binary")
@require("write")
@operation("bulkStoreBinary",
           summary="Store up to {settings.bulk_max_items} memories, vectors as one raw float32 block "
                   "(all or nothing, upsert)",
           body_content=lambda settings, schema: {MEDIA_TYPE: {
               "schema": {"type": "string", "format": "binary", "maxLength": settings.bulk_max_body_bytes},
               # JSON Schema cannot describe the framing: the JSON part's schema beside it
               "x-json-part": schema(BinaryHead)}},
           description="Body: b'SMB1', the JSON part's length J (uint32 little-endian), J bytes of JSON "
                       "(BinaryHead: dim and the items without vectors), then n x dim float32 little-endian, "
                       "row i being items[i]'s vector, and nothing after. Body limit BULK_MAX_BODY_BYTES; "
                       "400 names what is wrong.",
           body_parser=read_body, responses={201: s_answer(s.BulkOut, "Stored")},
           errors=(400, 413, 415, 503))
def bulk_binary(body: tuple[BinaryHead, np.ndarray]):
    svc: MemoryService = current_app.config["SERVICE"]
    settings = svc.settings
    head, vectors = body
    items = head.items
    intake.at_most(items, settings.bulk_max_items, "a bulk request", "items")
    intake.text_total(items, settings)
    batch = Batch(vectors=vectors, ids=[it.id for it in items], models=["client"] * len(items),
                  memory_types=[it.memory_type for it in items], payloads=[it.payload for it in items],
                  importance=np.fromiter((it.importance for it in items), np.float64, count=len(items)),
                  coordinates=[it.coordinate for it in items],
                  created_at=[s.epoch(it.created_at) for it in items], texts=[it.text for it in items])
    ids, _ = svc.write_batch(g.principal.namespace, batch, upsert=True)
    return s.BulkOut(count=len(ids), ids=ids), 201
