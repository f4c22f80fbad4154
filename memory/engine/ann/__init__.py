"""Approximate nearest-neighbour adapters (candidates by cosine) and the recall guard."""

from .base import AnnAdapter, make_adapter
from .guard import RecallGuard

__all__ = ["AnnAdapter", "RecallGuard", "make_adapter"]
