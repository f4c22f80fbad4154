"""Outbox relay: publish unpublished outbox rows to Kafka, mark them only after delivery.

At-least-once: a row is marked published only from a successful delivery report, so a
broker outage leaves the backlog in the table and it drains when the broker returns. A
message still in flight is not produced again; one that timed out is. Consumers dedupe by
CloudEvent id, so the rare duplicate is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from memory.errors import StoreUnavailable
from memory.store import Store

log = logging.getLogger("memory.relay")


class Relay:
    def __init__(self, store: Store, producer_factory: Callable[[], object], topic: str, *,
                 batch: int = 2000, idle_s: float = 0.2,
                 ensure_topic: Callable[[str], None] | None = None, in_flight_ttl_s: float = 60.0):
        self.store = store
        self.topic = topic
        self.batch = batch
        self.idle_s = idle_s
        self._factory = producer_factory
        self._ensure_topic = ensure_topic
        self._ready_topics: set[str] = set()
        self._producer = None
        self._in_flight: dict[int, float] = {}  # seq -> when produced
        self._in_flight_ttl = in_flight_ttl_s     # past this a lost delivery report is assumed
        self._lock = threading.Lock()             # one publishing round at a time
        self._delivered: list[int] = []
        self._fatal = False
        self._failed = 0          # failed deliveries in the current round
        self._stalled_rounds = 0  # rounds in a row with failures and no delivery
        self.published_total = 0

    def _on_delivery(self, seq: int):
        def callback(err, _msg):
            self._in_flight.pop(seq, None)
            if err is None:
                self._delivered.append(seq)
            else:
                if err.fatal():
                    self._fatal = True
                self._failed += 1
                log.debug("event seq=%d not delivered: %s", seq, err.str())
        return callback

    def _get_producer(self):
        if self._fatal and self._producer is not None:
            log.warning("producer hit a fatal error; recreating it")
            self._producer = None
            self._in_flight.clear()
            self._ready_topics.clear()  # a broker that lost its state lost its topics too
            self._fatal = False
        if self._producer is None:
            self._producer = self._factory()
        return self._producer

    def run_once(self, flush_timeout: float = 5.0) -> int:
        """Publish one batch; return how many rows were marked published."""
        with self._lock:
            return self._run_once(flush_timeout)

    def _run_once(self, flush_timeout: float) -> int:
        producer = self._get_producer()
        try:
            self._publish(producer, flush_timeout)
        except Exception as exc:  # noqa: BLE001 - librdkafka surfaces fatal errors oddly
            # e.g. UNKNOWN_PRODUCER_ID after the broker lost its state (it can arrive as a
            # KafkaException or as a SystemError out of a delivery callback): this producer
            # can never send again; a new one gets a new producer id. Undelivered rows stay.
            log.warning("producer failed (%s: %s); it will be recreated", type(exc).__name__, exc)
            self._fatal = True
        delivered, self._delivered = self._delivered, []
        failed, self._failed = self._failed, 0
        if failed:
            log.warning("%d event(s) not delivered this round; they stay in the outbox", failed)
        # An idempotent producer can wedge after its broker restarts empty (it keeps asking
        # for an epoch bump the new broker cannot give): two rounds of failures with no
        # delivery at all and it is replaced, like a fatal error.
        self._stalled_rounds = self._stalled_rounds + 1 if failed and not delivered else 0
        if self._stalled_rounds >= 2:
            self._fatal, self._stalled_rounds = True, 0
        n = self.store.mark_published(delivered)
        self.published_total += n
        return n

    def topic_for(self, namespace: str) -> str:
        """The configured topic; `{namespace}` in it gives one topic per namespace."""
        return self.topic.replace("{namespace}", namespace)

    def _topic_ready(self, topic: str) -> bool:
        if self._ensure_topic is None or topic in self._ready_topics:
            return True
        try:
            self._ensure_topic(topic)
        except Exception as exc:  # broker down: retry next round, writes are unaffected
            log.warning("cannot ensure topic %s yet: %s", topic, exc)
            return False
        self._ready_topics.add(topic)
        return True

    def _publish(self, producer, flush_timeout: float) -> None:
        producer.poll(0)
        now = time.monotonic()
        for seq, at in list(self._in_flight.items()):
            if now - at > self._in_flight_ttl:
                del self._in_flight[seq]
        rows = [r for r in self.store.unpublished(self.batch) if r.seq not in self._in_flight]
        for row in rows:
            topic = self.topic_for(row.namespace)
            if not self._topic_ready(topic):
                continue
            self._in_flight[row.seq] = now
            while True:
                try:
                    producer.produce(topic, key=row.memory_id.encode(), value=row.event.encode(),
                                     on_delivery=self._on_delivery(row.seq))
                    break
                except BufferError:  # local queue full: let deliveries drain
                    producer.poll(0.1)
        if self._in_flight:
            producer.flush(flush_timeout)

    def run(self, stop: threading.Event) -> None:
        log.info("relay publishing the outbox to topic %s", self.topic)
        while not stop.is_set():
            try:
                n = self.run_once()
            except StoreUnavailable as exc:
                log.warning("relay: %s", exc)
                n = 0
            if n == 0:
                stop.wait(self.idle_s)
        if self._producer is not None:
            try:
                self._producer.flush(5)
            except Exception:  # noqa: BLE001 - shutting down; undelivered rows stay in the outbox
                pass

    def drain(self, timeout: float = 60.0) -> bool:
        """Publish until the outbox is empty (tests, shutdown). True when empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.run_once(flush_timeout=2.0)
            if self.store.outbox_lag()[0] == 0:
                return True
            time.sleep(0.1)
        return False
