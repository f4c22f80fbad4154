"""Request and response models. The same models validate requests and produce the OpenAPI
document (openapi.py), so the document cannot drift from the behaviour.

Unknown fields, NaN and Inf are refused (400); vectors must have the service's dimension,
which is checked where the dimension is known (the service, memory/intake.py) and stated in
the document. Query parameters are validated by the query models below, answers are
serialised through the response models (memory/api/operations.py).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, model_validator

from memory.memory_type import MemoryType

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$"  # matched in full (fullmatch), never with `$` alone
RESERVED_IDS = ("bulk",)  # /v1/memories/bulk is a resource of its own


def _not_reserved(value: str) -> str:
    if value in RESERVED_IDS:
        raise ValueError(f"{value!r} is a reserved id")
    return value


MemoryId = Annotated[str, Field(pattern=ID_PATTERN, description="1-128 chars: letters, digits, . _ : -; not 'bulk'",
                                json_schema_extra={"not": {"enum": list(RESERVED_IDS)}}),
                     AfterValidator(_not_reserved)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
LINK_TYPE_PATTERN = r"^[A-Za-z0-9._:\-]{1,64}$"

# A list page's cursor: the keyset position "<created_at>~<id>" (created_at as Python's
# shortest round-trip repr, never with a '+'); any string of this form is a position.
CURSOR_PATTERN = (r"^(?:0|[1-9][0-9]{0,19})(?:\.[0-9]{1,20})?(?:e-[0-9]{1,3})?"
                  r"~[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
LIST_MAX = 1000

# Time values: the stored range is 1970-01-01T00:00:00Z .. 3000-01-01T00:00:00Z (epoch seconds).
# An RFC 3339 string takes a year 1971..2998 so that any offset (up to +-23:59) keeps its
# instant inside that range; the pattern states this in the OpenAPI document as well.
EPOCH_MAX = 32503680000.0
TEXT_MAX_CHARS = 100_000  # one text; the texts of one request together: MAX_TEXT_CHARS
RFC3339 = (r"^(?:197[1-9]|19[89][0-9]|2[0-8][0-9]{2}|29[0-8][0-9]|299[0-8])"
           r"-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
           r"(?:\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$")


_PARTS = re.compile(r"(.{10})T(.{8})(?:\.([0-9]+))?(Z|[+-][0-9]{2}:[0-9]{2})")


def _instant(value: str) -> float:
    """An RFC 3339 string (already matched by RFC3339) as epoch seconds; refuses 2021-02-30."""
    date, clock, frac, zone = _PARTS.fullmatch(value.upper()).groups()
    micro = f".{frac[:6].ljust(6, '0')}" if frac else ""  # nanoseconds are cut to microseconds
    try:
        parsed = dt.datetime.fromisoformat(f"{date}T{clock}{micro}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        raise ValueError("not a valid calendar date and time") from None
    return parsed.timestamp()


def _strict_json(value: dict) -> dict:
    """Refuse NaN and Infinity anywhere inside (1e400 parses as Infinity): JSON has neither,
    and what is stored is served back and sent in events as JSON."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError("NaN and Infinity are not JSON (a number beyond 1.8e308 is Infinity)")
    return value


JsonObject = Annotated[dict[str, Any], AfterValidator(_strict_json)]

def _whole(value):
    # JSON Schema's integer includes 2.0 (a number with no fraction); booleans and strings
    # stay refused by the strict int that follows
    return int(value) if isinstance(value, float) and value.is_integer() else value


EpochSeconds = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=0, le=EPOCH_MAX)]
Rfc3339 = Annotated[str, Field(strict=True, pattern=RFC3339, json_schema_extra={"format": "date-time"}),
                    AfterValidator(_instant)]
Timestamp = Union[EpochSeconds, Rfc3339]
RecallMode = Literal["vector", "keyword", "hybrid"]


