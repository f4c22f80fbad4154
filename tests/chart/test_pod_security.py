"""Pod Security `restricted` for every mode, checked in Python (tasks/core/podsecurity.py):
the test API server is 1.20 and has no Pod Security admission, and no kube-apiserver >= 1.23
can be had from the registries here (docs/chart.md).

Real subchart templates cannot be rendered (their tarballs cannot be downloaded), so the
pods checked are built from the security contexts each subchart receives: upstream's
default values for that chart version (read in place, when present) under ours, at the
value paths each chart's templates read (POD_SECURITY below, checked against the charts'
templates at the pinned tags). Every pod template the umbrella renders itself is checked too,
and so are the `template` security contexts our Kafka resources hand the Strimzi operator,
which creates those pods itself.
"""

from __future__ import annotations

import pytest

from tasks.core import chart, podsecurity, upstream
from tasks.core.config import MODES
from tasks.core.values import merge_values

# alias -> [(pod, pod-level path, [(container, container-level path or None), ...])];
# None: the chart's template gives that container no securityContext at all.
POD_SECURITY = {
    # redis-ha: one StatefulSet; every container (init included) takes containerSecurityContext.
    "redis": [("server", "securityContext", [(c, "containerSecurityContext")
                                             for c in ("config-init", "redis", "sentinel", "split-brain-fix")])],
    # strimzi-kafka-operator 1.2.0's Deployment: podSecurityContext on the pod, securityContext
    # on its one container (restricted by the chart's own default).
    "strimzi": [("cluster-operator", "podSecurityContext", [("strimzi-cluster-operator", "securityContext")])],
    "vault": [("server", "server.statefulSet.securityContext.pod",
               [("vault", "server.statefulSet.securityContext.container")])],
    "opa": [("opa", "securityContext", [("opa", None), ("mgmt", None)])],
    "prometheus": [("server", "server.securityContext",
                    [("prometheus-server", "server.containerSecurityContext"),
                     ("configmap-reload", "configmapReload.prometheus.containerSecurityContext")])],
    "grafana": [("grafana", "securityContext", [("grafana", "containerSecurityContext")])],
    "external-secrets": [("controller", "podSecurityContext", [("external-secrets", "securityContext")]),
                         ("webhook", "webhook.podSecurityContext", [("webhook", "webhook.securityContext")]),
                         ("cert-controller", "certController.podSecurityContext",
                          [("cert-controller", "certController.securityContext")])],
}
# Known and accepted: opa-kube-mgmt 11.0.7 renders no container securityContext (its
# deployment template only has a pod-level one; unchanged at the chart's newest source), so
# its containers cannot meet `restricted` through values. The pod-level fields (non-root,
# RuntimeDefault seccomp) are set; only the two container-only rules remain.
KNOWN = {"opa"}
CONTAINER_ONLY = ("allowPrivilegeEscalation must be false", "capabilities.drop must include ALL")


def _get(values, path):
    node = values
    for key in path.split("."):
        node = (node or {}).get(key) if isinstance(node, dict) else None
    return node


def _context(values, path) -> dict:
    sc = dict(_get(values, path) or {}) if path else {}
    if sc.pop("enabled", True) is False:  # Bitnami's switch: the template renders none
        return {}
    return sc


def _enabled(merged, dep) -> bool:
    """The dependency's Chart.yaml condition (strimzi's is kafka.enabled, not its alias')."""
    return bool(_get(merged, dep["condition"].split(",")[0].strip()))


def subchart_pods(mode: str) -> dict[str, list[tuple[str, dict]]]:
    merged = chart.merged_values(mode)
    pods = {}
    for dep in chart.dependencies():
        alias = dep["key"]
        ours = merged.get(alias) or {}
        if not _enabled(merged, dep):
            continue
        folder = upstream.chart_folder(dep["name"], str(dep["version"]))
        values = merge_values(upstream.load_defaults(folder)[0], ours) if folder else ours
        shapes = POD_SECURITY[alias]
        pods[alias] = [(f"{alias}/{pod}", {
            "securityContext": _context(values, pod_path),
            "containers": [{"name": name, "securityContext": _context(values, path)} for name, path in containers]})
            for pod, pod_path, containers in shapes]
    return pods


@pytest.mark.parametrize("mode", MODES)
def test_every_subchart_pod_meets_restricted(mode):
    pods = subchart_pods(mode)
    assert set(pods) <= set(POD_SECURITY)
    failing = {name: podsecurity.violations(spec) for specs in pods.values() for name, spec in specs}
    failing = {k: v for k, v in failing.items() if v}
    assert {k.split("/")[0] for k in failing} <= KNOWN, failing
    if "opa" in pods:  # the exception is real, not a check that cannot fail, and no wider
        assert any("allowPrivilegeEscalation" in v for v in failing["opa/opa"])
        assert all(v.endswith(CONTAINER_ONLY) for v in failing["opa/opa"]), failing["opa/opa"]


