"""`python -m memory serve|migrate|relay|consume|mcp`: the same entry points as `inv memory.*`.

SIGTERM and SIGINT end every command cleanly with exit code 0 (the server stops listening,
the relay flushes, the consumer leaves its group); a refusal is one line on stderr, code 1.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from memory.errors import ConfigError, MemoryServiceError

COMMANDS = ("serve", "migrate", "relay", "consume", "mcp")
GRACE_S = 15.0  # after a stop signal, at most this long before the process is ended hard


def _interrupt(signum, _frame) -> None:
    """waitress and the MCP servers stop on KeyboardInterrupt; SIGTERM gets the same exit.

    Only the first signal counts (`inv` forwards a terminal's Ctrl-C that the child may
    also get). A KeyboardInterrupt raised while numba is inside a ctypes callback (compiling
    at start) is printed and dropped by ctypes, so a watchdog ends the process if it is
    still there after GRACE_S seconds."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, signal.SIG_IGN)

    def hard_exit():
        print(f"memory: still running {GRACE_S:g} s after signal {signum}; exiting", file=sys.stderr)
        os._exit(128 + signum)

    watchdog = threading.Timer(GRACE_S, hard_exit)
    watchdog.daemon = True  # a clean exit does not wait for it
    watchdog.start()
    raise KeyboardInterrupt


def _interrupt_on_signals() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupt)


def _stop_on_signals(stop: threading.Event) -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())


def _events(cmd: str, settings) -> None:
    """relay or consume: wait for the broker (bounded), then run until a signal."""
    from confluent_kafka import KafkaException

    from memory import runtime
    from memory.events import broker
    if not settings.kafka_bootstrap:
        target = "relay to" if cmd == "relay" else "consume from"
        raise ConfigError(f"SOMA_MEMORY_KAFKA_BOOTSTRAP is not set: there is no broker to {target}")
    store = runtime.open_store(settings, migrate_embedded=False)
    store.check_migrated()
    stop = threading.Event()
    _stop_on_signals(stop)
    broker.wait_until_reachable(settings.kafka_bootstrap, settings.broker_wait_s, stop=stop)
    if stop.is_set():
        return
    try:
        worker = runtime.build_relay(settings, store) if cmd == "relay" else runtime.build_consumer(settings, store)
    except KafkaException as exc:  # the broker went away between the probe and the topic check
        raise broker.BrokerUnreachable(f"Kafka broker at {settings.kafka_bootstrap}: {exc}") from None
    worker.run(stop)


def main(argv: list[str]) -> int:
    from memory import runtime
    from memory.api.logs import configure
    from memory.config import Settings
    cmd = argv[0] if argv else "serve"
    if cmd not in COMMANDS:
        print(f"unknown command {cmd!r}: use {', '.join(COMMANDS[:-1])} or {COMMANDS[-1]}", file=sys.stderr)
        return 2
    try:
        settings = Settings.from_env()
        configure(settings.log_level)
        if cmd == "serve":
            _interrupt_on_signals()
            runtime.serve(settings)
        elif cmd == "migrate":
            store = runtime.open_store(settings, migrate_embedded=False)
            print(f"database at revision {store.migrate()}")
        elif cmd in ("relay", "consume"):
            _events(cmd, settings)
        else:
            from memory.mcp.__main__ import main as mcp_main
            _interrupt_on_signals()
            return mcp_main(argv[1:], settings)
    except MemoryServiceError as exc:
        print(f"memory: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
