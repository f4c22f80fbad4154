"""Flask HTTP API of the memory service; `create_app()` is the factory.

`create_app(settings, service)` wires a given service (tests, `python -m memory serve`).
`create_app()` with no arguments builds everything from the `SOMA_MEMORY_*` environment, as
WSGI servers and the Flask CLI call a factory:

    flask --app memory.api run
    gunicorn 'memory.api:create_app()'
    waitress-serve --call memory.api:create_app

It then configures logging, opens the store (migrating only the embedded default), loads
the index, compiles the recall kernels and, with a broker set and `RELAY_IN_PROCESS`, starts
the outbox relay, exactly as `serve` does; the server's own options decide host and port.
"""

from __future__ import annotations

import atexit
import threading

from memory.api.app import create_app as _create_app

__all__ = ["create_app"]


def create_app(settings=None, service=None):
    if settings is not None and service is not None:
        return _create_app(settings, service)
    if service is not None:
        raise TypeError("create_app: a service needs its settings")
    from memory import runtime
    from memory.api.logs import configure
    from memory.config import Settings
    settings = settings or Settings.from_env()
    settings.validate()
    configure(settings.log_level)
    service = runtime.build_service(settings)
    stop = threading.Event()
    if settings.kafka_bootstrap and settings.relay_in_process:
        relay = runtime.build_relay(settings, service.store)
        threading.Thread(target=relay.run, args=(stop,), name="memory-relay", daemon=True).start()
    atexit.register(stop.set)
    atexit.register(service.stop)
    runtime.log.info("effective configuration", extra={"config": settings.redacted()})
    if not settings.auth_enabled:
        # the WSGI server's bind decides the address here, not SOMA_MEMORY_HOST
        runtime.log.warning("no tokens configured: serving the single namespace %r WITHOUT authentication; "
                            "bind the server to loopback only", settings.default_namespace)
    return _create_app(settings, service)
