"""`inv audit.access`: is the `soma.sh/allow-shared-infra` label telling the truth? (playbook §7)

For every namespace (or the `-n` ones), the label is checked against four facts:
whether the shared-infra NetworkPolicies let it in, its SecretStores and the
ClusterSecretStores it may use (and their Ready condition), the Vault Kubernetes-auth roles
bound to its service accounts, and its ExternalSecrets. Flags:

- `labelled-but-no-role` (warn): allowed, but Vault will refuse it;
- `role-but-unlabelled` (fail): Vault issues it credentials it is not meant to have;
- `unlabelled-but-reachable` (fail): the NetworkPolicies let it in anyway;
- `labelled-but-unreachable` (warn): allowed on paper, blocked on the wire.

Plus one row per subject that can read Secrets in the shared-infra namespace (RBAC), a
warning for any beyond the control plane and the namespace's own service accounts.
"""

from __future__ import annotations

import os

from invoke import task

from tasks.core.plan import Step
from tasks.day2 import access
from tasks.day2.common import HELP, day2_session, endpoint_flags, endpoint_help, finish, raise_for
from tasks.day2.report import FAIL, PASS, SKIP, WARN, Check, Report

SYSTEM_NAMESPACES = ("kube-system", "kube-public", "kube-node-lease")


def audit_namespace(ns: dict, shared_ns: str, policies, pods, stores, cstores, roles, externalsecrets) -> Check:
    name, labels = ns["metadata"]["name"], ns["metadata"].get("labels") or {}
    labelled = labels.get(access.LABEL) == "true"
    reachable, why = access.reachable_from(policies, pods, name, labels, shared_ns)
    store = access.store_status(name, stores, cstores, labels)
    bound = access.roles_for(name, roles) if roles is not None else None
    flags = []
    if labelled and bound == []:
        flags.append("labelled-but-no-role")
    if not labelled and bound:
        flags.append("role-but-unlabelled")
    if not labelled and reachable:
        flags.append("unlabelled-but-reachable")
    if labelled and not reachable:
        flags.append("labelled-but-unreachable")
    if labelled and store["installed"] and not store["usable"]:
        flags.append("labelled-but-no-ready-store")
    es = externalsecrets or []
    es_ready = sum(1 for e in es if access._ready(e))
    if labelled and es and es_ready < len(es):
        flags.append("externalsecret-not-ready")
    severe = {"role-but-unlabelled", "unlabelled-but-reachable"}
    status = FAIL if severe & set(flags) else WARN if flags else PASS
    evidence = {"labelled": labelled, "reachable": reachable, "reachable_why": why, "stores": store,
                "vault_roles": bound, "externalsecrets": {"total": len(es), "ready": es_ready}, "flags": flags}
    detail = (f"label={'true' if labelled else '-'}; reachable={'yes' if reachable else 'no'}; "
              f"stores={', '.join(store['stores']) or ('none' if store['installed'] else 'ESO not installed')}; "
              f"vault roles={', '.join(bound) if bound else ('none' if bound == [] else 'not checked')}; "
              f"externalsecrets={es_ready}/{len(es)} Ready"
              + (f"; FLAGS: {', '.join(flags)}" if flags else ""))
    return Check("namespace", name, status, detail, evidence)


