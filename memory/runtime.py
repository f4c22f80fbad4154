"""Wiring: settings → store → service (+ relay) → WSGI server. Used by __main__ and tasks."""

from __future__ import annotations

import logging
import os
import pathlib
import threading

from memory import contract
from memory.config import Settings
from memory.embed import make_embedder
from memory.errors import ConfigError
from memory.service import MemoryService
from memory.store import Store

log = logging.getLogger("memory.runtime")


def engine_factory(settings: Settings):
    from memory.engine import Engine, EngineConfig
    # index inserts (hnswlib add_items) of a bulk write or the start-up load on every core
    # the process may use: 2.2x the rows/s of one thread with ANN on (docs/benchmarks.md)
    cfg = EngineConfig(alpha=settings.alpha, half_life_s=settings.half_life_s, ann=settings.ann or None,
                       hot_bytes=settings.hot_bytes or None, threads=len(os.sched_getaffinity(0)))
    return lambda: Engine(dim=settings.dim, config=cfg)


def normaliser_factory(settings: Settings):
    # the engine's own §1.14 normaliser with the service's floor; the service runs it
    # before commit so the stored value is the one every replica loads (see service.py)
    import functools

    from memory.engine import AdaptiveImportance
    return functools.partial(AdaptiveImportance, floor=settings.importance_floor)


def open_store(settings: Settings, *, migrate_embedded: bool = True) -> Store:
    if settings.embedded:
        pathlib.Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    store = Store(settings.effective_database_url)
    if settings.embedded and migrate_embedded:
        # zero configuration: the embedded file is ours to migrate; an explicit database
        # is never migrated implicitly (the service refuses to start instead)
        store.migrate()
    return store


def build_service(settings: Settings, *, follow: bool = True, store: Store | None = None,
                  background: bool = False) -> MemoryService:
    """background=True: return before the index is loaded (serve() listens meanwhile and
    /readyz answers 503 with the load's progress)."""
    from memory.engine.jit import warm_up
    store = store or open_store(settings)
    svc = MemoryService(settings, store, make_embedder(settings.embedder, settings.dim),
                        engine_factory(settings), normaliser_factory(settings))
    # before the index loads and /readyz can say ready: the first recall finds the kernels
    # compiled (from the disk cache after the first start) instead of compiling them
    svc.start(follow=follow, background=background, prepare=lambda: warm_up(engine_factory(settings)))
    return svc


def build_relay(settings: Settings, store: Store):
    from confluent_kafka import Producer
    from memory.events.relay import Relay
    if not settings.kafka_bootstrap:
        raise ConfigError("SOMA_MEMORY_KAFKA_BOOTSTRAP is not set: there is no broker to relay to")
    return Relay(store, lambda: Producer(contract.producer_config(settings)), settings.topic,
                 ensure_topic=lambda topic: ensure_topics(settings, [topic]))


def ensure_topics(settings: Settings, topics: list[str]) -> None:
    """Create the topics with the configured partitions, replication and security."""
    from memory.events import kafka
    kafka.ensure_topics(settings.kafka_bootstrap, topics, settings.topic_partitions,
                        replication_factor=settings.topic_replication, **contract.kafka_security(settings))


def build_consumer(settings: Settings, store: Store):
    from confluent_kafka import Consumer, Producer
    from memory.events.consumer import EventConsumer
    if not settings.kafka_bootstrap:
        raise ConfigError("SOMA_MEMORY_KAFKA_BOOTSTRAP is not set: there is no broker to consume from")
    if "{namespace}" not in settings.topic:  # per-namespace topics appear with their namespaces
        ensure_topics(settings, [settings.topic, settings.topic + ".dlq"])
    group = settings.consumer_group
    return EventConsumer(Consumer(contract.consumer_config(settings, group)),
                         Producer(contract.producer_config(settings)), settings.topic,
                         lambda event: store.apply_event(group, event),
                         max_attempts=settings.consumer_max_attempts)


def announce(settings: Settings) -> None:
    # names of sources only (SOMA_MEMORY_*, contract keys, default), never values
    log.info("effective configuration",
             extra={"config": {**settings.redacted(),
                               "sources": contract.sources(os.environ, list(settings.redacted()))}})
    where = f"http://{settings.host}:{settings.port}"
    if settings.embedded:
        log.info("embedded default: SQLite at %s, no broker (events stay in the outbox)",
                 settings.effective_database_url.removeprefix("sqlite:///"))
    if not settings.auth_enabled:
        log.warning("no tokens configured: serving the single namespace %r WITHOUT authentication "
                    "on loopback only (%s)", settings.default_namespace, where)
    log.info("memory service listening on %s", where)


def serve(settings: Settings) -> None:
    """Run the production WSGI server (waitress) until interrupted."""
    import waitress
    from memory.api import create_app
    from memory.api.logs import configure
    configure(settings.log_level)
    svc = build_service(settings, background=True)
    stop = threading.Event()
    if settings.kafka_bootstrap and settings.relay_in_process:
        relay = build_relay(settings, svc.store)
        threading.Thread(target=relay.run, args=(stop,), name="memory-relay", daemon=True).start()
    app = create_app(settings, svc)
    announce(settings)
    try:
        waitress.serve(app, host=settings.host, port=settings.port, threads=settings.threads,
                       ident="memory", clear_untrusted_proxy_headers=True, _quiet=True)
    finally:
        stop.set()
        svc.stop()
