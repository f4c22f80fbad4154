"""Every dependency condition false (and the chart's own PostgreSQL off): the chart's own
templates still lint, render and validate, and publish no service endpoint."""

from __future__ import annotations

import pytest

from tasks.core import chart
from tasks.core.config import MODES

from .conftest import by_kind

SUBCHARTS = ["redis", "kafka", "vault", "opa", "prometheus", "grafana", "external-secrets"]
ALIASES = SUBCHARTS + ["postgres"]  # postgres: the chart's own Cluster and Pooler


def test_conditions_come_from_chart_yaml():
    assert chart.dependency_conditions() == [f"{a}.enabled" for a in SUBCHARTS]
    assert chart.conditions_off() == {a: {"enabled": False} for a in ALIASES}


@pytest.mark.parametrize("mode", MODES)
def test_lint_render_and_validate_with_every_condition_false(mode, rendered):
    values = chart.check_values(mode, subcharts=False)
    assert not any(values[a]["enabled"] for a in ALIASES)
    report = chart.lint(mode, subcharts=False)
    assert all(m["severity"] < chart.LINT_WARNING for m in report.messages)
    off = chart.render(mode, subcharts=False)
    docs = off.documents()
    assert chart.validate_manifests(docs, chart.KUBE_VERSION) == len(docs)
    data = by_kind(off, "ConfigMap")["sharedinfra-endpoints"]["data"]
    assert data == {"SOMA_INFRA_MODE": mode, "SOMA_INFRA_NAMESPACE": "soma-infra", "SOMA_INFRA_SERVICES": ""}
    # The namespace's access policy does not depend on which services run; only the path
    # from the CloudNativePG operator to the PostgreSQL instances goes with PostgreSQL.
    operator_path = "sharedinfra-soma-infra-allow-postgres-operator"
    full = by_kind(rendered[mode], "NetworkPolicy")
    assert operator_path in full and by_kind(off, "NetworkPolicy") == {k: v for k, v in full.items() if k != operator_path}
    assert not by_kind(off, "Cluster") and not by_kind(off, "Pooler")
    assert "Services enabled: none" in off.notes
