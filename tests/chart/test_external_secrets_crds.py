"""ExternalSecret, SecretStore and ClusterSecretStore objects validated by the real API
server against upstream's own External Secrets CRDs (v2.9.0, tests/fixtures/kube.py
eso_crds), instead of a schema written by hand. Server-side dry runs: nothing is stored."""

from __future__ import annotations

import copy
import json

import pytest

pytestmark = [pytest.mark.kube, pytest.mark.slow]


def dry_create(kube_cluster, obj: dict) -> tuple[bool, str]:
    out = kube_cluster.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-",
                               input=json.dumps(obj), check=False)
    return bool(out.strip()), out


def secret_store(ns: str, kind: str = "SecretStore") -> dict:
    """A per-app Vault store that logs in with the app's own Kubernetes auth role."""
    meta = {"name": "vault"} | ({"namespace": ns} if kind == "SecretStore" else {})
    return {"apiVersion": "external-secrets.io/v1", "kind": kind, "metadata": meta,
            "spec": {"provider": {"vault": {
                "server": "https://sharedinfra-vault.soma-infra.svc.cluster.local:8200",
                "path": "secret", "version": "v2",
                "caProvider": {"type": "Secret", "name": "sharedinfra-vault-tls", "key": "ca.crt",
                               **({"namespace": "soma-infra"} if kind == "ClusterSecretStore" else {})},
                "auth": {"kubernetes": {"mountPath": "kubernetes", "role": f"{ns}-app",
                                        "serviceAccountRef": {"name": f"{ns}-app"}}}}}}}


def external_secret(ns: str) -> dict:
    return {"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": f"{ns}-secrets", "namespace": ns},
            "spec": {"refreshInterval": "1h", "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                     "target": {"name": f"{ns}-secrets", "creationPolicy": "Owner"},
                     "data": [{"secretKey": "DB_PASSWORD", "remoteRef": {"key": f"apps/{ns}/db",
                                                                         "property": "password"}}]}}


@pytest.fixture(scope="module")
def app_ns(kube_cluster, eso_crds):
    kube_cluster.kubectl("create", "namespace", "eso-app")
    yield "eso-app"
    kube_cluster.kubectl("delete", "namespace", "eso-app", "--wait=false", check=False)


def test_the_real_crds_are_served_at_v1(kube_cluster, eso_crds):
    for crd in eso_crds:
        spec = kube_cluster.get_json("crd", crd)["spec"]
        served = {v["name"]: (v["served"], v["storage"]) for v in spec["versions"]}
        assert served["v1"] == (True, True), crd


@pytest.mark.parametrize("build", [secret_store, lambda ns: secret_store(ns, "ClusterSecretStore"), external_secret],
                         ids=["SecretStore", "ClusterSecretStore", "ExternalSecret"])
def test_valid_objects_pass_the_server(kube_cluster, app_ns, build):
    ok, out = dry_create(kube_cluster, build(app_ns))
    assert ok, out


BROKEN = [
    ("ExternalSecret", lambda o: o.update(apiVersion="external-secrets.io/v1beta1")),  # not served
    ("ExternalSecret", lambda o: o["spec"]["data"][0]["remoteRef"].pop("key")),
    ("ExternalSecret", lambda o: o["spec"]["secretStoreRef"].update(kind="Store")),
    ("ExternalSecret", lambda o: o["spec"]["target"].update(creationPolicy="Sometimes")),
    ("SecretStore", lambda o: o["spec"]["provider"]["vault"].update(version="v3")),
    ("SecretStore", lambda o: o["spec"]["provider"]["vault"]["caProvider"].update(type="ConfigMapp")),
]


@pytest.mark.parametrize("kind, mutate", BROKEN, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BROKEN)])
def test_broken_objects_are_refused_by_the_server(kube_cluster, app_ns, kind, mutate):
    obj = copy.deepcopy(external_secret(app_ns) if kind == "ExternalSecret" else secret_store(app_ns))
    mutate(obj)
    ok, out = dry_create(kube_cluster, obj)
    assert not ok, out
    assert kube_cluster.get_json(f"{kind.lower()}s.external-secrets.io", "-n", app_ns)["items"] == []
