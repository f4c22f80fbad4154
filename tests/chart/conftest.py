"""Shared, session-scoped renders of the soma-infra chart (the Helm engine runs in-process)."""

from __future__ import annotations

import pytest
import yaml

from tasks.core import chart
from tasks.core.config import MODES


@pytest.fixture(scope="session")
def rendered() -> dict[str, chart.Rendered]:
    """The chart's own manifests for every mode, rendered once per session."""
    return {mode: chart.render(mode) for mode in MODES}


@pytest.fixture(scope="session")
def merged() -> dict[str, dict]:
    """values.yaml coalesced with each overlay by the Helm engine."""
    return {mode: chart.merged_values(mode) for mode in MODES}


def by_kind(rendered_mode: chart.Rendered, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in rendered_mode.documents() if d["kind"] == kind}


def write_yaml(path, data) -> str:
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.fixture(scope="session")
def vendored_chart(tmp_path_factory, k8s_clients):
    """A copy of the chart whose charts/ holds stand-in tarballs that real `helm dependency
    build` fetched from the loopback repository (the real subcharts cannot be downloaded
    here: the copy renders the umbrella's own templates, with every dependency present)."""
    import shutil

    import sh

    from tasks.core import chartlock
    from tests.chart.chartrepo import ChartRepo

    root = tmp_path_factory.mktemp("vendored")
    target = root / "soma-infra"
    shutil.copytree(chart.CHART_DIR, target, ignore=shutil.ignore_patterns("charts", "tmpcharts*"))
    repos: dict = {}
    for dep in chartlock.requirements(target):
        repos.setdefault(dep["repository"], []).append((dep["name"], str(dep["version"])))
    helm = sh.Command(k8s_clients["helm"])
    with ChartRepo(root / "repo", repos) as repo:
        env = repo.helm_env()
        for i, url in enumerate(repos):
            helm("repo", "add", f"r{i}", url, _env=env)
        helm("dependency", "build", str(target), _env=env)
    assert chartlock.to_fetch(target) == []
    return target