@pytest.mark.parametrize("mode", MODES)
def test_pods_the_umbrella_renders_meet_restricted(rendered, mode):
    for name, spec in podsecurity.pod_specs(rendered[mode].documents()):
        assert podsecurity.violations(spec) == [], name


@pytest.mark.parametrize("mode", MODES)
def test_pods_strimzi_builds_from_our_custom_resources_meet_restricted(rendered, mode):
    """The operator, not helm, creates the Kafka and entity-operator pods, so what can be
    checked is what our Kafka and KafkaNodePool give it: the `template` security contexts
    (tasks/core/podsecurity.strimzi_pod_specs). The rest of those pods (volumes, ports,
    Strimzi's own defaults) is the operator's and not seen here."""
    pods = dict(podsecurity.strimzi_pod_specs(rendered[mode].documents()))
    assert set(pods) == {"KafkaNodePool/dual-role", "Kafka/sharedinfra-kafka",
                         "Kafka/sharedinfra-kafka/entity-operator"}
    for name, spec in pods.items():
        assert podsecurity.violations(spec) == [], name


def test_strimzi_pod_specs_see_a_missing_template():
    """The check can fail: a Kafka whose template drops the container context is reported."""
    pool = {"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaNodePool", "metadata": {"name": "p"},
            "spec": {"template": {"pod": {"securityContext": GOOD["securityContext"]}}}}
    [(name, spec)] = podsecurity.strimzi_pod_specs([pool])
    assert name == "KafkaNodePool/p"
    assert any("allowPrivilegeEscalation" in v for v in podsecurity.violations(spec))


def test_the_cloudnative_pg_operator_pod_meets_restricted():
    """The operator release's pod, from our values file over the chart's defaults (read from
    the upstream folder when present; our file states every field itself). CloudNativePG
    builds the PostgreSQL and PgBouncer pods itself, restricted-compliant by design; they
    are not rendered here (docs/chart.md)."""
    from tasks.core.config import REPO_ROOT
    from tasks.core.values import read_values_file

    ours = read_values_file(REPO_ROOT / "infra/helm/operators/cloudnative-pg.yaml")
    folder = upstream.chart_folder("cloudnative-pg", "0.29.0")
    values = merge_values(upstream.load_defaults(folder)[0], ours) if folder else ours
    pod = {"securityContext": values["podSecurityContext"],
           "containers": [{"name": "manager", "securityContext": values["containerSecurityContext"]}]}
    assert podsecurity.violations(pod) == []
    weaker = merge_values(ours, {"containerSecurityContext": {"allowPrivilegeEscalation": True}})
    assert podsecurity.violations({**pod, "containers": [{"name": "manager",
                                   "securityContext": weaker["containerSecurityContext"]}]})


GOOD = {"securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "securityContext": {"allowPrivilegeEscalation": False,
                                                            "capabilities": {"drop": ["ALL"]}}}],
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "x"}}]}


def test_a_compliant_pod_passes():
    assert podsecurity.violations(GOOD) == []


@pytest.mark.parametrize("mutate, message", [
    (lambda p: p.update(hostNetwork=True), "hostNetwork must be false"),
    (lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "volumes[h] uses hostPath"),
    (lambda p: p["securityContext"].pop("runAsNonRoot"), "runAsNonRoot must be true"),
    (lambda p: p["securityContext"].update(seccompProfile={"type": "Unconfined"}), "is not RuntimeDefault"),
    (lambda p: p["containers"][0]["securityContext"].update(allowPrivilegeEscalation=True),
     "allowPrivilegeEscalation must be false"),
    (lambda p: p["containers"][0]["securityContext"].update(capabilities={"drop": ["NET_RAW"]}),
     "capabilities.drop must include ALL"),
    (lambda p: p["containers"][0]["securityContext"]["capabilities"].update(add=["SYS_ADMIN"]),
     "may only hold NET_BIND_SERVICE"),
    (lambda p: p["containers"][0]["securityContext"].update(privileged=True), "privileged must be false"),
    (lambda p: p["containers"][0]["securityContext"].update(runAsUser=0), "runAsUser must not be 0"),
    (lambda p: p["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]), "hostPort 80"),
])
def test_each_restricted_rule_is_enforced(mutate, message):
    import copy

    pod = copy.deepcopy(GOOD)
    mutate(pod)
    assert any(message in v for v in podsecurity.violations(pod)), podsecurity.violations(pod)


def test_pod_specs_finds_workload_templates():
    docs = [{"kind": "Deployment", "metadata": {"name": "d"}, "spec": {"template": {"spec": GOOD}}},
            {"kind": "CronJob", "metadata": {"name": "c"},
             "spec": {"jobTemplate": {"spec": {"template": {"spec": GOOD}}}}},
            {"kind": "ConfigMap", "metadata": {"name": "m"}}]
    assert [n for n, _ in podsecurity.pod_specs(docs)] == ["Deployment/d", "CronJob/c"]
