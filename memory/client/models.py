"""What the client returns: typed views of the service's JSON answers.

Every model keeps fields it does not declare (`extra="allow"`): a newer service's fields
(e.g. a list page's `next_cursor`) reach the caller as attributes before
this file names them, and an older client never fails on a newer answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Answer(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Memory(_Answer):
    id: str
    namespace: str
    memory_type: str
    text: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    importance: float
    importance_norm: float | None = None
    coordinate: list[float] | None = None
    embedding_model: str
    dim: int
    created_at: str
    updated_at: str
    last_access: str | None = None
    access_count: int = 0
    vector: list[float] | None = None


class Explain(_Answer):
    formula: str
    similarity: float
    importance_norm: float
    alpha: float
    decay: float
    half_life_s: float | None = None


class Hit(_Answer):
    id: str
    score: float
    similarity: float
    importance: float
    decay: float
    memory_type: str
    text: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    created_at: str
    lists: dict[str, int] = Field(default_factory=dict)  # list name -> 1-based rank
    explain: Explain | None = None


class Page(_Answer):
    """A page of GET /v1/memories: its memories, newest first, and the next page's cursor."""
    memories: list[Memory]
    next_cursor: str | None = None


class Stored(_Answer):
    """A bulk store: how many and their ids, in request order."""
    count: int
    ids: list[str]


class Link(_Answer):
    from_: str = Field(alias="from")
    to: str
    type: str
    weight: float
    created_at: str


class Path(_Answer):
    path: list[str]
    cost: float | None = None
    found: bool


class Stats(_Answer):
    namespace: str
    memories: int
    by_type: dict[str, int]
    indexed: int
    dim: int
    embedding_model: str
    outbox_pending: int
    outbox_oldest_age_s: float
    engine: dict[str, Any] = Field(default_factory=dict)
