"""Exception tree of the memory engine.

EngineError
├── InvalidVector (also ValueError)      zero / NaN / Inf vector, bad shape
│   └── DimensionMismatch                wrong vector dimension
├── InvalidArgument (also ValueError)    bad ids, importance, k, filters, config values
└── UnknownId (also KeyError)            an id that is not resident in this engine
"""


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class InvalidVector(EngineError, ValueError):
    """A vector (stored or query) that cannot be normalised or has the wrong shape."""


class DimensionMismatch(InvalidVector):
    """A vector whose dimension differs from the engine's."""


class InvalidArgument(EngineError, ValueError):
    """Any other bad input: ids, importance values, k, filters, configuration."""


class UnknownId(EngineError, KeyError):
    """An id that is not resident in the engine (never added, removed or evicted)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "unknown id"