class _Strict(BaseModel):
    """Request models: unknown fields refused; strict types (no `true` or `"5"` for a number,
    no `1` for a boolean); null is never a value (leave an optional field out instead), so
    the document can say exactly which fields a body holds."""
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data):
        if isinstance(data, dict):
            nulls = [k for k, v in data.items() if v is None]
            if nulls:
                raise ValueError(f"null is not a value here ({', '.join(map(str, nulls))}); "
                                 "leave an optional field out instead")
        return data


def epoch(value: Timestamp | None) -> float | None:
    """A request timestamp (epoch seconds or RFC 3339) as epoch seconds."""
    # both branches validate to epoch seconds already (see Rfc3339)
    return None if value is None else float(value)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat().replace("+00:00", "Z")


class _VectorOrText(_Strict):
    vector: list[Finite] | None = Field(None, description="Embedding of the service's dimension; "
                                        "not all zero")
    vector_b64: Annotated[str, Field(max_length=1_000_000)] | None = Field(
        None, description="The embedding as base64 of little-endian float32 (dim * 4 bytes); "
                          "far cheaper to send and parse than a JSON array")
    text: Annotated[str, Field(min_length=1, max_length=TEXT_MAX_CHARS)] | None = Field(
        None, description="The content. Alone it is embedded with the service's embedder; beside "
                          "a vector the vector is used and the text kept (all texts of one "
                          "request together at most MAX_TEXT_CHARS characters)")

    @model_validator(mode="after")
    def _one_of(self):
        if self.vector is not None and self.vector_b64 is not None:
            raise ValueError("give one of 'vector' or 'vector_b64', not both")
        if self.vector is None and self.vector_b64 is None and self.text is None:
            raise ValueError("give 'text', a vector ('vector' or 'vector_b64'), or both")
        return self


class MemoryPut(_VectorOrText):
    """PUT's body: the path names the memory, so the body has no id."""

    @model_validator(mode="after")
    def _storable_text(self):
        # PostgreSQL text cannot hold U+0000; refused on every database so both store alike
        if self.text is not None and "\x00" in self.text:
            raise ValueError("a memory's text must not contain U+0000 (NUL)")
        return self

    payload: JsonObject = Field(default_factory=dict)
    memory_type: MemoryType = "episodic"
    importance: Finite = Field(1.0, description="Raw importance on any scale; normalised once")
    coordinate: list[Finite] | None = Field(None, max_length=64)
    created_at: Timestamp | None = Field(None, description="Epoch seconds or RFC 3339; default now")


class MemoryIn(MemoryPut):
    id: MemoryId | None = Field(None, description="Default: a new random id")


class BulkIn(_Strict):
    items: list[MemoryIn] = Field(min_length=1)


class CreatedRange(_Strict):
    gte: Timestamp | None = None
    lte: Timestamp | None = None


class Filters(_Strict):
    payload: JsonObject | None = Field(None, description="Equality on top-level payload keys")
    created_at: CreatedRange | None = None


class _RecallOptions(_Strict):
    """What a recall and a batch of recalls both take: one definition keeps them alike."""
    k: Annotated[int, Field(strict=True, ge=1, le=1000), BeforeValidator(_whole)] = 10
    memory_type: MemoryType | None = None
    filters: Filters | None = None
    exact: bool = False
    explain: bool = False
    mode: RecallMode = Field("vector", description="vector (default): by embedding; keyword: the "
                             "database's full-text index over each memory's text (every query needs "
                             "'text'); hybrid: both, fused by reciprocal rank fusion (k = 60)")


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
    type: Annotated[str, Field(pattern=LINK_TYPE_PATTERN)] = "related"
    weight: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)] = 1.0


# -- responses (documentation and tests) --------------------------------------------------
def _absent(value) -> bool:
    # an optional part of an answer is left out, not answered as null
    return value is None


# An instant: built from epoch seconds, answered as RFC 3339 UTC ("2023-11-14T22:13:20Z",
# microseconds when not zero), as iso() writes it.
Instant = Annotated[dt.datetime, Field(description="RFC 3339, UTC")]

