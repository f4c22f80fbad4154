"""Memory engine: contiguous slabs ranked by max(0, cos) * importance**alpha * 2**(-age/half_life).

Public API (stable): Engine, EngineConfig, Hit, AddResult and the exception tree.
"""

from .config import EngineConfig
from .engine import Engine
from .errors import DimensionMismatch, EngineError, InvalidArgument, InvalidVector, UnknownId
from .results import AddResult, Hit

__all__ = ["AddResult", "DimensionMismatch", "Engine", "EngineConfig", "EngineError", "Hit",
           "InvalidArgument", "InvalidVector", "UnknownId"]
