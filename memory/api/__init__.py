"""Flask HTTP API of the memory service; `create_app(settings, service)` is the factory."""

from memory.api.app import create_app

__all__ = ["create_app"]
