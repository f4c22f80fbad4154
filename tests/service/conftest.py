"""Service test helpers: settings, a service+app on a fresh database, PostgreSQL databases."""

from __future__ import annotations

import itertools
import os
import sys

import pytest
import sh

from memory import runtime
from memory.api import create_app
from memory.config import Settings, Token
from memory.store import Store

DIM = 16
_counter = itertools.count()

TOKENS = {
    "tok-alpha-rw": Token("alpha", frozenset({"read", "write"})),
    "tok-alpha-ro": Token("alpha", frozenset({"read"})),
    "tok-alpha-admin": Token("alpha", frozenset({"admin"})),
    "tok-beta-rw": Token("beta", frozenset({"read", "write"})),
}


def memory_cli(env: dict, *args: str):
    """`python -m memory <args>` with this environment's SOMA_MEMORY_* replaced by `env`;
    the finished command (exit code 0 or 1, stdout, stderr) for the test to judge."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SOMA_MEMORY_")}
    return sh.Command(sys.executable)("-m", "memory", *args, _env={**base, **env}, _ok_code=[0, 1],
                                      _return_cmd=True, _timeout=60)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


class Running:
    """A started service, its Flask app and test client; closed by the fixture."""

    def __init__(self, settings: Settings, store: Store, follow: bool = False):
        self.settings = settings
        self.store = store
        self.service = runtime.build_service(settings, follow=follow, store=store)
        self.app = create_app(settings, self.service)
        self.client = self.app.test_client()

    def close(self):
        self.service.stop()
        self.store.close()


@pytest.fixture
def make_running(tmp_path_factory):
    opened = []

    def make(url: str | None = None, *, migrate: bool = True, follow: bool = False, **overrides):
        data_dir = str(tmp_path_factory.mktemp("soma-mem-"))  # pytest removes old ones
        settings = Settings(data_dir=data_dir, database_url=url or "", dim=overrides.pop("dim", DIM),
                            **overrides)
        store = Store(settings.effective_database_url)
        if migrate:
            store.migrate()
        running = Running(settings, store, follow=follow)
        opened.append(running)
        return running

    yield make
    for r in opened:
        r.close()


@pytest.fixture
def sqlite_app(make_running):
    return make_running()


@pytest.fixture
def tenant_app(make_running):
    return make_running(tokens=TOKENS)


@pytest.fixture
def pg_url(postgres_server):
    """A fresh, empty database on the session cluster (SQLAlchemy URL)."""
    name = f"svc{next(_counter)}"
    postgres_server.create_database(name)
    return postgres_server.url(name)


def vec(seed: int, dim: int = DIM) -> list[float]:
    import numpy as np
    rng = np.random.default_rng(seed)
    return [float(x) for x in rng.normal(size=dim)]


def drain_topic(bootstrap: str, topic: str, want: int, timeout: float = 20) -> list:
    """Up to `want` messages of `topic`, read from the start by a fresh consumer group."""
    import time
    import uuid

    from confluent_kafka import Consumer

    from memory.events.consumer import consumer_config

    c = Consumer(consumer_config(bootstrap, f"reader-{uuid.uuid4().hex[:6]}"))
    c.subscribe([topic])
    got, deadline = [], time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            got.append(m)
    c.close()
    return got
