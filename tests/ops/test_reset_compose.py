"""`inv reset --compose` against a private dockerd (host/none networks only)."""

from __future__ import annotations

import uuid

import docker.errors
import pytest
from invoke import Exit

from tasks.reset import run_reset
from tests.ops.conftest import make_console, make_context, output

pytestmark = pytest.mark.docker

LABEL = "com.docker.compose.project"


@pytest.fixture
def project(docker_daemon):
    """A compose-labelled project and bystanders that must survive: a volume with the
    project's name in it but no label (as `external: true` or a hand-made one would be),
    and another project's container and volume."""
    client = docker_daemon.client()
    name = f"soma-{uuid.uuid4().hex[:6]}"
    named = f"{name}_postgres_data"
    labels = {LABEL: name, "com.docker.compose.service": "cache"}
    client.volumes.create(f"{name}_cache", labels={LABEL: name, "com.docker.compose.volume": "cache"})
    client.volumes.create(named)
    client.containers.run(docker_daemon.image, ["sleep", "300"], name=f"{name}-cache-1", labels=labels,
                          network_mode="none", detach=True, volumes={f"{name}_cache": {"bind": "/data"}})
    client.containers.create(docker_daemon.image, ["true"], name=f"{name}-init-1", labels=labels,
                             network_mode="host")  # created, never started
    other = f"other-{uuid.uuid4().hex[:6]}"
    client.containers.run(docker_daemon.image, ["sleep", "300"], name=other, network_mode="none",
                          labels={LABEL: "someone-else"}, detach=True)
    client.volumes.create(f"{other}_data")
    yield client, name, named, other
    for container in client.containers.list(all=True, filters={"name": other}):
        container.remove(force=True)
    for volume in (f"{other}_data", named):
        try:
            client.volumes.get(volume).remove(force=True)
        except docker.errors.NotFound:
            pass
    client.close()


def compose_context(name: str, dry: bool = False):
    return make_context(dry=dry, soma={"compose": {"project": name}})


def test_compose_reset_removes_only_the_project(project):
    client, name, named, other = project
    console = make_console()

    result = run_reset(compose_context(name), compose=True, docker_client=client, console=console,
                       yes=True)

    assert [(s.name, s.state) for s in result.steps] == [
        ("remove compose containers", "done"),
        ("remove compose networks", "ok"),  # --bridge=none: the project has no networks
        ("remove compose volumes", "done"),
    ]
    assert client.containers.list(all=True, filters={"label": f"{LABEL}={name}"}) == []
    remaining = {v.name for v in client.volumes.list()}
    assert f"{name}_cache" not in remaining
    assert named in remaining and f"{other}_data" in remaining  # no project label: not ours
    assert client.containers.get(other).status == "running"
    assert f"removed 2 container(s)" in output(console)

    again = run_reset(compose_context(name), compose=True, docker_client=client, console=make_console(),
                      yes=True)
    assert again.outcome == "all-set"


def test_compose_dry_run_touches_nothing(project):
    client, name, named, _ = project
    console = make_console()

    result = run_reset(compose_context(name, dry=True), compose=True, docker_client=client,
                       console=console)

    assert result.outcome == "planned"
    assert [s.state for s in result.steps] == ["change", "ok", "change"]
    assert len(client.containers.list(all=True, filters={"label": f"{LABEL}={name}"})) == 2
    assert "docker SDK: containers (label com.docker.compose.project=" in output(console)


def test_a_project_volume_used_outside_the_project_is_a_clear_error(project, docker_daemon):
    client, name, _, other = project
    shared = f"{name}_cache"
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}={name}"}):
        container.remove(force=True)
    user = client.containers.run(docker_daemon.image, ["sleep", "300"], network_mode="none", detach=True,
                                 name=f"{other}-user", volumes={shared: {"bind": "/data"}})
    try:
        with pytest.raises(Exit) as stopped:
            run_reset(compose_context(name), compose=True, docker_client=client, console=make_console(),
                      yes=True)
        message = str(stopped.value.message)
        assert f"volume {shared} cannot be removed" in message
        assert f"{other}-user" in message
        assert client.volumes.get(shared).name == shared
    finally:
        user.remove(force=True)


def test_compose_asks_on_a_terminal_and_refuses_without_one(project):
    client, name, _, _ = project
    with pytest.raises(Exit) as stopped:
        run_reset(compose_context(name), compose=True, docker_client=client, console=make_console(),
                  interactive=False)
    assert "pass --yes" in str(stopped.value.message)
    with pytest.raises(Exit):
        run_reset(compose_context(name), compose=True, docker_client=client, console=make_console(),
                  interactive=True, ask=lambda prompt: "yes")  # the project name, not "yes"
    assert len(client.containers.list(all=True, filters={"label": f"{LABEL}={name}"})) == 2

    done = run_reset(compose_context(name), compose=True, docker_client=client, console=make_console(),
                     interactive=True, ask=lambda prompt: name)
    assert done.outcome == "done"
    assert client.containers.list(all=True, filters={"label": f"{LABEL}={name}"}) == []


def test_compose_evidence_is_written(project, tmp_path):
    client, name, named, _ = project
    ctx = make_context(soma={"compose": {"project": name}, "evidence_dir": str(tmp_path)})

    run_reset(ctx, compose=True, evidence=True, docker_client=client, console=make_console(), yes=True)

    record = next((tmp_path / "sprint-1").glob("reset-*.json")).read_text()
    assert '"compose": true' in record
    assert '"outcome": "ok"' in record


def test_compose_dry_run_without_an_engine_still_shows_the_plan(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    console = make_console()

    result = run_reset(compose_context("soma-none", dry=True), compose=True, console=console)

    assert result.outcome == "planned"
    assert [s.state for s in result.steps] == ["change?"] * 3
    assert "cannot check: cannot reach the docker engine" in output(console)
    with pytest.raises(Exit) as stopped:  # a real run stops, with the same reason
        run_reset(compose_context("soma-none"), compose=True, console=make_console(), yes=True)
    assert stopped.value.code == 1 and "cannot reach the docker engine" in str(stopped.value.message)
