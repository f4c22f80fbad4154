"""The memory service's exception tree (the engine has its own under memory.engine).

MemoryServiceError
├── ConfigError          bad or unsafe configuration; the process refuses to start
├── StoreError           the database said no
│   ├── StoreUnavailable the database cannot be reached (HTTP 503, retried by callers)
│   └── NotMigrated      the schema is missing or behind; run `inv memory.migrate`
├── RequestInvalid       a caller's input is wrong (HTTP 400); nothing was stored
│   └── Conflict         POST of an id that holds a live memory (HTTP 409)
├── NotFound             no such memory in the caller's namespace (HTTP 404)
└── EventError           an event could not be built, published or applied
"""


class MemoryServiceError(Exception):
    """Base of every error the memory service raises on purpose."""


class ConfigError(MemoryServiceError):
    pass


class StoreError(MemoryServiceError):
    pass


class StoreUnavailable(StoreError):
    pass


class NotMigrated(StoreError):
    pass


class RequestInvalid(MemoryServiceError):
    pass


class Conflict(RequestInvalid):
    """POST of an id that already holds a live memory (use PUT to replace)."""


class NotFound(MemoryServiceError):
    pass


class EventError(MemoryServiceError):
    pass
