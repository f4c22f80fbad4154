"""Who may reach the shared infrastructure, and who actually can: the parts of `inv audit.access`.

    reachable_from(policies, ns_labels, ns_name, shared_ns)   NetworkPolicy ingress evaluation
    store_status(ns, secretstores, clustersecretstores, labels)  usable SecretStore / ClusterSecretStore
    vault_roles(client, mount)                     Kubernetes-auth roles and what they bind
    secret_readers(roles, clusterroles, rolebindings, clusterrolebindings, ns)   RBAC

NetworkPolicy semantics (kubernetes.io/docs/concepts/services-networking/network-policies):
pods no Ingress policy selects accept everything; a selected pod accepts what any rule of any
policy selecting it allows; a rule with no `from` allows every source; a peer with only a
podSelector means the policy's own namespace; a namespaceSelector `{}` means every namespace.
Here "the shared-infra namespace is reachable from N" means: some shared-infra pod accepts
some pod of N.
"""

from __future__ import annotations

from tasks.day2.workloads import selects

LABEL = "soma.sh/allow-shared-infra"
READ_VERBS = {"get", "list", "watch", "*"}


def _matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector; `{}` (or no field) selects everything."""
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return True
    return selects(selector, labels)


def reachable_from(policies: list[dict], pods: list[dict], ns: str, ns_labels: dict, shared_ns: str) -> tuple[bool, str]:
    """(reachable, why) for traffic from namespace `ns` into the shared-infra pods."""
    ingress = [p for p in policies if "Ingress" in ((p.get("spec") or {}).get("policyTypes") or ["Ingress"])]
    if not ingress:
        return True, "no Ingress NetworkPolicy in the shared-infra namespace: every namespace can reach it"
    pod_labels = [(p.get("metadata") or {}).get("labels") or {} for p in pods] or [None]
    for labels in pod_labels:
        selecting = [p for p in ingress if labels is None or _matches((p.get("spec") or {}).get("podSelector"), labels)]
        if labels is not None and not selecting:
            return True, f"pod with labels {labels} is selected by no Ingress policy"
        for policy in selecting:
            name = policy["metadata"]["name"]
            for rule in (policy.get("spec") or {}).get("ingress") or []:
                peers = rule.get("from")
                if not peers:
                    return True, f"policy {name} has an ingress rule with no `from` (all sources)"
                for peer in peers:
                    if "namespaceSelector" in peer:
                        if _matches(peer["namespaceSelector"], ns_labels):
                            return True, f"policy {name} admits namespaces matching {peer['namespaceSelector'] or '{}'}"
                    elif "podSelector" in peer and ns == shared_ns:
                        return True, f"policy {name} admits pods of its own namespace"
    return False, "no ingress rule admits it"


def _ready(obj: dict) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or [])


def store_status(ns: str, secretstores: list[dict] | None, clusterstores: list[dict] | None,
                 ns_labels: dict) -> dict:
    """{"stores": ["SecretStore/x Ready", ...], "usable": bool, "installed": bool}."""
    if secretstores is None and clusterstores is None:
        return {"installed": False, "stores": [], "usable": False}
    out = []
    for s in secretstores or []:
        out.append((f"SecretStore/{s['metadata']['name']}", _ready(s)))
    for s in clusterstores or []:
        conditions = (s.get("spec") or {}).get("conditions") or []
        allowed = not conditions or any(
            ns in (cond.get("namespaces") or []) or
            ("namespaceSelector" in cond and _matches(cond["namespaceSelector"], ns_labels))
            for cond in conditions)
        if allowed:
            out.append((f"ClusterSecretStore/{s['metadata']['name']}", _ready(s)))
    return {"installed": True, "stores": [f"{n} {'Ready' if r else 'not Ready'}" for n, r in out],
            "usable": any(r for _, r in out)}


def vault_roles(client, mount: str = "kubernetes") -> dict[str, dict]:
    """role -> {"namespaces": [...], "service_accounts": [...], "policies": [...]}."""
    import hvac

    try:
        keys = client.auth.kubernetes.list_roles(mount_point=mount)["keys"]
    except hvac.exceptions.InvalidPath:
        return {}  # no roles at all (Vault answers 404 for an empty list)
    out = {}
    for name in keys:
        data = client.auth.kubernetes.read_role(name, mount_point=mount)
        out[name] = {"namespaces": list(data.get("bound_service_account_namespaces") or []),
                     "service_accounts": list(data.get("bound_service_account_names") or []),
                     "policies": list(data.get("token_policies") or data.get("policies") or [])}
    return out


def roles_for(ns: str, roles: dict[str, dict]) -> list[str]:
    return sorted(r for r, d in roles.items() if ns in d["namespaces"] or "*" in d["namespaces"])


def _reads_secrets(rules: list[dict]) -> bool:
    for rule in rules or []:
        groups, resources, verbs = set(rule.get("apiGroups") or []), set(rule.get("resources") or []), \
            set(rule.get("verbs") or [])
        if groups & {"", "*"} and resources & {"secrets", "*"} and verbs & READ_VERBS:
            return True
    return False


def secret_readers(roles: list[dict], clusterroles: list[dict], rolebindings: list[dict],
                   clusterrolebindings: list[dict], ns: str) -> list[dict]:
    """Every subject that can get/list/watch Secrets in `ns`, and through which binding."""
    readers_role = {r["metadata"]["name"] for r in roles if _reads_secrets(r.get("rules"))}
    readers_cr = {r["metadata"]["name"] for r in clusterroles if _reads_secrets(r.get("rules"))}
    out = []
    for binding, scope in [(b, "RoleBinding") for b in rolebindings] + [(b, "ClusterRoleBinding")
                                                                      for b in clusterrolebindings]:
        ref = binding.get("roleRef") or {}
        if not (ref.get("kind") == "Role" and ref.get("name") in readers_role or
                ref.get("kind") == "ClusterRole" and ref.get("name") in readers_cr):
            continue
        for subject in binding.get("subjects") or []:
            who = f"{subject.get('kind')}:{subject.get('namespace') + '/' if subject.get('namespace') else ''}" \
                  f"{subject.get('name')}"
            out.append({"subject": who, "kind": subject.get("kind"), "namespace": subject.get("namespace", ""),
                        "name": subject.get("name"), "via": f"{scope}/{binding['metadata']['name']} -> "
                                                             f"{ref.get('kind')}/{ref.get('name')}"})
    return out


def expected_reader(reader: dict, shared_ns: str) -> bool:
    """Readers we expect: the control plane (system:*) and the shared-infra namespace's own SAs."""
    name = reader.get("name") or ""
    if name.startswith("system:"):
        return True
    return reader.get("kind") == "ServiceAccount" and reader.get("namespace") in (shared_ns, "kube-system")
