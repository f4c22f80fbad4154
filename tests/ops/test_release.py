"""Helm's stored release and our readiness gate, against the real kube-apiserver."""

from __future__ import annotations

import json
import time

import pytest
import yaml
from invoke import Exit

from tasks.core.errors import NotConverged
from tasks.core.kubectl import Kubectl
from tasks.core.readiness import readiness, wait_ready
from tasks.core.release import deployed_release, encode_release, release_drift
from tasks.core.values import values_from_files
from tasks.core.runner import RecordingRunner, Runner
from tasks.kind import run_kind
from tests.ops.conftest import RoutingRunner, make_console, make_context, output

pytestmark = pytest.mark.kube


@pytest.fixture
def ns(make_namespace):
    return make_namespace("rel")


@pytest.fixture
def chart(tmp_path):
    root = tmp_path / "chart"
    root.mkdir()
    (root / "Chart.yaml").write_text(yaml.safe_dump({"apiVersion": "v2", "name": "soma-infra", "version": "0.4.0"}))
    (root / "values.yaml").write_text("kafka:\n  controller:\n    replicaCount: 1\n  enabled: true\n")
    (root / "values-dev.yaml").write_text("kafka:\n  controller:\n    replicaCount: 3\n")
    return root


def store_release(cluster, ns: str, revision: int, status: str, chart_version: str, config: dict) -> None:
    """Write a release record the way Helm's Secret storage driver does."""
    body = {"name": "sharedinfra", "namespace": ns, "version": revision, "info": {"status": status},
            "chart": {"metadata": {"name": "soma-infra", "version": chart_version}}, "config": config}
    cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": f"sh.helm.release.v1.sharedinfra.v{revision}", "namespace": ns,
                     "labels": {"owner": "helm", "name": "sharedinfra", "status": status,
                                "version": str(revision)}},
        "data": {"release": encode_release(body)}}))


def kubectl_for(cluster) -> Kubectl:
    return Kubectl(Runner(timeout=60), kubeconfig=cluster.kubeconfig)


def test_release_drift_reads_helms_storage(kube_cluster, ns, chart):
    k = kubectl_for(kube_cluster)
    files = [chart / "values.yaml", chart / "values-dev.yaml"]
    merged = values_from_files(files)
    assert merged == {"kafka": {"controller": {"replicaCount": 3}, "enabled": True}}

    assert release_drift(k, "sharedinfra", ns, chart, files) == "release not installed"
    store_release(kube_cluster, ns, 1, "superseded", "0.3.0", {})
    store_release(kube_cluster, ns, 2, "deployed", "0.4.0", merged)
    assert deployed_release(k, "sharedinfra", ns)["version"] == 2
    assert release_drift(k, "sharedinfra", ns, chart, files) == ""

    (chart / "values-dev.yaml").write_text("kafka:\n  controller:\n    replicaCount: 5\n")
    assert release_drift(k, "sharedinfra", ns, chart, files) == "values differ from the overlay files"
    store_release(kube_cluster, ns, 3, "failed", "0.4.0", values_from_files(files))
    assert release_drift(k, "sharedinfra", ns, chart, files) == "release status is failed"
    store_release(kube_cluster, ns, 4, "deployed", "0.3.9", values_from_files(files))
    assert release_drift(k, "sharedinfra", ns, chart, files) == "chart version 0.3.9 -> 0.4.0"


def wait_for_pod(cluster, ns: str, deadline_s: float = 60) -> str:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        pods = cluster.get_json("pods", "-n", ns)["items"]
        if pods:
            return pods[0]["metadata"]["name"]
        time.sleep(0.5)
    raise AssertionError("the controller-manager created no pod")


