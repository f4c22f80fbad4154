"""`inv drift.check` (real helm template vs the live objects a real helm install made) and
`inv restart.check` (real rollout restarts; the controller-manager completes rollouts of
workloads with no replicas, and one with a replica never gets ready without a kubelet)."""

from __future__ import annotations

import json

import pytest
from invoke import Exit

from tasks import drift as drift_task
from tasks import restart as restart_task
from tasks.drift import run_drift
from tasks.restart import run_restart
from tests.day2.conftest import apply, helm, make_context, new_namespace, text, write_chart


@pytest.fixture
def installed(kube, clients_on_path, tmp_path):
    ns = new_namespace(kube, "drift")
    chart = write_chart(tmp_path / "chart", password="drift-pw-123456")
    helm(clients_on_path, kube.kubeconfig, "install", "tiny", str(chart), "-n", ns)
    return ns, chart


def test_a_fresh_install_is_in_sync(kube, installed, tmp_path, console):
    ns, chart = installed
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "chart": str(chart), "release": "tiny"})
    report = run_drift(ctx, namespaces=[ns], kubeconfig=kube.kubeconfig, console=console,
                       json_path=str(tmp_path / "d.json"))
    assert {c.name: c.status for c in report.checks} == {
        f"{ns}/Secret/tiny-db": "pass", f"{ns}/ConfigMap/tiny-cfg": "pass", f"{ns}/Deployment/tiny-web": "pass"}


def test_edited_and_deleted_objects_are_drift_with_a_readable_diff_and_exit_5(kube, installed, tmp_path, console):
    ns, chart = installed
    kube.kubectl("patch", "configmap", "tiny-cfg", "-n", ns, "-p", json.dumps({"data": {"greeting": "tampered"}}))
    kube.kubectl("patch", "deployment", "tiny-web", "-n", ns, "--type=json", "-p", json.dumps(
        [{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "DEBUG", "value": "1"}}]))
    kube.kubectl("patch", "secret", "tiny-db", "-n", ns, "-p", json.dumps({"stringData": {"password": "rotated-by-hand"}}))
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "chart": str(chart), "release": "tiny"})
    report = run_drift(ctx, namespaces=[ns], kubeconfig=kube.kubeconfig, console=console, show_diff=True)
    rows = {c.name: c for c in report.checks}
    cm = rows[f"{ns}/ConfigMap/tiny-cfg"]
    assert cm.status == "fail" and "-  greeting: hello" in cm.evidence["diff"] and "+  greeting: tampered" in \
        cm.evidence["diff"]
    assert "DEBUG" in rows[f"{ns}/Deployment/tiny-web"].evidence["diff"]
    secret_diff = rows[f"{ns}/Secret/tiny-db"].evidence["diff"]
    assert "sha256:" in secret_diff and "rotated-by-hand" not in secret_diff and "drift-pw-123456" not in secret_diff
    # nothing the server set (uid, resourceVersion, status, managedFields) shows up as drift
    for noise in ("resourceVersion", "managedFields", "uid:", "creationTimestamp", "status:"):
        assert noise not in cm.evidence["diff"]
    assert "+  greeting: tampered" in text(console)
    kube.kubectl("delete", "configmap", "tiny-cfg", "-n", ns)
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "chart": str(chart), "release": "tiny",
                             "namespace": ns, "kubeconfig": kube.kubeconfig})
    with pytest.raises(Exit) as exc:
        drift_task.check(ctx)
    assert exc.value.code == 5


def deployment(name, ns, replicas):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"automountServiceAccountToken": False,
                                           "containers": [{"name": "c", "image": "busybox:1"}]}}}}


def statefulset(name, ns, replicas):
    body = deployment(name, ns, replicas)
    body["kind"], body["spec"]["serviceName"] = "StatefulSet", name
    return body


def test_restart_goes_in_order_and_records_time_to_ready(kube, clients_on_path, tmp_path, console):
    ns = new_namespace(kube, "rst")
    apply(kube, deployment("b-web", ns, 0), deployment("a-api", ns, 0), statefulset("db", ns, 0))
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")})
    report = run_restart(ctx, namespaces=[ns], kubeconfig=kube.kubeconfig, console=console, timeout=60,
                         json_path=str(tmp_path / "r.json"))
    assert [c.name for c in report.checks] == [f"{ns}/statefulset/db", f"{ns}/deployment/a-api",
                                               f"{ns}/deployment/b-web"]
    assert all(c.status == "pass" and c.evidence["seconds_to_ready"] >= 0 for c in report.checks)
    restarted = json.loads(kube.kubectl("get", "deploy", "a-api", "-n", ns, "-o", "json"))
    assert "kubectl.kubernetes.io/restartedAt" in restarted["spec"]["template"]["metadata"]["annotations"]


def test_a_workload_that_does_not_come_back_stops_the_run_and_says_why(kube, clients_on_path, tmp_path, console):
    ns = new_namespace(kube, "rstbad")
    apply(kube, deployment("a-stuck", ns, 1), deployment("b-next", ns, 0))
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "namespace": ns, "kubeconfig": kube.kubeconfig})
    report = run_restart(ctx, console=console, timeout=3)
    rows = {c.name: c for c in report.checks}
    stuck = rows[f"{ns}/deployment/a-stuck"]
    assert stuck.status == "fail" and "0/1 ready after 3s" in stuck.detail and "not scheduled" in stuck.detail
    assert rows[f"{ns}/deployment/b-next"].status == "skip"
    with pytest.raises(Exit) as exc:
        restart_task.check(ctx, timeout="3")
    assert exc.value.code == 4


def test_dry_restart_lists_the_order_and_restarts_nothing(kube, clients_on_path, tmp_path, console):
    ns = new_namespace(kube, "rstdry")
    apply(kube, deployment("web", ns, 0), statefulset("db", ns, 0))
    before = json.loads(kube.kubectl("get", "deploy", "web", "-n", ns, "-o", "json"))["metadata"]["generation"]
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")}, dry=True)
    assert run_restart(ctx, namespaces=[ns], kubeconfig=kube.kubeconfig, console=console) is None
    shown = text(console)
    assert shown.index(f"1. restart {ns}/statefulset/db") < shown.index(f"2. restart {ns}/deployment/web")
    assert json.loads(kube.kubectl("get", "deploy", "web", "-n", ns, "-o", "json"))["metadata"]["generation"] == before


def test_cutover_reads_the_restart_evidence(kube, clients_on_path, tmp_path, console):
    from tasks.cutover import run_cutover
    ns = new_namespace(kube, "rstev")
    apply(kube, deployment("web", ns, 0))
    checks = tmp_path / "cutover.md"
    checks.write_text("| id | check | source | blocks |\n|---|---|---|---|\n"
                      "| R1 | restart resilience | evidence:restart.check:7d | yes |\n")
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "kubeconfig": kube.kubeconfig})
    assert run_cutover(ctx, checklist_path=str(checks), console=console).extra["verdict"] == "NO-GO"
    run_restart(ctx, namespaces=[ns], console=console, evidence=True, timeout=60)
    report = run_cutover(ctx, checklist_path=str(checks), console=console)
    assert report.extra["verdict"] == "GO", report.checks[0].detail
    assert report.checks[0].detail.startswith("restart-check-")
