"""Waiting for the Kafka broker at start: backoff, one log line per attempt, a deadline.

`inv memory.relay` and `inv memory.consume` are often started beside a broker that is still
coming up; they wait for it (exponential backoff, tenacity) instead of ending in a
librdkafka traceback, and give up with one clear line (BrokerUnreachable) after
`SOMA_MEMORY_BROKER_WAIT_S`. The in-process relay of `serve` does not wait: writes never
depend on the broker, its backlog drains when the broker comes.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Callable

import tenacity

from memory.errors import EventError

log = logging.getLogger("memory.events")


class BrokerUnreachable(EventError):
    """No broker answered before the deadline."""


def _accepting(bootstrap: str, timeout: float) -> None:
    """Raise ConnectionError unless some bootstrap server accepts a TCP connection.

    librdkafka's metadata call waits out its whole timeout when nothing listens; a refused
    connection is known at once, so an absent broker costs no time per attempt."""
    errors = []
    for server in filter(None, (s.strip() for s in bootstrap.split(","))):
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=timeout):
                return
        except (OSError, ValueError) as exc:
            errors.append(f"{server}: {getattr(exc, 'strerror', None) or exc}")
    raise ConnectionError("; ".join(errors) or "no bootstrap server given")


def list_topics(bootstrap: str, timeout: float) -> None:
    """One metadata round-trip; raises when no broker answers."""
    from confluent_kafka.admin import AdminClient
    _accepting(bootstrap, min(timeout, 3.0))
    # log_level 0: librdkafka's own connect-refused lines would repeat on every attempt;
    # the wait logs one line per attempt itself
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.connection.setup.timeout.ms": 3000,
                         "log_level": 0})
    admin.list_topics(timeout=timeout)


def wait_until_reachable(bootstrap: str, deadline_s: float, *, stop: threading.Event | None = None,
                         probe: Callable[[], None] | None = None, backoff_s: float = 0.5,
                         backoff_max_s: float = 10.0) -> int:
    """Probe the broker until it answers; the number of attempts it took.

    Raises BrokerUnreachable after `deadline_s` seconds; returns early (without raising)
    when `stop` is set, so a SIGTERM during the wait ends the process at once.
    """
    stop = stop or threading.Event()
    started = time.monotonic()

    def attempt() -> None:
        remaining = deadline_s - (time.monotonic() - started)
        (probe or (lambda: list_topics(bootstrap, max(1.0, min(5.0, remaining)))))()

    def log_failure(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception()
        log.warning("Kafka broker at %s not reachable (attempt %d, %.1f s of %g s): %s",
                    bootstrap, state.attempt_number, time.monotonic() - started, deadline_s, exc)

    retrying = tenacity.Retrying(
        stop=tenacity.stop_before_delay(deadline_s) | tenacity.stop_when_event_set(stop),
        wait=tenacity.wait_exponential(multiplier=backoff_s, max=backoff_max_s),
        retry=tenacity.retry_if_exception_type(Exception), after=log_failure, sleep=stop.wait)
    try:
        retrying(attempt)
    except tenacity.RetryError as exc:
        if stop.is_set():
            return exc.last_attempt.attempt_number
        raise BrokerUnreachable(
            f"no Kafka broker answered at {bootstrap} within {deadline_s:g} s "
            f"({exc.last_attempt.attempt_number} attempts): {exc.last_attempt.exception()}") from None
    log.info("Kafka broker at %s reachable", bootstrap)
    return retrying.statistics.get("attempt_number", 1)
