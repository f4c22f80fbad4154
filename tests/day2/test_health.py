"""`inv health.snapshot` on the real API server with real services: rows, reasons, JSON = table, exit codes."""

from __future__ import annotations

import json

import pytest
from invoke import Exit

from tasks.health import run_health, snapshot
from tests.day2.conftest import apply, helm, make_context, new_namespace, pod, stage_pod, text, unschedulable, \
    write_chart


def deployment(name: str, ns: str, replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"automountServiceAccountToken": False,
                                           "containers": [{"name": "c", "image": "busybox:1"}]}}}}


def wait_for(predicate, timeout=30):
    import time
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError("condition not met in time")


@pytest.fixture
def released(kube, clients_on_path, tmp_path):
    infra = new_namespace(kube, "hinfra")
    helm(clients_on_path, kube.kubeconfig, "install", "tiny", str(write_chart(tmp_path / "chart")), "-n", infra)
    # replicas 0: the controller reports it rolled out with no kubelet
    wait_for(lambda: json.loads(kube.kubectl("get", "deploy", "tiny-web", "-n", infra, "-o", "json"))
             .get("status", {}).get("observedGeneration") == 1)
    return infra


def test_all_green_snapshot_passes_and_json_matches_the_table(kube, released, tmp_path, console, pg_replication,
                                                               kafka_lag, openbao_sealable, memory_service):
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")})
    report = run_health(ctx, kubeconfig=kube.kubeconfig, sets=[f"namespace={released}", "release=tiny"],
                        json_path=str(tmp_path / "health.json"), console=console,
                        endpoints={"postgres": pg_replication.primary.dsn(), "vault": openbao_sealable.addr,
                                   "memory": memory_service.url})
    rows = {(c.area, c.name): c for c in report.checks}
    assert rows[("helm", "release tiny")].status == "pass"
    assert rows[("workloads", released)].status == "pass"
    assert rows[("postgres", "replication lag")].status == "pass"
    assert rows[("vault", "Vault sealed")].status == "pass" and rows[("vault", "health")].status == "pass"
    assert rows[("memory", "readiness")].status == "pass"
    assert rows[("kafka", "consumer lag")].status == "skip"  # not configured: not looked at, not "pass"
    data = json.loads((tmp_path / "health.json").read_text())
    shown = text(console)
    assert [(c["area"], c["name"], c["status"]) for c in data["checks"]] == \
        [(c.area, c.name, c.status) for c in report.checks]
    for c in data["checks"]:
        row = next(line for line in shown.splitlines() if f" {c['name']} " in line)
        assert f" {c['status']} " in row and c["area"] in row


def test_problems_give_fail_rows_with_reasons_and_exit_4(kube, released, tmp_path, console, kafka_lag,
                                                         openbao_sealable):
    app = new_namespace(kube, "happ")
    apply(kube, deployment("api", app, 1))
    wait_for(lambda: json.loads(kube.kubectl("get", "pods", "-n", app, "-o", "json"))["items"])
    name = json.loads(kube.kubectl("get", "pods", "-n", app, "-o", "json"))["items"][0]["metadata"]["name"]
    stage_pod(kube, app, name, unschedulable())
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")})
    ctx.config.day2.thresholds.consumer_lag = {"warn": 1, "fail": 5}  # mode test keeps these
    with openbao_sealable.sealed():
        report = run_health(ctx, mode="test", namespaces=[app], kubeconfig=kube.kubeconfig, console=console,
                            sets=[f"namespace={released}", "release=tiny"],
                            endpoints={"kafka": kafka_lag.bootstrap, "vault": openbao_sealable.addr})
    rows = {(c.area, c.name): c for c in report.checks}
    api = rows[("workloads", f"{app}/Deployment/api")]
    assert api.status == "fail" and "0/1 ready" in api.detail and "Insufficient memory" in api.detail
    assert rows[("vault", "Vault sealed")].status == "fail"
    assert rows[("kafka", "consumer lag")].status == "fail"  # the fixture's lagging group: 7 >= 5
    assert report.exit_code == 4


def test_a_missing_release_fails_and_the_task_exits_4(kube, clients_on_path, tmp_path, monkeypatch):
    ns = new_namespace(kube, "empty")
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "namespace": ns, "release": "nothing",
                             "kubeconfig": kube.kubeconfig})
    with pytest.raises(Exit) as exc:
        snapshot(ctx)
    assert exc.value.code == 4 and "fail" in exc.value.message


def test_the_real_inv_cli_exits_4_writes_json_and_honours_context(kube, clients_on_path, tmp_path):
    """Through `inv` itself: flags parse (-n repeatable, --context, --json), the exit code is 4."""
    import os
    import pathlib
    import sys

    import sh
    from tasks.core.config import REPO_ROOT

    ns = new_namespace(kube, "cli")
    inv = sh.Command(str(pathlib.Path(sys.executable).parent / "inv"))
    env = {**os.environ, "SOMA_EVIDENCE_DIR": str(tmp_path / "ev")}
    out = inv("health.snapshot", "--kubeconfig", kube.kubeconfig, "--context", "soma-test", "-n", ns, "-n", ns,
              "--set", f"namespace={ns}", "--set", "release=nothing", "--json", str(tmp_path / "h.json"),
              _cwd=str(REPO_ROOT), _env=env, _ok_code=list(range(256)), _return_cmd=True, _tty_out=False)
    assert out.exit_code == 4, out.stderr.decode()
    data = json.loads((tmp_path / "h.json").read_text())
    assert data["context"] == "soma-test" and data["namespaces"] == [ns]
    assert "health.snapshot: fail" in out.stderr.decode()
    wrong = inv("health.snapshot", "--kubeconfig", kube.kubeconfig, "--context", "no-such-context",
                _cwd=str(REPO_ROOT), _env=env, _ok_code=list(range(256)), _return_cmd=True, _tty_out=False)
    assert wrong.exit_code == 1 and "no-such-context" in wrong.stderr.decode()
