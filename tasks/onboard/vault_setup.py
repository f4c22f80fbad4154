"""The platform side of Vault that onboarding relies on: Kubernetes auth, and in dev and test
initialising and unsealing a fresh server.

Kubernetes auth (`vault.auth`): the `kubernetes` auth method is enabled and told how to
check the service-account tokens the apps' SecretStores log in with (a TokenReview against
the API server). Vault running in the cluster, as the chart runs it, needs only the API
server's in-cluster address: it reviews with its own pod's token and CA (the vault chart
binds its service account to `system:auth-delegator`). A Vault outside the cluster is given
the API server address, its CA, and a reviewer token: a service account bound to
`system:auth-delegator` with a long-lived token Secret, created here.

Init and unseal (`vault.init`, dev and test only): one key share, threshold one. The root
token and unseal key go straight from Vault's answer into the Secret
`<release>-vault-init` in the shared-infra namespace (created through kubectl's stdin, never
argv), are registered with the redactor first, and are never printed or logged; a later run
unseals a sealed server from that Secret. Staging and prod are initialised by people, with
several key holders (docs/onboarding.md, runbook).
"""

from __future__ import annotations

import base64
import json
import time

from tasks.core.errors import NotConverged
from tasks.core.plan import Step
from tasks.onboard import kube_ops, vault_ops
from tasks.onboard.errors import SecretMissing
from tasks.onboard.services import Services

IN_CLUSTER_HOST = "https://kubernetes.default.svc"
REVIEWER = "vault-token-reviewer"
INIT_KEYS = ("root-token", "unseal-key")
LABELS = {"app.kubernetes.io/part-of": "somastack", "app.kubernetes.io/managed-by": "soma-ops"}


def init_secret_name(release: str) -> str:
    return f"{release}-vault-init"


# --- init and unseal ---------------------------------------------------------------------

def _store_init(svc: Services, namespace: str, name: str, answer: dict) -> None:
    root, key = answer["root_token"], (answer.get("keys_base64") or answer["keys"])[0]
    svc.secret(root, key)  # before anything else can print them
    manifest = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
                "data": {"root-token": base64.b64encode(root.encode()).decode(),
                         "unseal-key": base64.b64encode(key.encode()).decode()}}
    # `create`, not `apply`: apply would keep a second copy in its last-applied annotation.
    svc.kubectl.run("create", "-f", "-", input=json.dumps(manifest))


def init_steps(svc: Services, namespace: str, release: str) -> list[Step]:
    name = init_secret_name(release)
    status = lambda: vault_ops.seal_status(svc.vault_unauthenticated())  # noqa: E731

    def can_store() -> bool:
        allowed = svc.kubectl.run("auth", "can-i", "create", "secrets", "-n", namespace,
                                  check=False).stdout.strip()
        return allowed != "yes"

    def refuse_store() -> None:
        raise SecretMissing(f"kubectl may not create Secrets in {namespace}; Vault was not "
                            "initialised (its keys would have nowhere to go)")

    def initialise() -> str:
        if svc.kubectl.exists("secret", name, namespace):
            raise SecretMissing(f"Secret {namespace}/{name} already exists but Vault is not "
                                "initialised: it holds the keys of another Vault; delete it "
                                "on purpose first")
        _store_init(svc, namespace, name, vault_ops.initialize(svc.vault_unauthenticated()))
        return f"initialised; root token and unseal key stored in Secret {namespace}/{name}"

    def do_unseal() -> str:
        key = svc.read_secret(f"{namespace}/{name}", "unseal-key")
        cl = svc.vault_unauthenticated()
        left = vault_ops.unseal(cl, key)
        if left.get("sealed"):
            raise NotConverged(f"Vault is still sealed after the key from {namespace}/{name}")
        deadline = time.monotonic() + 60
        while not vault_ops.active(cl):
            if time.monotonic() > deadline:
                raise NotConverged("Vault is unsealed but has no active node after 60s")
            time.sleep(0.5)
        return "unsealed"

    return [
        Step(name=f"kubectl may store the keys in {namespace}", kind="check",
             detail=f"kubectl auth can-i create secrets -n {namespace}",
             needed=lambda: not status()["initialized"] and can_store(), action=refuse_store),
        Step(name="initialise Vault", kind="sdk",
             detail=f"hvac sys.initialize(secret_shares=1, secret_threshold=1) -> Secret "
                    f"{namespace}/{name} (kubectl create -f -; never printed)",
             needed=lambda: not status()["initialized"], action=initialise),
        Step(name="unseal Vault", kind="sdk",
             detail=f"hvac sys.submit_unseal_key(<unseal-key of {namespace}/{name}>)",
             needed=lambda: status()["sealed"], action=do_unseal),
    ]