class _Out(BaseModel):
    """Response models: the document lists every field an answer has, and no others. Built
    with validation, so an answer that does not fit (NaN included: answers are strict JSON)
    fails loudly as a 500 instead of reaching the caller."""
    # times are given as epoch seconds and written as RFC 3339 UTC by pydantic itself
    # (never read as milliseconds, whatever their size)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, val_temporal_unit="seconds")


class Memory(_Out):
    id: str
    namespace: str
    memory_type: MemoryType
    text: str | None = Field(description="The content as stored; null when only a vector was given")
    payload: dict[str, Any]
    importance: float
    importance_norm: float | None
    coordinate: list[float] | None
    embedding_model: str
    dim: int
    created_at: Instant
    updated_at: Instant
    last_access: Instant | None
    access_count: int
    vector: list[float] | None = Field(None, description="Only with ?include_vector=true",
                                       exclude_if=_absent)

    @staticmethod
    def fields(row, include_vector: bool = False) -> dict:
        """A stored row (memory.store.MemoryRow) as this model's fields. A list of them is
        validated in one call (ListOut.model_validate), far cheaper than one model each."""
        out = {"id": row.id, "namespace": row.namespace, "memory_type": row.memory_type,
               "text": row.text, "payload": row.payload, "importance": row.importance,
               "importance_norm": row.importance_norm, "coordinate": row.coordinate,
               "embedding_model": row.model, "dim": row.dim, "created_at": row.created_at,
               "updated_at": row.updated_at, "last_access": row.last_access,
               "access_count": row.access_count}
        if include_vector:
            out["vector"] = row.vector.tolist()
        return out

    @classmethod
    def of(cls, row, include_vector: bool = False) -> "Memory":
        return cls.model_validate(cls.fields(row, include_vector))


class ListOut(_Out):
    memories: list[Memory] = Field(description="Newest first (created_at, then id, descending)")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end")


class BulkOut(_Out):
    count: int
    ids: list[str]


class DeletedOut(_Out):
    deleted: int


class Explain(_Out):
    formula: str
    similarity: float
    importance_norm: float
    alpha: float
    decay: float
    half_life_s: float | None


class RecallHit(_Out):
    id: str
    score: float
    similarity: float
    importance: float
    decay: float
    memory_type: MemoryType
    text: str | None
    payload: dict[str, Any]
    created_at: Instant
    lists: dict[Literal["vector", "keyword"], Annotated[int, Field(ge=1)]] = Field(
        description="The lists that found this memory and its 1-based rank in each")
    explain: Explain | None = Field(None, description="Only with explain: true", exclude_if=_absent)


class RecallOut(_Out):
    results: list[RecallHit]


class BatchRecallOut(_Out):
    results: list[list[RecallHit]]


class Link(_Out):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    to: str
    type: str
    weight: float
    created_at: Instant

    @classmethod
    def of(cls, link) -> "Link":
        """A stored link (memory.store.LinkRow) as answered."""
        return cls(from_=link.from_id, to=link.to_id, type=link.type, weight=link.weight,
                   created_at=link.created_at)


class LinksOut(_Out):
    links: list[Link]


class PathOut(_Out):
    path: list[str]
    cost: float | None
    found: bool


class StatsOut(_Out):
    namespace: str
    memories: int
    by_type: dict[MemoryType, int]
    indexed: int
    dim: int
    embedding_model: str
    outbox_pending: int = Field(description="This namespace's events not yet published")
    outbox_oldest_age_s: float
    engine: dict[str, Any] = Field(description="The namespace's engine figures (docs/engine.md)")


class Status(_Out):
    status: Literal["ok", "ready"]


class Problem(_Out):
    type: str
    title: str
    status: int
    detail: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None
    # a 503 while the index loads at start: memories loaded of the total (null until counted)
    loaded: int | None = Field(None, description="503 while loading: memories loaded so far")
    total: int | None = Field(None, description="503 while loading: memories to load")
    progress: float | None = Field(None, description="503 while loading: loaded / total, 0..1")


def finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


# -- query and path parameters ------------------------------------------------------------
# Query values arrive as strings. Each type below parses its own documented form (no lax
# coercion: `1.0` is no integer, `yes` no boolean) and states that form in the document.
def _query_int(value):
    if isinstance(value, str):
        if not re.fullmatch(r"[0-9]{1,9}", value):
            raise ValueError("must be a whole number")
        return int(value)
    return value


