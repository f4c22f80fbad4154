"""The real helm binary (4.2.3, tasks/core/clients.py) on the chart: `helm lint --strict` and
`helm template` on every mode, and `helm upgrade --install` (no --wait) into the real
kube-apiserver of the kube_cluster fixture.

The chart is the vendored copy (conftest.vendored_chart): its charts/ holds stand-ins of the
eight dependencies, so helm sees every dependency present but renders only the umbrella's
own templates. Pods of the real subcharts cannot be rendered here."""

from __future__ import annotations

import json
import os

import pytest
import sh
import yaml

from tasks.core import chart
from tasks.core.config import MODES

KUBE_VERSION = "1.30.0"


def helm(k8s_clients, *args, ok=(0,)):
    return sh.Command(k8s_clients["helm"])(*args, _ok_code=list(ok), _return_cmd=True, _err_to_out=True,
                                           _tty_out=False, _env={**os.environ, "HELM_CACHE_HOME": os.devnull})


def values_args(chart_dir, mode):
    return ["-f", str(chart_dir / "values.yaml"), "-f", str(chart_dir / f"values-{mode}.yaml")]


@pytest.mark.parametrize("mode", MODES)
def test_helm_lint_strict_is_clean_on_every_mode(k8s_clients, vendored_chart, mode):
    out = helm(k8s_clients, "lint", "--strict", str(vendored_chart), *values_args(vendored_chart, mode),
               "--kube-version", KUBE_VERSION, "-n", "soma-infra")
    assert "1 chart(s) linted, 0 chart(s) failed" in str(out)
    assert "[WARNING]" not in str(out) and "[ERROR]" not in str(out), str(out)


def test_helm_lint_fails_without_the_dependencies(k8s_clients):
    # The committed chart has no charts/: helm says so, and --strict turns it into a failure.
    out = helm(k8s_clients, "lint", "--strict", str(chart.CHART_DIR), *values_args(chart.CHART_DIR, "dev"),
               ok=range(1, 256))
    assert "chart directory is missing these dependencies" in str(out)


@pytest.mark.parametrize("mode", MODES)
def test_helm_template_matches_the_in_process_render(k8s_clients, vendored_chart, mode):
    out = helm(k8s_clients, "template", "sharedinfra", str(vendored_chart), *values_args(vendored_chart, mode),
               "-n", "soma-infra", "--kube-version", KUBE_VERSION)
    docs = [d for d in yaml.safe_load_all(str(out)) if d]
    engine = chart.render(mode).documents()
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(docs, key=key) == sorted(engine, key=key)
    assert chart.validate_manifests(docs, KUBE_VERSION) == len(docs)


@pytest.mark.kube
@pytest.mark.slow
def test_helm_upgrade_install_into_the_real_api_server(k8s_clients, kube_cluster, cnpg_operator, vendored_chart):
    ns = f"infra-{os.urandom(3).hex()}"
    kube = ["--kubeconfig", kube_cluster.kubeconfig]
    # The chart's kubeVersion gate (>= 1.30, Strimzi 1.2.0's floor) is real: the test API server (1.20) is refused.
    refused = helm(k8s_clients, "upgrade", "--install", "sharedinfra", str(vendored_chart), "-n", ns,
                   "--create-namespace", *values_args(vendored_chart, "dev"), *kube, ok=range(1, 256))
    # Debian's build of the server carries no version stamp: it reports v0.0.0-master+<commit>.
    assert "chart requires kubeVersion: >=1.30.0-0 which is incompatible with Kubernetes v" in str(refused)
    # Only for this server, the copy drops its gate; everything else is the chart as committed.
    meta = vendored_chart / "Chart.yaml"
    original = meta.read_text()
    assert 'kubeVersion: ">=1.30.0-0"\n' in original
    meta.write_text(original.replace('kubeVersion: ">=1.30.0-0"\n', ""))
    try:
        for revision in (1, 2):  # install, then an upgrade of the same release
            helm(k8s_clients, "upgrade", "--install", "sharedinfra", str(vendored_chart), "-n", ns,
                 "--create-namespace", *values_args(vendored_chart, "dev"), "--timeout", "2m", *kube)
            status = json.loads(str(helm(k8s_clients, "status", "sharedinfra", "-n", ns, "-o", "json", *kube)))
            assert (status["version"], status["info"]["status"]) == (revision, "deployed")
        cm = kube_cluster.get_json("configmap", "sharedinfra-endpoints", "-n", ns)
        assert cm["data"]["SOMA_INFRA_MODE"] == "dev"
        assert cm["metadata"]["annotations"]["meta.helm.sh/release-name"] == "sharedinfra"
        policies = {p["metadata"]["name"] for p in kube_cluster.get_json("networkpolicy", "-n", ns)["items"]}
        assert "sharedinfra-soma-infra-default-deny" in policies or any(p.endswith("default-deny") for p in policies)
        # The stand-in strimzi-kafka-operator's crds/ went in first, so the Kafka kinds exist.
        kafka = kube_cluster.get_json("kafka", "sharedinfra-kafka", "-n", ns)
        assert kafka["spec"]["kafka"]["version"] == "4.3.1"
        pool = kube_cluster.get_json("kafkanodepool", "dual-role", "-n", ns)
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "sharedinfra-kafka"
        assert pool["spec"]["roles"] == ["controller", "broker"]
        listed = json.loads(str(helm(k8s_clients, "list", "-n", ns, "-o", "json", *kube)))
        assert [(r["name"], r["chart"]) for r in listed] == [("sharedinfra", "soma-infra-0.2.0")]
    finally:
        meta.write_text(original)
        helm(k8s_clients, "uninstall", "sharedinfra", "-n", ns, "--ignore-not-found", *kube, ok=range(256))
        kube_cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)
