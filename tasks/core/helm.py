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

from tasks.core.errors import OpsError
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

    def global_flags(self) -> list[str]:
        """--kubeconfig and --kube-context as every helm command against the cluster takes them."""
        out = []
        if self.kubeconfig:
            out += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            out += ["--kube-context", self.context]
        return out

    def argv_dependency_build(self, chart: pathlib.Path) -> list[str]:
        return [self.binary, "dependency", "build", str(chart)]

    def argv_repo_list(self) -> list[str]:
        return [self.binary, "repo", "list", "-o", "json"]

    def argv_repo_add(self, name: str, url: str) -> list[str]:
        return [self.binary, "repo", "add", name, url, "--force-update"]

    def repo_urls(self) -> set[str]:
        """URLs of the chart repositories helm knows (`dependency build` needs each added).
        helm exits 1 with "no repositories to show" when none is configured."""
        done = self.runner.run(self.argv_repo_list(), timeout=60, check=False)
        if not done.ok:
            if "no repositories" in (done.stderr + done.stdout):
                return set()
            raise OpsError(f"helm repo list failed: {(done.stderr or done.stdout).strip()[:200]}")
        try:
            return {r["url"].rstrip("/") for r in json.loads(done.stdout or "[]")}
        except (ValueError, TypeError, KeyError) as exc:
            raise OpsError(f"helm repo list printed no JSON list ({exc})") from None

    def argv_upgrade_install(self, release: str, chart: pathlib.Path | str, namespace: str,
                             values: Sequence[pathlib.Path], timeout_s: int,
                             rollback_on_failure: bool = False, version: str | None = None,
                             create_namespace: bool = False) -> list[str]:
        """`version` pins a chart from a repository (`<repo>/<chart>`); `create_namespace` for
        a release whose namespace nothing else creates (an operator's)."""
        argv = [self.binary, "upgrade", "--install", release, str(chart), "-n", namespace]
        if version:
            argv += ["--version", version]
        if create_namespace:
            argv.append("--create-namespace")
        for path in values:
            argv += ["-f", str(path)]
        argv += ["--wait=watcher" if self.v4 else "--wait", "--timeout", f"{int(timeout_s)}s"]
        if rollback_on_failure:
            argv.append("--rollback-on-failure" if self.v4 else "--atomic")
        return argv + self.global_flags()

    def argv_uninstall(self, release: str, namespace: str, timeout_s: int | None = None) -> list[str]:
        argv = [self.binary, "uninstall", release, "-n", namespace, "--ignore-not-found"]
        if timeout_s:
            argv += ["--timeout", f"{int(timeout_s)}s"]
        return argv + self.global_flags()

    def argv_status(self, release: str, namespace: str) -> list[str]:
        return [self.binary, "status", release, "-n", namespace, "-o", "json"] + self.global_flags()

    def status(self, release: str, namespace: str) -> dict:
        """`helm status -o json`, trimmed by `status_summary` (it is meant for evidence)."""
        out = self.runner.run(self.argv_status(release, namespace), timeout=60).stdout
        try:
            return status_summary(json.loads(out))
        except (ValueError, AttributeError) as exc:  # not a JSON object: say so, not a traceback
            raise OpsError(f"helm status printed no JSON release ({exc}): {out[:200]!r}") from None


def detect(runner, kubeconfig: str | None = None, context: str | None = None) -> Helm:
    """A Helm builder with the installed version's flag names; without a readable helm it
    assumes the minimum (3.13), so a plan can still be shown; preflight reports the gap."""
    version = Version(3, 13, 0)
    if runner.which("helm"):
        try:
            version = runner.version("helm")
        except OpsError:
            pass  # the preflight step names the problem; the preview still builds its argv
    return Helm(runner, version, kubeconfig, context)


# What `helm status` shows a person. The JSON form also carries `config` (the values, with
# any passwords in them), `manifest` (rendered Secrets) and, from Helm 4, `info.resources`
# (the live objects, Secrets included), none of which may reach the evidence files that get
# committed: only these keys are kept, and resources by kind and name.
STATUS_KEYS = ("name", "namespace", "version")
INFO_KEYS = ("status", "description", "first_deployed", "last_deployed", "deleted", "notes")
CHART_KEYS = ("name", "version", "appVersion")


def status_summary(release: dict) -> dict:
    summary = {k: release[k] for k in STATUS_KEYS if k in release}
    info = release.get("info") or {}
    if info:
        summary["info"] = {k: info[k] for k in INFO_KEYS if k in info}
        resources = info.get("resources") or {}
        if isinstance(resources, dict) and resources:
            summary["resources"] = {kind: sorted((o.get("metadata") or {}).get("name", "?") for o in objs or [])
                                    for kind, objs in sorted(resources.items())}
    meta = (release.get("chart") or {}).get("metadata") or {}
    if meta:
        summary["chart"] = {k: meta[k] for k in CHART_KEYS if k in meta}
    return summary