def root_token(svc: Services, namespace: str, release: str) -> str:
    """The dev/test root token from the init Secret (registered with the redactor)."""
    name = f"{namespace}/{init_secret_name(release)}"
    try:
        return svc.read_secret(name, "root-token")
    except SecretMissing as exc:
        raise SecretMissing(f"no Vault token: set VAULT_TOKEN (in dev and test `inv vault.init` "
                            f"keeps one in Secret {name}: {exc})") from None


def use_init_token(svc: Services, mode: str, namespace: str, release: str) -> None:
    """dev/test: without VAULT_TOKEN, the tasks use the token `vault.init` stored."""
    if mode in ("dev", "test"):
        svc.token_fallback = lambda: root_token(svc, namespace, release)


# --- Kubernetes auth -------------------------------------------------------------------

def reviewer_manifests(namespace: str, release: str) -> list[dict]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": REVIEWER, "namespace": namespace, "labels": LABELS}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": f"{release}-{REVIEWER}", "labels": LABELS},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                     "name": "system:auth-delegator"},
         "subjects": [{"kind": "ServiceAccount", "name": REVIEWER, "namespace": namespace}]},
        # A long-lived token for a Vault outside the cluster (a TokenRequest token expires).
        {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
         "metadata": {"name": f"{REVIEWER}-token", "namespace": namespace, "labels": LABELS,
                      "annotations": {"kubernetes.io/service-account.name": REVIEWER}}},
    ]


def reviewer_jwt(svc: Services, namespace: str, timeout_s: float = 30) -> str:
    """The reviewer's token, once the token controller has filled the Secret."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = svc.kubectl.get_json("secret", f"{REVIEWER}-token", namespace=namespace) or {}
        token = (found.get("data") or {}).get("token")
        if token:
            value = base64.b64decode(token).decode()
            svc.secret(value, token)
            return value
        if time.monotonic() > deadline:
            raise NotConverged(f"Secret {namespace}/{REVIEWER}-token got no token in {timeout_s:g}s "
                               "(is kube-controller-manager running?)")
        time.sleep(0.5)


def auth_steps(svc: Services, mount: str, namespace: str, release: str, host: str,
               ca_pem: str = "", reviewer: bool = False) -> list[Step]:
    steps = [Step(name=f"enable kubernetes auth at {mount}/", kind="sdk",
                  detail=f"hvac sys.enable_auth_method('kubernetes', path='{mount}')",
                  needed=lambda: vault_ops.auth_mount_missing(svc.vault, mount),
                  action=lambda: vault_ops.enable_auth_mount(svc.vault, mount))]
    if reviewer:
        for manifest in reviewer_manifests(namespace, release):
            steps.append(Step(name=f"apply {manifest['kind']} {manifest['metadata']['name']}",
                              kind="cli", detail=kube_ops.describe(manifest),
                              needed=lambda m=manifest: kube_ops.needs_apply(svc.kubectl, m),
                              action=lambda m=manifest: kube_ops.apply(svc.kubectl, m)))

    def desired(with_jwt: bool) -> dict:
        config = {"kubernetes_host": host, "kubernetes_ca_cert": ca_pem,
                  # A CA given means Vault is outside the cluster: no pod CA or token to fall
                  # back on (Vault insists on the CA when the local one is disabled).
                  "disable_local_ca_jwt": bool(ca_pem)}
        if reviewer:
            config["token_reviewer_jwt"] = reviewer_jwt(svc, namespace) if with_jwt else "set"
        return config

    what = "host, CA and reviewer token" if reviewer else "host" + (" and CA" if ca_pem else "")
    steps.append(Step(
        name=f"configure auth/{mount}/config", kind="sdk",
        detail=f"hvac POST auth/{mount}/config (kubernetes_host {host}; {what})",
        needed=lambda: bool(vault_ops.auth_config_changes(svc.vault, mount, desired(False))),
        action=lambda: vault_ops.write_auth_config(svc.vault, mount, desired(True))))
    return steps
