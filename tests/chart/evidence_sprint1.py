"""Regenerates docs/sprints/sprint-1 evidence with the real helm and kubectl binaries against
the real kube-apiserver of the kube_cluster fixture. Not collected by default (no test_
prefix); run on purpose:

    SOMA_WRITE_EVIDENCE=1 .venv/bin/python -m pytest tests/chart/evidence_sprint1.py -q

1. `inv kind.deploy --mode=dev --evidence` on the chart as committed: helm refuses it,
   because the API server here is 1.20 and the chart's kubeVersion gate says >= 1.30.
2. The same on a copy in build/evidence/ whose kubeVersion gate alone is removed (the server,
   built without a version stamp, reports v0.0.0-master): `helm repo
   add` and `helm dependency build` run for real through the loopback repository
   (tests/chart/chartrepo.py; stand-in subcharts, so no subchart pods exist), the
   CloudNativePG operator release (a stand-in chart carrying stand-in CRDs) and the wait for
   its CRDs, then `helm upgrade --install`, the readiness gate and `helm status`.
Paths in the evidence stay repository-relative: the chart copy and the kubeconfig are put
under ignored folders of the repository (build/, .kube/).
"""

from __future__ import annotations

import os
import shutil

import pytest
from invoke import Exit

from tasks.core import chart, chartlock
from tasks.core.config import REPO_ROOT
from tasks.kind import run_kind, run_status
from tests.chart.chartrepo import ChartRepo
from tests.fixtures.cnpg import operator_from_project, stand_in_chart_files
from tests.ops.conftest import make_console, make_context

pytestmark = [pytest.mark.kube, pytest.mark.skipif(not os.environ.get("SOMA_WRITE_EVIDENCE"),
                                                   reason="writes docs/sprints/sprint-1: set SOMA_WRITE_EVIDENCE=1")]


def test_write_sprint1_evidence(kube_cluster, k8s_clients, monkeypatch, tmp_path):
    build = REPO_ROOT / "build" / "evidence"
    shutil.rmtree(build, ignore_errors=True)
    gated = build / "gated" / "soma-infra"
    lowered = build / "soma-infra"
    for target in (gated, lowered):
        shutil.copytree(chart.CHART_DIR, target, ignore=shutil.ignore_patterns("charts", "tmpcharts*"))
    meta = lowered / "Chart.yaml"
    meta.write_text(meta.read_text().replace('kubeVersion: ">=1.30.0-0"\n', ""))
    (REPO_ROOT / ".kube").mkdir(exist_ok=True)
    kubeconfig = REPO_ROOT / ".kube" / "evidence-config"
    shutil.copy(kube_cluster.kubeconfig, kubeconfig)

    repos: dict = {}
    for dep in chartlock.requirements(lowered):
        repos.setdefault(dep["repository"], []).append((dep["name"], str(dep["version"])))
    # the CloudNativePG operator, its own release installed first: a stand-in with its CRDs
    op = operator_from_project()
    repos.setdefault(op.repository, []).append((op.chart, op.version, stand_in_chart_files()))
    with ChartRepo(tmp_path / "repo", repos) as repo:
        for key, value in repo.helm_env(str(tmp_path / "helm")).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("PATH", os.path.dirname(k8s_clients["helm"]) + os.pathsep + os.environ["PATH"])
        soma = {"kubeconfig": ".kube/evidence-config", "context": "soma-test", "evidence_dir": "docs/sprints",
                "timeouts": {**make_context().config.soma.timeouts, "helm": 120, "readiness": 10}}

        # The committed chart: dependencies built, then helm's kubeVersion gate refuses 1.20.
        with pytest.raises(Exit) as refused:
            run_kind(make_context(soma={**soma, "chart": str(gated.relative_to(REPO_ROOT))}), "deploy", mode="dev", evidence=True,
                     console=make_console())
        assert "which is incompatible with Kubernetes v" in str(refused.value.message)

        # Installed, then the readiness gate names what is not ready: the operators' objects,
        # whose pods no operator creates here (no kubelet, no operator pods).
        with pytest.raises(Exit) as gate:
            run_kind(make_context(soma={**soma, "chart": str(lowered.relative_to(REPO_ROOT))}), "deploy", mode="dev",
                     evidence=True, console=make_console())
        said = str(gate.value.message)
        assert "step 'readiness gate' failed" in said
        for name in ("Cluster/sharedinfra-postgres", "Pooler/sharedinfra-postgres-pooler", "Kafka/sharedinfra-kafka"):
            assert name in said, said
        console = make_console()
        rows = run_status(make_context(soma={**soma, "chart": str(lowered.relative_to(REPO_ROOT))}), console=console)
    assert ("helm release sharedinfra", "ok") in [r[:2] for r in rows]
    (REPO_ROOT / "docs" / "sprints" / "sprint-1" / "kind-status-dev.txt").write_text(console.export_text())
    kubeconfig.unlink()
