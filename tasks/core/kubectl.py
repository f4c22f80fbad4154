"""Thin argv builder over a Runner for kubectl (every call is `kubectl [global flags] ...`).

    k = Kubectl(runner, kubeconfig="/path/kubeconfig", context="kind-soma")
    k.argv("get", "ns")          # ['kubectl', '--kubeconfig', ..., '--context', ..., 'get', 'ns']
    k.get_json("namespace", "soma-infra")   # dict, or None when NotFound
    k.run("delete", "namespace", "x", "--wait=false")

Output is JSON wherever it is parsed; "not found" is an answer (None/False), not an error.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from tasks.core.runner import Result


def _not_found(result: Result) -> bool:
    # Only the server's answer counts: "context was not found" is a configuration error.
    return result.exit_code != 0 and "(NotFound)" in result.stderr


class Kubectl:
    def __init__(self, runner, kubeconfig: str | None = None, context: str | None = None,
                 timeout: float = 60, binary: str = "kubectl"):
        self.runner = runner
        self.kubeconfig = kubeconfig or None
        self.context = context or None
        self.timeout = timeout
        self.binary = binary

    def argv(self, *args: str) -> list[str]:
        out = [self.binary]
        if self.kubeconfig:
            out += ["--kubeconfig", str(self.kubeconfig)]
        if self.context:
            out += ["--context", self.context]
        return out + [str(a) for a in args]

    def run(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float | None = None) -> Result:
        return self.runner.run(self.argv(*args), check=check, input=input,
                               timeout=self.timeout if timeout is None else timeout)

    def target(self) -> str:
        """The context these commands act on, so a destructive plan can name its cluster."""
        if self.context:
            return self.context
        return self.run("config", "current-context", check=False).stdout.strip() or "(no current context)"

    def get_json(self, kind: str, name: str | None = None, namespace: str | None = None,
                 selector: str | None = None) -> Any:
        args = ["get", kind] + ([name] if name else []) + ["-o", "json"]
        if namespace:
            args += ["-n", namespace]
        if selector:
            args += ["-l", selector]
        result = self.run(*args, check=False)
        if name and _not_found(result):
            return None
        if not result.ok:
            raise self.runner.failure(result)
        return json.loads(result.stdout)

    def exists(self, kind: str, name: str, namespace: str | None = None) -> bool:
        return self.get_json(kind, name, namespace) is not None

    def apply_json(self, manifest: dict) -> Result:
        """Apply a manifest through stdin (server-side validation, idempotent)."""
        return self.run("apply", "-f", "-", input=json.dumps(manifest))

    def replace_raw(self, path: str, body: dict) -> Result:
        return self.run("replace", "--raw", path, "-f", "-", input=json.dumps(body))

    def api_resources(self, namespaced: bool = True, verbs: Sequence[str] = ("list",)) -> list[str]:
        """Resource names (kind.group) that are namespaced and support the verbs."""
        result = self.run("api-resources", f"--namespaced={str(namespaced).lower()}",
                          f"--verbs={','.join(verbs)}", "-o", "name", check=False)
        # Exit 1 with partial output happens when an aggregated API is unavailable.
        return [line.strip() for line in result.stdout.splitlines() if line.strip()]

    def version_json(self) -> dict:
        return json.loads(self.run("version", "-o", "json", check=False).stdout or "{}")
