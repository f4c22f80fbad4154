"""`inv audit.access`: the allow-shared-infra label against real NetworkPolicies, External Secrets
objects, Vault Kubernetes-auth roles (OpenBao) and RBAC on the real API server."""

from __future__ import annotations

import json
import uuid

from tasks.audit import run_audit
from tasks.day2 import access
from tests.day2.conftest import apply, make_context, new_namespace, set_ready, text

LABEL = {access.LABEL: "true"}


def policy(name: str, ns: str, from_labels: dict) -> dict:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                     "ingress": [{"from": [{"namespaceSelector": {"matchLabels": from_labels}}]}]}}


def test_audit_flags_each_mismatch(kube, eso_installed, vault_server, tmp_path, console):
    shared = new_namespace(kube, "shared")
    ok, no_role, rogue, leaky = (new_namespace(kube, "ok", LABEL), new_namespace(kube, "norole", LABEL),
                                 new_namespace(kube, "rogue"), new_namespace(kube, "leaky", {"team": "legacy"}))
    apply(kube, policy("allow-labelled", shared, LABEL), policy("legacy", shared, {"team": "legacy"}),
          {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pg-0", "namespace": shared, "labels": {"app": "pg"}},
           "spec": {"automountServiceAccountToken": False, "containers": [{"name": "pg", "image": "busybox:1"}]}},
          {"apiVersion": "external-secrets.io/v1", "kind": "SecretStore", "metadata": {"name": "vault", "namespace": ok},
           "spec": {"provider": {"vault": {"server": "http://vault:8200"}}}},
          {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
           "metadata": {"name": "secret-reader", "namespace": shared},
           "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]},
          {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
           "metadata": {"name": "leaky-reads-secrets", "namespace": shared},
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "secret-reader"},
           "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": leaky}]})
    set_ready(kube, "secretstores.external-secrets.io", ok, "vault", True)
    client, mount = vault_server.client(), f"k8s-{uuid.uuid4().hex[:6]}"
    client.sys.enable_auth_method("kubernetes", path=mount)
    # the API server's own (self-signed) certificate stands in for the cluster CA
    ca = open(f"{kube.root}/certs/apiserver.crt").read()
    client.auth.kubernetes.configure(kubernetes_host=kube.server, kubernetes_ca_cert=ca, mount_point=mount,
                                     disable_local_ca_jwt=True)
    client.auth.kubernetes.create_role("ok-app", bound_service_account_names=["default"],
                                       bound_service_account_namespaces=[ok], mount_point=mount)
    client.auth.kubernetes.create_role("rogue-app", bound_service_account_names=["default"],
                                       bound_service_account_namespaces=[rogue], mount_point=mount)
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")})
    report = run_audit(ctx, namespaces=[ok, no_role, rogue, leaky], kubeconfig=kube.kubeconfig, console=console,
                       sets=[f"namespace={shared}"], endpoints={"vault": vault_server.addr},
                       vault_token=vault_server.token, vault_mount=mount, json_path=str(tmp_path / "audit.json"))
    rows = {c.name: c for c in report.checks}
    assert rows[ok].status == "pass", rows[ok].detail
    assert rows[ok].evidence["vault_roles"] == ["ok-app"] and rows[ok].evidence["reachable"]
    assert rows[no_role].status == "warn" and "labelled-but-no-role" in rows[no_role].evidence["flags"]
    assert rows[rogue].status == "fail" and rows[rogue].evidence["flags"] == ["role-but-unlabelled"]
    assert rows[rogue].evidence["reachable"] is False
    assert rows[leaky].status == "fail" and "unlabelled-but-reachable" in rows[leaky].evidence["flags"]
    assert "legacy" in rows[leaky].evidence["reachable_why"]
    reader = rows[f"reads Secrets in {shared}: ServiceAccount:{leaky}/default"]
    assert reader.status == "warn" and "RoleBinding/leaky-reads-secrets -> Role/secret-reader" in reader.detail
    assert report.exit_code == 4
    data = json.loads((tmp_path / "audit.json").read_text())
    assert {c["name"] for c in data["checks"]} == set(rows)
    assert "role-but-unlabelled" in text(console)
    # the Vault token never reaches the report
    assert vault_server.token not in (tmp_path / "audit.json").read_text()


def test_without_any_ingress_policy_every_namespace_reaches_shared_infra(kube, tmp_path, console):
    shared, plain = new_namespace(kube, "open"), new_namespace(kube, "plain")
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")})
    report = run_audit(ctx, namespaces=[plain], kubeconfig=kube.kubeconfig, console=console,
                       sets=[f"namespace={shared}"])
    row = next(c for c in report.checks if c.name == plain)
    assert row.status == "fail" and row.evidence["flags"] == ["unlabelled-but-reachable"]
    assert "no Ingress NetworkPolicy" in row.evidence["reachable_why"]
    assert next(c for c in report.checks if c.area == "vault").status == "skip"


def test_reachability_rules():
    pods = [{"metadata": {"labels": {"app": "pg"}}}]
    deny_all = [{"metadata": {"name": "deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}]
    assert access.reachable_from(deny_all, pods, "x", {}, "shared")[0] is False
    allow_all = [{"metadata": {"name": "all"}, "spec": {"podSelector": {}, "ingress": [{}]}}]
    assert access.reachable_from(allow_all, pods, "x", {}, "shared")[0] is True
    any_ns = [{"metadata": {"name": "any"}, "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}}]}]}}]
    assert access.reachable_from(any_ns, pods, "x", {}, "shared")[0] is True
    only_pg = [{"metadata": {"name": "pg"}, "spec": {"podSelector": {"matchLabels": {"app": "pg"}},
                                                       "policyTypes": ["Ingress"]}}]
    other_pod = pods + [{"metadata": {"labels": {"app": "redis"}}}]
    assert access.reachable_from(only_pg, other_pod, "x", {}, "shared")[0] is True  # redis is unprotected
    same_ns = [{"metadata": {"name": "self"}, "spec": {"podSelector": {}, "ingress": [{"from": [{"podSelector": {}}]}]}}]
    assert access.reachable_from(same_ns, pods, "x", {}, "shared")[0] is False
    expr = [{"metadata": {"name": "e"}, "spec": {"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {
        "matchExpressions": [{"key": access.LABEL, "operator": "In", "values": ["true"]}]}}]}]}}]
    assert access.reachable_from(expr, pods, "x", LABEL, "shared")[0] is True
    assert access.reachable_from(expr, pods, "x", {}, "shared")[0] is False