def test_readiness_gate_names_each_pod_and_why_then_passes_when_ready(kube_cluster, ns):
    kube_cluster.kubectl("create", "deployment", "cache", "--image=soma-test/busybox:1", "-n", ns)
    pod = wait_for_pod(kube_cluster, ns)  # a real ReplicaSet made it; no scheduler: Pending
    kube_cluster.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": f"{pod}.1", "namespace": ns},
        "involvedObject": {"kind": "Pod", "name": pod, "namespace": ns},
        "reason": "FailedScheduling", "message": "0/0 nodes are available", "type": "Warning"}))
    k = kubectl_for(kube_cluster)

    problems = readiness(k, ns)
    assert list(problems) == [pod]
    assert "phase Pending" in problems[pod]
    assert "event FailedScheduling: 0/0 nodes are available" in problems[pod]
    with pytest.raises(NotConverged) as stuck:
        wait_ready(k, ns, timeout_s=0.5, poll_s=0.1)
    assert f"1 pod(s) in {ns} not ready" in str(stuck.value)
    assert pod in str(stuck.value)

    now = "2026-01-01T00:00:00Z"
    kube_cluster.kubectl("patch", "pod", pod, "-n", ns, "--subresource=status", "--type=merge", "-p", json.dumps({
        "status": {"phase": "Running", "conditions": [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Ready", "status": "True", "lastTransitionTime": now}]}}))
    assert readiness(k, ns) == {}
    assert wait_ready(k, ns, timeout_s=1) == f"every pod in {ns} is ready"


def test_deploy_is_all_set_when_the_stored_release_matches(kube_cluster, cnpg_operator, ns, chart):
    files = [chart / "values.yaml", chart / "values-dev.yaml"]
    store_release(kube_cluster, ns, 1, "deployed", "0.4.0", values_from_files(files))
    recorder = RecordingRunner(tools=("helm",), replies={
        ("helm", "version"): ("v3.16.4", "", 0),
        ("helm", "status"): (json.dumps({"name": "sharedinfra", "version": 1, "info": {"status": "deployed"}}), "", 0)})
    ctx = make_context(soma={"chart": str(chart), "namespace": ns, "kubeconfig": kube_cluster.kubeconfig,
                             "context": "soma-test"})
    console = make_console()

    result = run_kind(ctx, "deploy", mode="dev", runner=RoutingRunner(recorder), console=console)

    assert result.outcome == "done"  # the preflight gate always runs
    assert {s.name: s.state for s in result.steps if s.name != "preflight"} == {
        "helm repo add": "ok", "helm dependency build": "ok",
        # the operator release and its CRDs are there already (the cnpg_operator fixture)
        "helm upgrade --install cnpg (operator)": "ok", "wait for cloudnative-pg CRDs": "ok",
        f"ensure namespace {ns}": "ok", "helm upgrade --install sharedinfra": "ok", "readiness gate": "ok"}
    assert not any(call[:2] == ["helm", "upgrade"] for call in recorder.calls)
    assert result.changes == []
    assert "all set: only checks ran, nothing changed" in output(console)


def test_deploy_stops_at_the_readiness_gate_naming_the_pod(kube_cluster, cnpg_operator, ns, chart):
    kube_cluster.kubectl("create", "deployment", "vault", "--image=soma-test/busybox:1", "-n", ns)
    pod = wait_for_pod(kube_cluster, ns)
    recorder = RecordingRunner(tools=("helm",), replies={
        ("helm", "version"): ("v3.16.4", "", 0),
        ("helm", "upgrade", "--install"): ("", "", 0),
        ("helm", "status"): ("{}", "", 0)})
    ctx = make_context(soma={"chart": str(chart), "namespace": ns, "kubeconfig": kube_cluster.kubeconfig,
                             "context": "soma-test", "timeouts": {"command": 60, "helm": 60, "namespace_delete": 60,
                                                                   "readiness": 1, "pull": 60, "kind_create": 60}})
    console = make_console()

    with pytest.raises(Exit) as stopped:
        run_kind(ctx, "deploy", mode="dev", runner=RoutingRunner(recorder), console=console)

    assert "step 'readiness gate' failed" in str(stopped.value.message)
    assert pod in str(stopped.value.message)
    assert "phase Pending" in output(console)
