"""What belongs to a compose project, found and removed through the docker SDK.

Ownership is decided by compose's own label (`com.docker.compose.project=<project>`) and
nothing else: a volume with a common name (postgres_data) that compose did not create for
this project, or one declared `external`, carries no such label and is never touched. Containers are removed
with force (stop + remove), then networks, then volumes, so no volume is still in use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from tasks.core.errors import OpsError

PROJECT_LABEL = "com.docker.compose.project"


@dataclass
class ComposeProject:
    # Returns a docker.DockerClient; called on first use, so a plan can be shown (as
    # "cannot check") where no engine is reachable.
    connect: Callable[[], object]
    project: str
    _client: object = field(default=None, init=False, repr=False)

    @property
    def client(self):
        if self._client is None:
            self._client = self.connect()
        return self._client

    @property
    def _filter(self) -> dict:
        return {"label": f"{PROJECT_LABEL}={self.project}"}

    def containers(self) -> list:
        return self.client.containers.list(all=True, filters=self._filter)

    def networks(self) -> list:
        return self.client.networks.list(filters=self._filter)

    def volume_names(self) -> list[str]:
        return sorted(v.name for v in self.client.volumes.list(filters=self._filter))

    def remove_containers(self) -> str:
        names = []
        for container in self.containers():
            names.append(container.name)
            container.remove(force=True)
        return f"removed {len(names)} container(s): {', '.join(names)}"

    def remove_networks(self) -> str:
        names = []
        for network in self.networks():
            names.append(network.name)
            network.remove()
        return f"removed {len(names)} network(s): {', '.join(names)}"

    def remove_volumes(self) -> str:
        import docker.errors

        names = self.volume_names()
        for name in names:
            try:
                self.client.volumes.get(name).remove()
            except docker.errors.NotFound:
                continue
            except docker.errors.APIError as exc:
                users = [c.name for c in self.client.containers.list(all=True, filters={"volume": name})]
                raise OpsError(f"volume {name} cannot be removed ({exc.explanation}); "
                               f"used by containers outside project {self.project}: {', '.join(users) or '?'}") from None
        return f"removed {len(names)} volume(s): {', '.join(names)}"
