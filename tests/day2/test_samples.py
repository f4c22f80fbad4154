"""The sprint-4 samples, produced by the tasks themselves: a bundle's manifest.json and
analysis.json, the access audit, the DR drill record.

Always runs into tmp_path and checks what a committed sample must satisfy (no machine paths,
no secrets). With SOMA_DAY2_SAMPLES=docs/sprints/sprint-4 it also writes them there.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import re
import shutil
import tarfile
import tempfile

from tasks.audit import run_audit
from tasks.core.config import REPO_ROOT
from tasks.dr import run_drill
from tasks.incident import run_bundle
from tests.day2.conftest import (apply, crashloop, event, helm, make_context, new_namespace, oomkilled, pod,
                                 set_ready, stage_pod, unschedulable, write_chart)

SECRET = "SampleSecretValue-31337"
# this machine's own places (temp, home, the checkout's parent), not a fixed list of paths
MACHINE = re.compile("|".join(re.escape(f"{p}/") for p in (
    pathlib.Path(tempfile.gettempdir()), pathlib.Path.home(), REPO_ROOT.parent)) + "|pytest-of-")


def check_clean(path: pathlib.Path) -> None:
    body = path.read_text()
    assert not MACHINE.search(body), f"{path.name} holds a machine path: {MACHINE.search(body).group(0)}"
    assert SECRET not in body and base64.b64encode(SECRET.encode()).decode() not in body


def test_samples(kube, clients_on_path, tmp_path, console, pg_replication, kafka_lag, openbao_sealable,
                 memory_service, postgres_server, vault_server, eso_installed):
    allow = {"soma.sh/allow-shared-infra": "true"}
    infra, app = new_namespace(kube, "soma-infra"), new_namespace(kube, "agent-app", allow)
    legacy, batch = new_namespace(kube, "legacy-tool", {"team": "legacy"}), new_namespace(kube, "batch-jobs", allow)
    helm(clients_on_path, kube.kubeconfig, "install", "sharedinfra", str(write_chart(tmp_path / "chart", SECRET)),
         "-n", infra)
    apply(kube, pod("web-0", app, env=[{"name": "DB_PASSWORD", "value": SECRET}]), pod("worker-0", app),
          pod("pg-1", infra),
          event(infra, "pg-1", "Pod", "pg-1", "FailedScheduling", "0/3 nodes are available: 3 Insufficient memory."),
          event(app, "web-0", "Pod", "web-0", "BackOff", "Back-off restarting failed container app"))
    apply(kube, *[{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": {"name": name, "namespace": infra},
                   "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": labels}}]}]}}
                  for name, labels in (("allow-labelled", allow), ("legacy-exception", {"team": "legacy"}))],
          {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
           "metadata": {"name": "db", "namespace": app},
           "spec": {"secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"}, "target": {"name": "db"},
                    "data": [{"secretKey": "password", "remoteRef": {"key": "agent-app/db", "property": "password"}}]}})
    set_ready(kube, "externalsecrets.external-secrets.io", app, "db", False,
              "could not get secret data from provider: permission denied")
    client, mount = vault_server.client(), "kubernetes-sample"
    if mount + "/" not in client.sys.list_auth_methods()["data"]:
        client.sys.enable_auth_method("kubernetes", path=mount)
    client.auth.kubernetes.configure(kubernetes_host=kube.server, mount_point=mount, disable_local_ca_jwt=True,
                                     kubernetes_ca_cert=open(f"{kube.root}/certs/apiserver.crt").read())
    client.auth.kubernetes.create_role("agent-app", bound_service_account_names=["default"],
                                       bound_service_account_namespaces=[app], mount_point=mount)
    client.auth.kubernetes.create_role("legacy-tool", bound_service_account_names=["default"],
                                       bound_service_account_namespaces=[legacy], mount_point=mount)
    stage_pod(kube, app, "web-0", crashloop())
    stage_pod(kube, app, "worker-0", oomkilled())
    stage_pod(kube, infra, "pg-1", unschedulable())
    memory_service.write(2)
    out_dir = tmp_path / "samples"
    out_dir.mkdir()
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "sprint": 4})
    bundle = tmp_path / "incident-sample.tar.gz"
    run_bundle(ctx, namespaces=[app], kubeconfig=kube.kubeconfig, output=str(bundle), console=console,
               sets=[f"namespace={infra}", "release=sharedinfra"],
               endpoints={"postgres": pg_replication.primary.dsn(), "kafka": kafka_lag.bootstrap,
                          "vault": openbao_sealable.addr, "memory": memory_service.url})
    with tarfile.open(bundle) as tar:
        for member in tar.getmembers():
            if member.name.endswith(("/manifest.json", "/analysis.json")):
                (out_dir / f"incident-bundle-{member.name.rsplit('/', 1)[1]}").write_bytes(tar.extractfile(member).read())
    run_audit(ctx, kubeconfig=kube.kubeconfig, console=console, sets=[f"namespace={infra}"],
              namespaces=[app, legacy, batch], json_path=str(out_dir / "audit-access.json"),
              endpoints={"vault": vault_server.addr}, vault_token=vault_server.token, vault_mount=mount)
    import psycopg
    dsn = postgres_server.create_database("soma_memory")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE memories (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO memories SELECT g, md5(g::text) FROM generate_series(1, 1000) g")
    vault_server.client().secrets.kv.v2.create_or_update_secret(path="sample/app", secret={"password": SECRET})
    run_drill(make_context(soma={"evidence_dir": str(out_dir / "ev"), "sprint": 4}), output=str(tmp_path / "dr"),
              console=console, vault_token=vault_server.token,
              endpoints={"postgres": dsn, "vault": vault_server.addr, "kafka": kafka_lag.bootstrap})
    drill = next((out_dir / "ev" / "sprint-4").glob("dr-drill-*.json"))
    shutil.move(drill, out_dir / drill.name)
    written = {p.name for p in out_dir.glob("*.json")}
    assert {"audit-access.json", "incident-bundle-manifest.json", "incident-bundle-analysis.json",
            drill.name} == written
    analysis = json.loads((out_dir / "incident-bundle-analysis.json").read_text())
    assert {a["name"]: a["status"] for a in analysis["analyzers"]}["crashloopbackoff"] == "fail"
    for path in out_dir.glob("*.json"):
        check_clean(path)
    target = os.environ.get("SOMA_DAY2_SAMPLES")
    if target:
        dest = REPO_ROOT / target
        dest.mkdir(parents=True, exist_ok=True)
        for path in out_dir.glob("*.json"):
            shutil.copy(path, dest / path.name)
