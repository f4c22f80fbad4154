"""One real server per database kind for the module; extra servers per test when a test
needs its own settings (a low rate limit)."""

from __future__ import annotations

import pytest

from tests.client.server import Server, database_url, migrated, service_env


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    url = migrated(database_url(request.param, tmp_path_factory, request))
    srv = Server(service_env(url), str(tmp_path_factory.mktemp("client-log") / "serve.log"))
    srv.kind = request.param
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path_factory, request):
    started = []

    def make(kind: str = "sqlite", **settings: str) -> Server:
        url = migrated(database_url(kind, tmp_path_factory, request))
        srv = Server(service_env(url, **settings), str(tmp_path_factory.mktemp("client-log") / "serve.log"))
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()
