"""Version gates and capability checks, each with the reason it matters.

    checks = run_checks(runner, cfg, docker_ping=lambda: client.ping())
    failed = [c for c in checks if c.status == "fail"]

Gates (versions.MINIMUMS) are parsed in Python from each tool's own output. Capability
checks say why they exist, so an operator knows what breaks if they skip the fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Iterable

from tasks.core.errors import OpsError, ToolMissing
from tasks.core.versions import MINIMUMS, Version, helm_is_v4

WHY = {
    "kubectl": "drives every cluster step; >= 1.28 because older clients mis-handle current APIs",
    "helm": "installs the chart; >= 3.13 for `uninstall --ignore-not-found`",
    "kind": "creates the local cluster; >= 0.24 because kindnet enforces NetworkPolicy from 0.24",
    "docker": "kind nodes are docker containers and images are preloaded from docker; >= 24",
}


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail
    found: str = ""
    required: str = ""
    reason: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def tool_check(runner, tool: str) -> tuple[Check, Version | None]:
    minimum = MINIMUMS[tool]
    try:
        found = runner.require(tool, minimum)
    except OpsError as exc:
        return Check(tool, "fail", "", f">= {minimum}", f"{exc}; {WHY[tool]}"), None
    reason = WHY[tool]
    if tool == "helm" and helm_is_v4(found):
        reason = "Helm 4 detected: using --wait=watcher and --rollback-on-failure"
    return Check(tool, "pass", str(found), f">= {minimum}", reason), found


def tool_versions(runner, tools: Iterable[str]) -> dict[str, str]:
    """What each tool reports, for the evidence of a dry run (where no gate runs): the version,
    or why there is none. Never raises: a dry run must work on a bare machine."""
    found = {}
    for tool in tools:
        if not runner.which(tool):
            found[tool] = "not installed"
            continue
        try:
            found[tool] = str(runner.version(tool))
        except OpsError as exc:
            found[tool] = f"unreadable: {str(exc).splitlines()[0]}"
    return found


def run_checks(runner, cfg, tools: Iterable[str] = ("kubectl", "helm", "kind", "docker"),
               docker_ping: Callable[[], object] | None = None) -> tuple[list[Check], dict]:
    """All checks (never raises for a failed check); returns (checks, versions found)."""
    checks, versions = [], {}
    for tool in tools:
        check, version = tool_check(runner, tool)
        checks.append(check)
        if version is not None:
            versions[tool] = version
    if docker_ping is not None:
        try:
            docker_ping()
            checks.append(Check("docker engine", "pass", "reachable", "running",
                                "kind runs its nodes as containers of this engine"))
        except Exception as exc:  # the SDK raises many types; the message is what matters
            checks.append(Check("docker engine", "fail", "unreachable", "running",
                                f"kind needs a running docker engine: {str(exc)[:200]}"))
    for label, path, why in (
        ("kind config", cfg.path("kind_config"), "kind create cluster --config reads it"),
        ("chart", cfg.chart_dir / "Chart.yaml", "helm upgrade --install deploys it"),
        *[(f"values {p.name}", p, f"overlay of mode {cfg.mode}") for p in cfg.values_files],
    ):
        rel = path.relative_to(cfg.root) if path.is_relative_to(cfg.root) else path
        checks.append(Check(label, "pass" if path.is_file() else "fail", str(rel) if path.is_file() else "missing",
                            "file exists", why))
    return checks, versions


def verdict(checks: list[Check], tools: Iterable[str] = tuple(MINIMUMS)) -> OpsError | None:
    """None when every check passed; else one error naming each failed check and why.

    A missing or too-old tool makes it a ToolMissing (exit 127), anything else (engine down,
    a config file missing) a plain OpsError (exit 1).
    """
    failed = [c for c in checks if c.status == "fail"]
    if not failed:
        return None
    message = (f"{len(failed)} check(s) failed: {', '.join(c.name for c in failed)}\n  "
               + "\n  ".join(f"{c.name}: {c.reason}" for c in failed))
    return (ToolMissing if any(c.name in tuple(tools) for c in failed) else OpsError)(message)
