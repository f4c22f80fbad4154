"""Argv builder for the kind CLI (kind cannot run on the build machine; tests assert argv).

`kind create cluster --kubeconfig` is not used on purpose: kind's default writes the
`kind-<name>` context into the operator's kubeconfig, which is what they expect afterwards.
"""

from __future__ import annotations

import pathlib
from typing import Sequence


class Kind:
    def __init__(self, runner, binary: str = "kind"):
        self.runner = runner
        self.binary = binary

    def argv_get_clusters(self) -> list[str]:
        return [self.binary, "get", "clusters"]

    def argv_delete(self, name: str) -> list[str]:
        return [self.binary, "delete", "cluster", "--name", name]

    def argv_create(self, name: str, config: pathlib.Path, wait_s: int) -> list[str]:
        return [self.binary, "create", "cluster", "--name", name, "--config", str(config),
                "--wait", f"{int(wait_s)}s"]

    def argv_load(self, images: Sequence[str], name: str) -> list[str]:
        # kind takes several images at once, but the preloader passes one per call so each
        # load is timed; kind itself skips nodes that already hold the same image ID.
        return [self.binary, "load", "docker-image", *images, "--name", name]

    def clusters(self) -> list[str]:
        result = self.runner.run(self.argv_get_clusters(), timeout=60)
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def exists(self, name: str) -> bool:
        return name in self.clusters()
