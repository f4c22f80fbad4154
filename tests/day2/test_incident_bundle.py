"""`inv incident.bundle` end to end on the real API server, real helm and real services.

The planted-secret test (mandatory): a value planted in every place a collector reads from —
a Secret, a ConfigMap, a container's env, the logs, the Helm values (and so the rendered
manifest), a DSN in an event message — and none of them, nor their base64, is in the bundle.

Logs come from the kubelet, which does not exist here: the real run records a per-container
error (tested below); for the planted-secret test only `kubectl logs` answers through a seam
with log text, everything else is real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tarfile

import pytest

from tasks.core.runner import Result, Runner
from tasks.day2.analyzers import ANALYZERS
from tasks.incident import run_bundle
from tests.day2.conftest import (apply, crashloop, event, helm, make_context, new_namespace, pod, stage_pod, text,
                                 write_chart)

PLANTED = {
    "secret": "PlantedSecretValue-9f2c",
    "configmap": "PlantedConfigMapDsnPw-41aa",
    "configmap_token": "PlantedConfigToken-77de",
    "env": "PlantedEnvPassword-0b3e",
    "env_url": "PlantedEnvUrlPw-5c1d",
    "log": "PlantedLogPassword-e81f",
    "log_bearer": "PlantedBearerToken-a1b2c3d4",
    "helm": "PlantedHelmValuesPw-3c9a",
    "event": "PlantedEventDsnPw-66f0",
}


class LogsFromSeam(Runner):
    """The real runner, except `kubectl logs`: there is no kubelet to ask, so it answers with
    log text for the current container and an error for the previous one."""

    def __init__(self, lines: str, **kw):
        super().__init__(**kw)
        self.lines = lines
        self.logs_calls: list[list[str]] = []

    def run(self, argv, **kwargs):
        argv = [str(a) for a in argv]
        if argv[0].endswith("kubectl") and "logs" in argv:
            self.logs_calls.append(argv)
            if "--previous" in argv:
                return Result(tuple(argv), "", 'Error from server (BadRequest): previous terminated container "app" '
                                               "not found", 1)
            return Result(tuple(argv), self.lines, "", 0)
        return super().run(argv, **kwargs)


def members(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture
def planted(kube, clients_on_path, tmp_path, eso_installed):
    infra, app = new_namespace(kube, "infra"), new_namespace(kube, "app")
    release = "tiny"
    chart = write_chart(tmp_path / "chart", password=PLANTED["helm"])
    helm(clients_on_path, kube.kubeconfig, "install", release, str(chart), "-n", infra)
    apply(kube,
          {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds", "namespace": app},
           "data": {"password": base64.b64encode(PLANTED["secret"].encode()).decode()}},
          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", "namespace": app},
           "data": {"DATABASE_URL": f"postgresql://app:{PLANTED['configmap']}@sharedinfra-postgres-pooler.soma-infra:5432/app",
                    "settings.yaml": f"log_level: info\nauth:\n  token: {PLANTED['configmap_token']}\n"}},
          pod("web", app, node="node-1", env=[{"name": "DB_PASSWORD", "value": PLANTED["env"]},
                                              {"name": "UPSTREAM",
                                               "value": f"https://svc:{PLANTED['env_url']}@api.example/"}]),
          pod("queued", app),
          event(infra, "pg", "Pod", "pg-0", "BackOff",
                f"connection to postgresql://soma:{PLANTED['event']}@pg:5432/soma refused"))
    stage_pod(kube, app, "web", crashloop())
    return {"infra": infra, "app": app, "release": release}


def test_planted_secrets_never_reach_the_bundle(kube, planted, tmp_path, console, pg_replication, kafka_broker,
                                                openbao_sealable, memory_service):
    log_text = (f"2026-11-29T10:00:00Z connecting with password={PLANTED['log']}\n"
                f"2026-11-29T10:00:01Z GET /v1/x Authorization: Bearer {PLANTED['log_bearer']}\n")
    runner = LogsFromSeam(log_text, timeout=60, cwd=str(tmp_path))
    out = tmp_path / "bundle.tar.gz"
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "evidence")})
    report = run_bundle(ctx, namespaces=[planted["app"]], kubeconfig=kube.kubeconfig, output=str(out),
                        runner=runner, console=console, json_path=str(tmp_path / "analysis.json"),
                        sets=[f"namespace={planted['infra']}", f"release={planted['release']}"],
                        endpoints={"postgres": pg_replication.primary.dsn(), "kafka": kafka_broker.bootstrap,
                                   "vault": openbao_sealable.addr, "memory": memory_service.url})
    files = members(out)
    blob = b"\n".join(files.values())
    for where, value in PLANTED.items():
        for form in (value, base64.b64encode(value.encode()).decode()):
            assert form.encode() not in blob, f"the {where} secret leaked into the bundle"
    # ... and every place was collected, so the test proves something
    assert f"namespaces/{planted['app']}/secrets.json" in files
    assert b'"password": "***"' in files[f"namespaces/{planted['app']}/secrets.json"]
    configmaps = files[f"namespaces/{planted['app']}/configmaps.json"]
    assert b'"DATABASE_URL": "***"' in configmaps and b"token: ***" in configmaps
    # a Secret's public parts (a token Secret's namespace) are not learned as secrets
    assert f'"namespace": "{planted["app"]}"'.encode() in configmaps
    assert b"DB_PASSWORD" in files[f"namespaces/{planted['app']}/pods.json"]
    assert f"logs/{planted['app']}/web/app.log" in files
    assert b"password=***" in files[f"logs/{planted['app']}/web/app.log"]
    assert b"postgresql://soma:***@pg:5432" in files[f"namespaces/{planted['infra']}/events.txt"]
    assert f"helm/{planted['infra']}/tiny/values.json" in files
    assert b"kind: Secret" in files[f"helm/{planted['infra']}/tiny/manifest.yaml"]
    assert runner.logs_calls, "the logs collector never ran"
    # the JSON written with --json is the same analysis as the table
    assert json.loads((tmp_path / "analysis.json").read_text())["checks"][0]["name"] == report.checks[0].name


def test_manifest_and_analysis(kube, planted, tmp_path, console, pg_replication, kafka_broker, openbao_sealable,
                               memory_service):
    out = tmp_path / "b.tar.gz"
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "evidence")})
    report = run_bundle(ctx, namespaces=[planted["app"]], kubeconfig=kube.kubeconfig, output=str(out),
                        console=console, sets=[f"namespace={planted['infra']}", f"release={planted['release']}"],
                        endpoints={"postgres": pg_replication.primary.dsn(), "kafka": kafka_broker.bootstrap,
                                   "vault": openbao_sealable.addr, "memory": memory_service.url})
    files = members(out)
    manifest, analysis = json.loads(files["manifest.json"]), json.loads(files["analysis.json"])
    listed = {f["name"]: f for f in manifest["files"]}
    assert set(listed) == set(files) - {"manifest.json", "analysis.json"}
    for name, entry in listed.items():
        assert entry["size"] == len(files[name]) and entry["sha256"] == hashlib.sha256(files[name]).hexdigest()
        assert entry["collector"]
    collectors = {f["collector"] for f in manifest["files"]}
    assert {"kube-objects", "events", "cluster-objects", "node-conditions", "helm", "probe-postgres",
            "probe-kafka", "probe-vault", "probe-memory"} <= collectors
    for kind in ("deployments", "statefulsets", "daemonsets", "persistentvolumeclaims", "networkpolicies",
                 "externalsecrets", "secretstores", "events"):
        assert f"namespaces/{planted['infra']}/{kind}.json" in files, kind
    assert "cluster/persistentvolumes.json" in files and "cluster/node-conditions.json" in files
    # no kubelet: each container's logs, current and previous, is an error of its own, with the
    # server's answer for a pod bound to a node, and without a call for a pod on no node
    log_errors = [e["error"] for e in manifest["errors"] if e["collector"] == "logs"]
    assert any(e.startswith(f"{planted['app']}/web/app: Error from server") for e in log_errors), log_errors
    assert any(e.startswith(f"{planted['app']}/web/app (previous): Error from server") for e in log_errors)
    assert f"{planted['app']}/queued/app: the pod is on no node, so no kubelet holds its logs" in log_errors
    assert not any(name.startswith("logs/") for name in files)
    assert [a["name"] for a in analysis["analyzers"]] == list(ANALYZERS)
    by_name = {a["name"]: a for a in analysis["analyzers"]}
    assert by_name["crashloopbackoff"]["status"] == "fail"
    assert by_name["crashloopbackoff"]["evidence"][0]["pod"] == f"{planted['app']}/web"
    assert by_name["vault_sealed"]["status"] == "pass"
    for a in analysis["analyzers"]:
        assert a["status"] in ("pass", "warn", "fail", "skip") and "evidence" in a
    assert report.exit_code == 4
    shown = text(console)
    assert "CrashLoopBackOff" in shown and "collector errors" in shown


def test_a_collector_that_fails_does_not_stop_the_bundle(kube, clients_on_path, tmp_path, console):
    """A namespace that does not exist, a release that does not exist, an unreachable Vault:
    each is recorded and the bundle is still written with everything else."""
    out = tmp_path / "partial.tar.gz"
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "evidence")})
    run_bundle(ctx, namespaces=["no-such-ns"], kubeconfig=kube.kubeconfig, output=str(out), console=console,
               sets=["namespace=kube-system", "release=absent"], endpoints={"vault": "http://127.0.0.1:1"})
    files = members(out)
    manifest = json.loads(files["manifest.json"])
    def errors(collector):
        return " | ".join(e["error"] for e in manifest["errors"] if e["collector"] == collector)
    assert "no-such-ns does not exist" in errors("kube-objects")
    assert "absent" in errors("helm")
    assert errors("probe-vault")
    assert "namespaces/kube-system/pods.json" in files and "analysis.json" in files


def test_dry_run_lists_the_collectors_and_writes_nothing(tmp_path, console):
    ctx = make_context(dry=True)
    assert run_bundle(ctx, namespaces=["app"], output=str(tmp_path / "x.tar.gz"), console=console) is None
    assert not (tmp_path / "x.tar.gz").exists()
    shown = text(console)
    assert "collect namespace app" in shown and "dry run" in shown and "probe services" in shown
