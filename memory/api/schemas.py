"""Request and response models. The same models validate requests and produce the OpenAPI
document (openapi.py), so the document cannot drift from the behaviour.

Unknown fields, NaN and Inf are refused (400); vectors must have the service's dimension,
which is checked where the dimension is known (views) and stated in the document.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"
MemoryId = Annotated[str, Field(pattern=ID_PATTERN, description="1-128 chars: letters, digits, . _ : -")]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Timestamp = Union[Annotated[float, Field(allow_inf_nan=False, ge=0, le=32503680000)], dt.datetime]
MemoryType = Literal["episodic", "semantic"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def epoch(value: Timestamp | None) -> float | None:
    """A request timestamp (epoch seconds or RFC 3339) as epoch seconds."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value.timestamp()
    return float(value)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


class _VectorOrText(_Strict):
    vector: list[Finite] | None = Field(None, description="Embedding of the service's dimension")
    vector_b64: Annotated[str, Field(max_length=1_000_000)] | None = Field(
        None, description="The embedding as base64 of little-endian float32 (dim * 4 bytes); "
                          "far cheaper to send and parse than a JSON array")
    text: Annotated[str, Field(min_length=1, max_length=100_000)] | None = Field(
        None, description="Text to embed with the service's embedder")

    @model_validator(mode="after")
    def _one_of(self):
        given = sum(x is not None for x in (self.vector, self.vector_b64, self.text))
        if given != 1:
            raise ValueError("give exactly one of 'vector', 'vector_b64' or 'text'")
        return self


class MemoryIn(_VectorOrText):
    payload: dict[str, Any] = Field(default_factory=dict)
    memory_type: MemoryType = "episodic"
    importance: Finite = Field(1.0, description="Raw importance on any scale; normalised once")
    coordinate: list[Finite] | None = Field(None, max_length=64)
    id: MemoryId | None = None
    created_at: Timestamp | None = Field(None, description="Epoch seconds or RFC 3339; default now")


class BulkIn(_Strict):
    items: list[MemoryIn] = Field(min_length=1)


class CreatedRange(_Strict):
    gte: Timestamp | None = None
    lte: Timestamp | None = None


class Filters(_Strict):
    payload: dict[str, Any] | None = Field(None, description="Equality on top-level payload keys")
    created_at: CreatedRange | None = None


class _RecallOptions(_Strict):
    """What a recall and a batch of recalls both take: one definition keeps them alike."""
    k: Annotated[int, Field(ge=1, le=1000)] = 10
    memory_type: MemoryType | None = None
    filters: Filters | None = None
    exact: bool = False
    explain: bool = False


class RecallIn(_RecallOptions, _VectorOrText):
    pass


class QueryIn(_VectorOrText):
    pass


class BatchRecallIn(_RecallOptions):
    queries: list[QueryIn] = Field(min_length=1)


class LinkIn(_Strict):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, populate_by_name=True)
    from_: MemoryId = Field(alias="from")
    to: MemoryId
    type: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")] = "related"
    weight: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] = 1.0


# -- responses (documentation and tests) --------------------------------------------------
class Memory(BaseModel):
    id: str
    namespace: str
    memory_type: MemoryType
    payload: dict[str, Any]
    importance: float
    importance_norm: float | None
    coordinate: list[float] | None
    embedding_model: str
    dim: int
    created_at: str
    updated_at: str
    last_access: str | None
    access_count: int
    vector: list[float] | None = Field(None, description="Only with ?include_vector=true")


class BulkOut(BaseModel):
    count: int
    ids: list[str]


class DeletedOut(BaseModel):
    deleted: int


class Explain(BaseModel):
    formula: str
    similarity: float
    importance_norm: float
    alpha: float
    decay: float
    half_life_s: float | None


class RecallHit(BaseModel):
    id: str
    score: float
    similarity: float
    importance: float
    decay: float
    memory_type: MemoryType
    payload: dict[str, Any]
    created_at: str
    explain: Explain | None = None


class RecallOut(BaseModel):
    results: list[RecallHit]


class BatchRecallOut(BaseModel):
    results: list[list[RecallHit]]


class Link(BaseModel):
    from_: str = Field(alias="from")
    to: str
    type: str
    weight: float
    created_at: str


class LinksOut(BaseModel):
    links: list[Link]


class PathOut(BaseModel):
    path: list[str]
    cost: float | None
    found: bool


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None
