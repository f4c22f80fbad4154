"""Reading the cluster for the day-2 tasks: lists of API objects through kubectl, cached per run.

    view = ClusterView(kubectl)
    view.items("pods", "soma-infra")                 # [] when there are none
    view.items("externalsecrets.external-secrets.io", "app")   # None: the API is not installed
    view.events("soma-infra")                        # sorted by time, oldest first

"Not installed" (the server does not know the resource) is an answer, None, so a cluster
without External Secrets gives `skip` rows, not errors. Every other failure raises.
"""

from __future__ import annotations

import json

from tasks.core.kubectl import Kubectl

# Everything a workload is made of, namespaced (`kubectl cluster-info dump` plus what
# troubleshoot.sh adds: storage, policies, RBAC, autoscaling, External Secrets).
NAMESPACED = (
    "deployments.apps", "statefulsets.apps", "daemonsets.apps", "replicasets.apps", "jobs.batch",
    "cronjobs.batch", "pods", "services", "endpoints", "configmaps", "secrets", "serviceaccounts",
    "persistentvolumeclaims", "networkpolicies.networking.k8s.io", "ingresses.networking.k8s.io",
    "poddisruptionbudgets.policy", "horizontalpodautoscalers.autoscaling",
    "roles.rbac.authorization.k8s.io", "rolebindings.rbac.authorization.k8s.io",
    "externalsecrets.external-secrets.io", "secretstores.external-secrets.io",
    # Strimzi: the Kafka cluster, its node pools and users, and the pod sets that hold the
    # broker pods (Strimzi runs no StatefulSet).
    "kafkas.kafka.strimzi.io", "kafkanodepools.kafka.strimzi.io", "kafkausers.kafka.strimzi.io",
    "strimzipodsets.core.strimzi.io",
)
CLUSTER = ("persistentvolumes", "nodes", "storageclasses.storage.k8s.io",
           "clustersecretstores.external-secrets.io")
WORKLOADS = ("statefulsets.apps", "deployments.apps", "daemonsets.apps", "strimzipodsets.core.strimzi.io")


def _unknown_resource(stderr: str) -> bool:
    return "the server doesn't have a resource type" in stderr or "(NotFound)" in stderr and "the server could not find" in stderr


def event_time(event: dict) -> str:
    return (event.get("lastTimestamp") or event.get("eventTime") or event.get("firstTimestamp")
            or (event.get("metadata") or {}).get("creationTimestamp") or "")


class ClusterView:
    def __init__(self, kubectl: Kubectl):
        self.k = kubectl
        self._cache: dict = {}

    def items(self, resource: str, namespace: str | None = None) -> list[dict] | None:
        key = (resource, namespace)
        if key not in self._cache:
            args = ["get", resource, "-o", "json"] + (["-n", namespace] if namespace else [])
            result = self.k.run(*args, check=False)
            if not result.ok:
                if _unknown_resource(result.stderr):
                    self._cache[key] = None
                    return None
                raise self.k.runner.failure(result)
            self._cache[key] = json.loads(result.stdout or "{}").get("items") or []
        return self._cache[key]

    def events(self, namespace: str) -> list[dict]:
        return sorted(self.items("events", namespace) or [], key=event_time)

    def namespace(self, name: str) -> dict | None:
        return self.k.get_json("namespace", name)

    def pods(self, namespaces) -> list[dict]:
        return [p for ns in namespaces for p in self.items("pods", ns) or []]

    def all_items(self, resource: str, namespaces) -> list[dict] | None:
        """Across namespaces; None when the API is not installed."""
        out = []
        for ns in namespaces:
            got = self.items(resource, ns)
            if got is None:
                return None
            out += got
        return out
