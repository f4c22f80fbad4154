"""An operator that is a helm release of its own, installed before the shared-infra release.

CloudNativePG's chart renders its CRDs as templates, and helm resolves every kind of a
release before it applies anything: a `Cluster` cannot ship in the release that installs
the CRD. So, as helmfile users do with `needs:`, `kind.deploy` installs the operator release
first, waits until its CRDs are Established, then installs soma-infra.

    op = Operator.from_config(cfg)           # soma.postgres_operator (invoke.yaml)
    op.chart_ref                             # <helm repo name>/<chart>
    op.drift(kubectl)                        # '' when the stored release already matches
    op.argv_wait_crds(kubectl, timeout_s)    # kubectl wait --for=condition=Established crd/...
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass

from tasks.core.errors import OpsError
from tasks.core.kubectl import Kubectl
from tasks.core.release import deployed_release, stored_drift
from tasks.core.values import values_from_files


def repo_name(url: str) -> str:
    """A stable helm repository name for a URL: soma-<host and path as a DNS label>."""
    host_path = url.split("://", 1)[-1].rstrip("/").lower()
    return "soma-" + re.sub(r"[^a-z0-9]+", "-", host_path).strip("-")[:50]


@dataclass(frozen=True)
class Operator:
    release: str
    namespace: str
    chart: str
    repository: str
    version: str
    values: pathlib.Path
    crds: tuple[str, ...]

    @classmethod
    def from_config(cls, cfg) -> "Operator | None":
        spec = cfg.values.get("postgres_operator")
        if not spec:
            return None
        return cls(spec["release"], spec["namespace"], spec["chart"], spec["repository"].rstrip("/"),
                   str(spec["version"]), _resolve(cfg, spec["values"]), tuple(spec["crds"]))

    @property
    def chart_ref(self) -> str:
        return f"{repo_name(self.repository)}/{self.chart}"

    def drift(self, kubectl: Kubectl) -> str:
        """Why the operator release needs an upgrade ('' when deployed at this version with
        these values)."""
        return stored_drift(deployed_release(kubectl, self.release, self.namespace), self.version,
                            values_from_files([self.values]), f"values differ from {self.values.name}")

    def image(self) -> str:
        """The operator image our values file pins (what kind.preload must load too)."""
        spec = (values_from_files([self.values]).get("image") or {})
        if not spec.get("repository") or not spec.get("tag"):
            raise OpsError(f"{self.values.name} pins no image.repository and image.tag")
        return f"{spec['repository']}:{spec['tag']}"

    def argv_wait_crds(self, kubectl: Kubectl, timeout_s: int) -> list[str]:
        return kubectl.argv("wait", "--for=condition=Established", *(f"crd/{c}" for c in self.crds),
                            f"--timeout={int(timeout_s)}s")

    def crds_missing(self, kubectl: Kubectl) -> list[str]:
        """The CRDs not yet Established (all of them when the API server lacks them)."""
        missing = []
        for name in self.crds:
            crd = kubectl.get_json("customresourcedefinition", name)
            conditions = ((crd or {}).get("status") or {}).get("conditions") or []
            if not any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions):
                missing.append(name)
        return missing


def _resolve(cfg, path: str) -> pathlib.Path:
    p = pathlib.Path(path)
    return p if p.is_absolute() else cfg.root / p