def _query_bool(value):
    if isinstance(value, str):
        if value not in ("true", "false"):
            raise ValueError("must be 'true' or 'false'")
        return value == "true"
    return value


_RFC3339_FULL = re.compile(RFC3339[1:-1], re.IGNORECASE)


def _query_time(value):
    """Epoch seconds or RFC 3339, as in bodies; anything else or out of range is refused."""
    if isinstance(value, str):
        try:
            if _RFC3339_FULL.fullmatch(value):
                return _instant(value)
            number = float(value)
        except ValueError:
            number = math.nan
        if not 0 <= number <= EPOCH_MAX:  # NaN included
            raise ValueError(f"must be epoch seconds (0..{EPOCH_MAX:.0f}) or an RFC 3339 "
                             "date-time with an offset")
        return number
    return value


def _query_json_object(value):
    if isinstance(value, str):
        def refuse(const):
            raise ValueError(f"{const} is not JSON")
        try:
            parsed = json.loads(value, parse_constant=refuse)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
            _strict_json(parsed)  # 1e400 parses as Infinity
        except ValueError:
            raise ValueError("must be a JSON object (equality on its top-level keys)") from None
        return parsed
    return value


QueryBool = Annotated[bool, BeforeValidator(_query_bool)]
QueryTime = Annotated[float, BeforeValidator(_query_time), WithJsonSchema(
    {"anyOf": [{"type": "number", "minimum": 0, "maximum": EPOCH_MAX},
               {"type": "string", "pattern": RFC3339}]})]
# a parameter whose value is a JSON document: openapi.py states it as `content`
QueryJsonObject = Annotated[dict[str, Any], BeforeValidator(_query_json_object), WithJsonSchema(
    {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "object"}})]
LinkType = Annotated[str, Field(pattern=LINK_TYPE_PATTERN)]


class _Params(BaseModel):
    """Query or path parameters; an unknown query parameter is a 400 where the model says so."""
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class GetQuery(_Params):
    include_vector: QueryBool = False


class ListQuery(_Params):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    limit: Annotated[int, Field(ge=1, le=LIST_MAX), BeforeValidator(_query_int)] = 50
    cursor: Annotated[str, Field(pattern=CURSOR_PATTERN, description="A page's next_cursor")] | None = None
    memory_type: MemoryType | None = None
    created_after: QueryTime | None = Field(None, description="created_at >=; epoch seconds or RFC 3339")
    created_before: QueryTime | None = Field(None, description="created_at <=; epoch seconds or RFC 3339")
    payload: QueryJsonObject | None = Field(
        None, description="A JSON object: memories whose payload has these top-level key/values")

    @property
    def position(self) -> tuple[float, str] | None:
        """The keyset position the cursor names."""
        if self.cursor is None:
            return None
        created, _, last_id = self.cursor.partition("~")
        return float(created), last_id


class ScopedDeleteQuery(_Params):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    memory_type: MemoryType = Field(description="Required: a scoped delete needs a scope")


class LinksQuery(_Params):
    type: LinkType | None = None


class PathQuery(_Params):
    # ids: the pattern is stated, so anything else is a 400 (an id no memory has is a 404)
    from_: Annotated[str, Field(pattern=ID_PATTERN)] = Field(alias="from")
    to: Annotated[str, Field(pattern=ID_PATTERN)]
    type: LinkType | None = None


_NOT_RESERVED = {"not": {"enum": list(RESERVED_IDS)}}  # /v1/memories/bulk is its own resource


class MemoryPath(_Params):
    """A memory's path segment (the `mid` converter refuses `bulk`)."""
    memory_id: str = Field(alias="id", json_schema_extra=_NOT_RESERVED,
                           description="A memory id; one that no memory can have is simply not found")


class MemoryPutPath(_Params):
    """PUT names the memory it creates: the id must be one a memory can have."""
    memory_id: MemoryId = Field(alias="id")