def run_audit(c, mode=None, namespaces=(), context=None, kubeconfig=None, evidence=False, json_path=None,
              vault_mount="kubernetes", runner=None, console=None, sets=(), endpoints=None,
              vault_token=None) -> Report | None:
    overrides = {f"endpoints.{k}": v for k, v in (endpoints or {}).items()}
    with day2_session(c, "audit.access", mode, namespaces, context, kubeconfig, evidence, runner, console,
                      sets, overrides, include_shared=False) as d:
        shared = d.cfg.namespace
        report = Report(f"inv audit.access (shared-infra {shared})", d.target, list(namespaces or ()),
                        extra={"label": access.LABEL})
        got: dict = {}

        def read_cluster():
            v = d.view
            listed = v.items("namespaces")
            wanted = set(namespaces or ())
            got["namespaces"] = [n for n in listed if n["metadata"]["name"] != shared and
                                 n["metadata"]["name"] not in SYSTEM_NAMESPACES and
                                 (not wanted or n["metadata"]["name"] in wanted)]
            missing = wanted - {n["metadata"]["name"] for n in listed}
            for name in sorted(missing):
                report.add(Check("namespace", name, FAIL, "namespace does not exist"))
            got["policies"] = v.items("networkpolicies.networking.k8s.io", shared) or []
            got["pods"] = v.items("pods", shared) or []
            got["cstores"] = v.items("clustersecretstores.external-secrets.io")
            got["rbac"] = (v.items("roles.rbac.authorization.k8s.io", shared) or [],
                           v.items("clusterroles.rbac.authorization.k8s.io") or [],
                           v.items("rolebindings.rbac.authorization.k8s.io", shared) or [],
                           v.items("clusterrolebindings.rbac.authorization.k8s.io") or [])
            return f"{len(got['namespaces'])} namespaces, {len(got['policies'])} policies in {shared}"

        def read_vault():
            addr = d.settings.endpoints.get("vault")
            if not addr:
                got["roles"] = None
                report.add(Check("vault", "kubernetes-auth roles", SKIP, "vault endpoint not configured"))
                return "not configured"
            import hvac
            try:
                client = hvac.Client(url=addr, token=vault_token or os.environ.get("VAULT_TOKEN"), timeout=10)
                got["roles"] = access.vault_roles(client, vault_mount)
            except Exception as exc:
                got["roles"] = None
                report.add(Check("vault", "kubernetes-auth roles", WARN,
                                 f"could not list roles at auth/{vault_mount}: {d.s.runner.redact(str(exc))}"))
                return "unreadable"
            report.add(Check("vault", "kubernetes-auth roles", PASS, f"{len(got['roles'])} role(s) at auth/{vault_mount}",
                             got["roles"]))
            return f"{len(got['roles'])} roles"

        def judge():
            for ns in got["namespaces"]:
                name = ns["metadata"]["name"]
                report.add(audit_namespace(ns, shared, got["policies"], got["pods"],
                                           d.view.items("secretstores.external-secrets.io", name), got["cstores"],
                                           got["roles"], d.view.items("externalsecrets.external-secrets.io", name)))
            readers = access.secret_readers(*got["rbac"], shared)
            for r in readers:
                report.add(Check("rbac", f"reads Secrets in {shared}: {r['subject']}",
                                 PASS if access.expected_reader(r, shared) else WARN, r["via"], r))
            return f"{len(readers)} secret reader(s)"

        plan = d.s.plan(f"inv audit.access (shared-infra {shared}, context {d.target})")
        plan.add(Step("read namespaces, policies, stores, RBAC", read_cluster, "check",
                      "kubectl get namespaces, networkpolicies/pods -n " + shared +
                      ", clustersecretstores, roles/rolebindings/clusterroles/clusterrolebindings"))
        plan.add(Step("read Vault kubernetes-auth roles", read_vault, "sdk",
                      f"hvac auth.kubernetes.list_roles/read_role (auth/{vault_mount})"
                      if d.settings.endpoints.get("vault") else "vault endpoint not configured"))
        plan.add(Step("judge each namespace", judge, "check",
                      "label vs reachability, stores, roles, ExternalSecrets; Secret readers"))
        if d.s.run_plan(plan).dry:
            return None
        return finish(d, report, json_path)


@task(name="access", iterable=["namespace", "set_"], help={**HELP, **endpoint_help("vault"), "namespace": "audit only these namespaces (repeatable; default all)",
                                            "vault-mount": "the Kubernetes auth mount (default kubernetes)"})
def access_(c, mode=None, namespace=None, context=None, kubeconfig=None, evidence=False, json=None,
            vault_mount="kubernetes", set_=None, vault=None):
    """Check the allow-shared-infra label against NetworkPolicies, SecretStores, Vault roles, RBAC."""
    raise_for("audit.access", run_audit(c, mode, namespace or (), context, kubeconfig, evidence, json,
                                        vault_mount, sets=set_ or (), endpoints=endpoint_flags(vault=vault)))
