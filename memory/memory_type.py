"""The kinds of memory: one enum for the API's schemas, the service, the store's filters and
the OpenAPI document, so the list is written once."""

from __future__ import annotations

import enum


class MemoryType(enum.StrEnum):
    """The kind of memory: episodic (events, the default) or semantic (facts)."""
    # a str: compares, hashes and serialises as its value ("episodic" == MemoryType.episodic)
    episodic = "episodic"
    semantic = "semantic"

    @property
    def kind(self) -> int:
        """The engine's integer kind code (its `kinds` filter)."""
        return KIND[self]


# by member or by its string value (a StrEnum hashes as its value): batches map with it
KIND = {t: i for i, t in enumerate(MemoryType)}
