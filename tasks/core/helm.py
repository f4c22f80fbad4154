"""Argv builder for the Helm CLI, Helm 3 (>= 3.13) and Helm 4 flag names.

The Helm CLI cannot run on the build machine, so everything here is an argv list a Runner
executes; tests assert the exact lists through a RecordingRunner. Differences handled:

- wait: Helm 3 `--wait`; Helm 4 `--wait=watcher` (explicit: bare `--wait` means watcher,
  omitting it means hooks only);
- rollback: Helm 3 `--atomic`; Helm 4 `--rollback-on-failure` (`--atomic` is deprecated);
- uninstall: `--ignore-not-found` (Helm >= 3.13, our minimum) so not-found is success
  without swallowing real errors the way `|| true` did.
"""

from __future__ import annotations

import json
import pathlib
from typing import Sequence

from tasks.core.versions import Version, helm_is_v4


class Helm:
    def __init__(self, runner, version: Version | None = None, kubeconfig: str | None = None,
                 context: str | None = None, binary: str = "helm"):
        self.runner = runner
        self.version = version or Version(3, 13, 0)
        self.kubeconfig = kubeconfig or None
        self.context = context or None
        self.binary = binary

    @property
    def v4(self) -> bool:
        return helm_is_v4(self.version)

    def _globals(self) -> list[str]:
        out = []
        if self.kubeconfig:
            out += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            out += ["--kube-context", self.context]
        return out

    def argv_dependency_build(self, chart: pathlib.Path) -> list[str]:
        return [self.binary, "dependency", "build", str(chart)]

    def argv_upgrade_install(self, release: str, chart: pathlib.Path, namespace: str,
                             values: Sequence[pathlib.Path], timeout_s: int,
                             rollback_on_failure: bool = False) -> list[str]:
        argv = [self.binary, "upgrade", "--install", release, str(chart), "-n", namespace]
        for path in values:
            argv += ["-f", str(path)]
        argv += ["--wait=watcher" if self.v4 else "--wait", "--timeout", f"{int(timeout_s)}s"]
        if rollback_on_failure:
            argv.append("--rollback-on-failure" if self.v4 else "--atomic")
        return argv + self._globals()

    def argv_uninstall(self, release: str, namespace: str, timeout_s: int | None = None) -> list[str]:
        argv = [self.binary, "uninstall", release, "-n", namespace, "--ignore-not-found"]
        if timeout_s:
            argv += ["--timeout", f"{int(timeout_s)}s"]
        return argv + self._globals()

    def argv_status(self, release: str, namespace: str) -> list[str]:
        return [self.binary, "status", release, "-n", namespace, "-o", "json"] + self._globals()

    def release_exists(self, release: str, namespace: str) -> bool:
        result = self.runner.run(self.argv_status(release, namespace), check=False, timeout=60)
        if result.ok:
            return True
        if "not found" in result.stderr:
            return False
        raise self.runner.failure(result) if hasattr(self.runner, "failure") else RuntimeError(result.stderr)

    def status(self, release: str, namespace: str) -> dict:
        return json.loads(self.runner.run(self.argv_status(release, namespace), timeout=60).stdout)
