"""Chart.yaml: the seven dependencies, their pins and their conditions (PostgreSQL is no
subchart: CloudNativePG's operator is a release of its own, soma.postgres_operator)."""

from __future__ import annotations

import helm_python as helm
import yaml

from tasks.core import chart
from tasks.core.runner import Runner
from tasks.core.config import MODES, REPO_ROOT
from tasks.core.values import read_values_file

# Each version checked against its repository's index or release tags (docs/chart.md).
EXPECTED = {
    "redis": ("redis-ha", "4.39.0", "https://dandydeveloper.github.io/charts"),
    "strimzi": ("strimzi-kafka-operator", "1.2.0", "https://strimzi.io/charts/"),
    "vault": ("vault", "0.34.1", "https://helm.releases.hashicorp.com"),
    "opa": ("opa-kube-mgmt", "11.0.7", "https://open-policy-agent.github.io/kube-mgmt/charts"),
    "prometheus": ("prometheus", "29.27.0", "https://prometheus-community.github.io/helm-charts"),
    "grafana": ("grafana", "10.5.15", "https://grafana.github.io/helm-charts"),
    "external-secrets": ("external-secrets", "2.9.0", "https://charts.external-secrets.io"),
}
# The Strimzi operator is switched with the Kafka cluster this chart templates for it.
CONDITION = {"strimzi": "kafka"}


def test_engine_reads_every_dependency_with_its_condition():
    with helm.Chart.load(str(chart.CHART_DIR)) as loaded:
        meta = loaded.metadata
        # Nothing is vendored: the engine loads no subchart at all.
        assert loaded.dependencies == []
    assert meta["apiVersion"] == "v2" and meta["name"] == "soma-infra"
    deps = {d.get("alias", d["name"]): d for d in meta["dependencies"]}
    assert set(deps) == set(EXPECTED)
    for alias, (name, version, repo) in EXPECTED.items():
        assert (deps[alias]["name"], deps[alias]["version"], deps[alias]["repository"]) == (name, version, repo)
        assert deps[alias]["condition"] == f"{CONDITION.get(alias, alias)}.enabled"


def test_every_condition_is_a_boolean_in_base_values_and_every_overlay(merged):
    base = yaml.safe_load((chart.CHART_DIR / "values.yaml").read_text())
    for alias in (CONDITION.get(a, a) for a in EXPECTED):
        assert isinstance(base[alias]["enabled"], bool), alias
        for mode, values in merged.items():
            assert isinstance(values[alias]["enabled"], bool), (mode, alias)


def test_no_dependency_tarball_is_committed():
    tracked = Runner(cwd=REPO_ROOT).run(["git", "ls-files", str(chart.CHART_DIR)]).stdout.split()
    assert tracked, "the chart is not tracked by git"
    assert not [p for p in tracked if p.endswith(".tgz") or "/charts/" in p]


def test_every_mode_has_an_overlay_naming_itself():
    for mode in MODES:
        overlay = read_values_file(chart.overlay_path(mode))
        assert overlay["mode"] == mode
