"""`python -m memory serve|migrate|relay|consume`: the same entry points as `inv memory.*`."""

from __future__ import annotations

import signal
import sys
import threading

from memory.errors import MemoryServiceError


def main(argv: list[str]) -> int:
    from memory import runtime
    from memory.api.logs import configure
    from memory.config import Settings
    cmd = argv[0] if argv else "serve"
    try:
        settings = Settings.from_env()
        configure(settings.log_level)
        if cmd == "serve":
            runtime.serve(settings)
        elif cmd == "migrate":
            store = runtime.open_store(settings, migrate_embedded=False)
            print(f"database at revision {store.migrate()}")
        elif cmd in ("relay", "consume"):
            store = runtime.open_store(settings, migrate_embedded=False)
            store.check_migrated()
            worker = runtime.build_relay(settings, store) if cmd == "relay" else runtime.build_consumer(settings, store)
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                worker.run(stop)
            except KeyboardInterrupt:
                stop.set()
        else:
            print(f"unknown command {cmd!r}: use serve, migrate, relay or consume", file=sys.stderr)
            return 2
    except MemoryServiceError as exc:
        print(f"memory: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
