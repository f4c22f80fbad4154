"""Memory engine: contiguous slabs ranked by max(0, cos) * importance**alpha * 2**(-age/half_life).

Public API (stable): Engine, EngineConfig, Hit, AddResult, the exception tree, and the two
pieces a store needs to agree with the engine before it commits: AdaptiveImportance (the
normaliser, so every replica stores the same normalised value) and normalise_batch (the
engine's own vector checks).
"""

from .config import EngineConfig
from .engine import Engine
from .importance import AdaptiveImportance
from .errors import DimensionMismatch, EngineError, InvalidArgument, InvalidVector, UnknownId
from .results import AddResult, Hit
from .vectors import normalise_batch

__all__ = ["AdaptiveImportance", "AddResult", "DimensionMismatch", "Engine", "EngineConfig", "EngineError", "Hit",
           "InvalidArgument", "InvalidVector", "UnknownId", "normalise_batch"]
