"""Event consumer: apply each CloudEvent once (by id), retry with backoff, dead-letter poison.

Offsets are committed only after a message is applied or dead-lettered (at-least-once);
`apply` must be idempotent by event id, which `Store.apply_event` is. A store outage is not
the message's fault: the consumer waits for the store instead of dead-lettering.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Callable

import tenacity

from memory.errors import EventError, StoreUnavailable
from memory.events import cloudevents

log = logging.getLogger("memory.consumer")


class PoisonMessage(Exception):
    """A message that can never be applied (undecodable, not a CloudEvent)."""


class EventConsumer:
    def __init__(self, consumer, dlq_producer, topic: str, apply: Callable[[dict], bool], *,
                 max_attempts: int = 5, backoff_s: float = 0.05, backoff_max_s: float = 2.0):
        self.consumer = consumer
        self.dlq_producer = dlq_producer
        self.topic = topic
        self.dlq_topic = f"{topic}.dlq"  # with a {namespace} template: <source topic>.dlq
        self.apply = apply
        self.max_attempts = max_attempts
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(max_attempts),
            wait=tenacity.wait_exponential(multiplier=backoff_s, max=backoff_max_s),
            retry=tenacity.retry_if_not_exception_type((StoreUnavailable, PoisonMessage)),
            reraise=True)
        self.applied = 0
        self.duplicates = 0
        self.dead_lettered = 0

    def _handle(self, value: bytes) -> bool:
        try:
            event = cloudevents.parse(value)
        except ValueError as exc:
            raise PoisonMessage(str(exc)) from None
        return self._retrying(self.apply, event)

    def _dead_letter(self, msg, error: Exception, attempts: int) -> bool:
        """Send the message to <topic>.dlq; False when the broker did not confirm it."""
        headers = [("error", str(error)[:500].encode()), ("attempts", str(attempts).encode()),
                   ("source-topic", msg.topic().encode()),
                   ("source-offset", str(msg.offset()).encode())]
        try:
            self.dlq_producer.produce(f"{msg.topic()}.dlq", key=msg.key(), value=msg.value(), headers=headers)
            if self.dlq_producer.flush(10) != 0:
                return False
        except Exception as exc:  # noqa: BLE001 - a full queue or a producer error: hold the offset
            log.warning("dead-letter produce failed: %s", exc)
            return False
        self.dead_lettered += 1
        log.error("dead-lettered offset %s of %s after %d attempt(s): %s",
                  msg.offset(), msg.topic(), attempts, error)
        return True

    def process(self, msg, stop: threading.Event | None = None) -> None:
        """Apply or dead-letter one message, then commit its offset; neither, no commit.

        Only "already applied" (apply returns False) counts as done without applying; any
        exception is retried and then dead-lettered. A store outage holds the offset
        (not the message's fault), and so does a dead-letter topic that does not confirm.
        """
        error, attempts = None, 0
        while True:
            try:
                if self._handle(msg.value()):
                    self.applied += 1
                else:
                    self.duplicates += 1
                break
            except StoreUnavailable as exc:
                log.warning("store unavailable, holding offset %s: %s", msg.offset(), exc)
                if stop is None:
                    raise  # a caller without a stop event decides when to try again
                if stop.wait(1.0):
                    return
            except PoisonMessage as exc:
                error, attempts = exc, 1
                break
            except Exception as exc:  # noqa: BLE001 - failed max_attempts times, whatever it was
                error, attempts = exc, self.max_attempts
                break
        if error is not None:
            while not self._dead_letter(msg, error, attempts):
                log.warning("dead-letter topic unreachable, holding offset %s of %s",
                            msg.offset(), msg.topic())
                if stop is None:
                    raise EventError("dead-letter topic unreachable; the offset is not committed")
                if stop.wait(1.0):
                    return  # not committed: the message is delivered again after a restart
        self.consumer.commit(message=msg, asynchronous=False)

    def run_once(self, timeout: float = 1.0, stop: threading.Event | None = None) -> int:
        msg = self.consumer.poll(timeout)
        if msg is None:
            return 0
        if msg.error():
            log.warning("consumer error: %s", msg.error())
            return 0
        self.process(msg, stop)
        return 1

    def subscription(self) -> str:
        """The topic, or for a `{namespace}` template a regex over every namespace's topic."""
        if "{namespace}" not in self.topic:
            return self.topic
        head, _, tail = self.topic.partition("{namespace}")
        return "^" + re.escape(head) + r"[A-Za-z0-9_\-]+" + re.escape(tail) + "$"

    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe([self.subscription()])
        log.info("consuming %s (dead letters to %s)", self.topic, self.dlq_topic)
        try:
            while not stop.is_set():
                self.run_once(1.0, stop)
        finally:
            self.consumer.close()


def consumer_config(bootstrap: str, group: str) -> dict:
    # the group join waits for the rebalance timeout (max.poll.interval.ms); keep it short so
    # a (re)joining consumer starts within seconds. Applying one event is far quicker than 30 s.
    return {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "socket.connection.setup.timeout.ms": 3000,
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "max.poll.interval.ms": 30000,
            # a topic that appears after subscribe (the relay creates it on its first event; a
            # new namespace's topic under a pattern) is seen at the next metadata refresh:
            # librdkafka's default of 5 minutes left such a consumer idle that long
            "topic.metadata.refresh.interval.ms": 5000}
