"""Tool version probes and gates, parsed in Python (no `--short`, no jq, no `sort -V`).

Each probe is an argv plus a parser from the tool's output to a `Version`:

- kubectl: `kubectl version --client -o json` -> clientVersion.gitVersion (`--short` was
  removed in kubectl 1.28, which broke the original gate exactly at the minimum);
- helm:    `helm version --template {{.Version}}` (same in Helm 3 and 4);
- kind:    `kind version` -> "kind v0.24.0 go1.22.6 linux/amd64";
- docker:  `docker --version` -> "Docker version 28.2.2, build e6534b4" (client only:
  `docker version` exits 1 when the daemon is down even though it printed the client).

`MINIMUMS` holds the gates of the issue: kind 0.24 is the first release whose kindnet
enforces NetworkPolicy, which the chart's label-gated policies rely on.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Callable

from tasks.core.errors import VersionError

MINIMUMS = {"kubectl": "1.28", "helm": "3.13", "kind": "0.24", "docker": "24.0"}
# The Kubernetes version rendered manifests are checked against (kubernetes-validate's
# schemas), one value for the chart and the onboarding artefacts alike.
KUBERNETES_VERSION = "1.30.0"

_NUMERIC = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A release number; pre-release and build suffixes are kept as text, not compared."""

    major: int
    minor: int = 0
    patch: int = 0
    raw: str = ""

    @classmethod
    def parse(cls, text: str) -> "Version":
        match = _NUMERIC.search(text or "")
        if not match:
            raise VersionError(f"no version number in {text!r}")
        major, minor, patch = (int(g) if g else 0 for g in match.groups())
        return cls(major, minor, patch, raw=text.strip())

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __eq__(self, other) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: "Version") -> bool:
        return self.key < other.key

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def parse_kubectl(stdout: str) -> Version:
    try:
        data = json.loads(stdout)
        return Version.parse(data["clientVersion"]["gitVersion"])
    except (ValueError, KeyError, TypeError) as exc:
        raise VersionError(f"kubectl printed no clientVersion.gitVersion: {exc}") from None


def parse_kind(stdout: str) -> Version:
    # "kind v0.24.0 go1.22.6 linux/amd64": the first token after "kind" is the version.
    match = re.search(r"kind\s+(v?\d+\.\d+(?:\.\d+)?\S*)", stdout or "")
    if not match:
        raise VersionError(f"cannot read a kind version from {stdout.strip()!r}")
    return Version.parse(match.group(1))


def parse_plain(stdout: str) -> Version:
    return Version.parse((stdout or "").strip())


@dataclass(frozen=True)
class Probe:
    argv: tuple[str, ...]
    parse: Callable[[str], Version]


PROBES = {
    "kubectl": Probe(("kubectl", "version", "--client", "-o", "json"), parse_kubectl),
    "helm": Probe(("helm", "version", "--template", "{{.Version}}"), parse_plain),
    "kind": Probe(("kind", "version"), parse_kind),
    "docker": Probe(("docker", "--version"), parse_plain),
}


def probe_for(tool: str) -> Probe:
    """The probe of a known tool, else `<tool> --version` with the first number found."""
    return PROBES.get(tool) or Probe((tool, "--version"), parse_plain)


def helm_is_v4(version: Version) -> bool:
    """Helm 4 renamed flags (`--atomic` -> `--rollback-on-failure`, `--wait=<strategy>`)."""
    return version.major >= 4
