"""The docker engine client the tasks use (reset --compose, preload, preflight).

One place turns "no engine" into a clear OpsError, so every task says the same thing.
Connection settings come from the environment (DOCKER_HOST, DOCKER_TLS_VERIFY, ...), as
the docker CLI reads them.
"""

from __future__ import annotations

from tasks.core.errors import OpsError


def connect():
    """A pinged docker.DockerClient, or OpsError("cannot reach the docker engine: ...")."""
    import docker  # imported here: tasks that never touch docker should not pay for it

    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        raise OpsError(f"cannot reach the docker engine: {exc}") from None
    return client


def ping() -> bool:
    """Connect, ping, close: the preflight capability check."""
    client = connect()
    client.close()
    return True
