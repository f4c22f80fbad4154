"""The Pod Security Standards `restricted` profile, checked on a pod spec in Python.

The test API server (1.20) has no Pod Security admission (it arrived in 1.23 and is GA
from 1.25), so what it would refuse is checked here instead, rule by rule after
https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline + restricted):

    violations(pod_spec)          ["containers[vault].securityContext.allowPrivilegeEscalation
                                    must be false", ...]; [] when the spec is admissible
    pod_specs(documents)          (name, spec) of every pod a list of manifests would create
    strimzi_pod_specs(documents)  the same for the pods Strimzi builds from Kafka resources,
                                  as far as our `template` fields decide them

Each message names the container and the field, so a values change can be made directly.
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
                "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
                "net.ipv4.tcp_keepalive_probes"}
SECCOMP_OK = {"RuntimeDefault", "Localhost"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def _containers(spec: Mapping) -> Iterator[tuple[str, Mapping]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(field) or []:
            yield f"{field}[{c.get('name', '?')}]", c


def violations(spec: Mapping) -> list[str]:
    """Every way a pod spec breaks the `restricted` profile (baseline rules included)."""
    out = []
    pod_sc = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            out.append(f"{host} must be false")
    for vol in spec.get("volumes") or []:
        kinds = set(vol) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            out.append(f"volumes[{vol.get('name')}] uses {', '.join(sorted(kinds - ALLOWED_VOLUMES))}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"securityContext.sysctls {sysctl.get('name')} is not a safe sysctl")
    pod_nonroot = pod_sc.get("runAsNonRoot")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        out.append("securityContext.runAsUser must not be 0")
    if pod_seccomp and pod_seccomp not in SECCOMP_OK:
        out.append(f"securityContext.seccompProfile.type {pod_seccomp} is not RuntimeDefault or Localhost")
    out += _selinux(pod_sc.get("seLinuxOptions"), "securityContext")
    for where, c in _containers(spec):
        sc = c.get("securityContext") or {}
        prefix = f"{where}.securityContext"
        if sc.get("privileged"):
            out.append(f"{prefix}.privileged must be false")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{prefix}.allowPrivilegeEscalation must be false")
        nonroot = sc.get("runAsNonRoot", pod_nonroot)
        if nonroot is not True:
            out.append(f"{prefix}.runAsNonRoot must be true (here or on the pod)")
        if sc.get("runAsUser") == 0:
            out.append(f"{prefix}.runAsUser must not be 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in SECCOMP_OK:
            out.append(f"{prefix}.seccompProfile.type must be RuntimeDefault or Localhost (here or on the pod)")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{prefix}.capabilities.drop must include ALL")
        extra = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if extra:
            out.append(f"{prefix}.capabilities.add may only hold NET_BIND_SERVICE, not {', '.join(sorted(extra))}")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{prefix}.procMount must be Default")
        out += _selinux(sc.get("seLinuxOptions"), prefix)
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{where}.ports hostPort {port['hostPort']} is not allowed")
    return out


def _selinux(options: Mapping | None, prefix: str) -> list[str]:
    if not options:
        return []
    out = []
    if options.get("type", "") not in SELINUX_TYPES:
        out.append(f"{prefix}.seLinuxOptions.type {options['type']} is not allowed")
    for key in ("user", "role"):
        if options.get(key):
            out.append(f"{prefix}.seLinuxOptions.{key} must be unset")
    return out


def pod_specs(documents: Iterable[Mapping]) -> list[tuple[str, Mapping]]:
    """(kind/name, pod spec) of every Pod, pod template and CronJob's pod in the documents."""
    found = []
    for doc in documents:
        kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
        spec = doc.get("spec") or {}
        if kind == "Pod":
            found.append((f"Pod/{name}", spec))
        elif kind in POD_TEMPLATE_KINDS:
            found.append((f"{kind}/{name}", (spec.get("template") or {}).get("spec") or {}))
        elif kind == "CronJob":
            job = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
            found.append((f"CronJob/{name}", job.get("spec") or {}))
    return found


# Strimzi creates the Kafka and entity-operator pods itself; what our resources decide about
# them is the `template` security contexts (Kafka and KafkaNodePool spec.template / spec.kafka
# .template: pod + kafkaContainer; spec.entityOperator.template: pod + userOperatorContainer).
_STRIMZI_TEMPLATES = {
    "KafkaNodePool": [("", ("spec", "template"), "kafkaContainer", "kafka")],
    "Kafka": [("", ("spec", "kafka", "template"), "kafkaContainer", "kafka"),
              ("/entity-operator", ("spec", "entityOperator", "template"), "userOperatorContainer", "user-operator")],
}


def strimzi_pod_specs(documents: Iterable[Mapping]) -> list[tuple[str, Mapping]]:
    """(kind/name[/part], pod spec) for each pod a Strimzi resource describes, holding only
    the security contexts its `template` sets (volumes, ports and the rest are the operator's)."""
    found = []
    for doc in documents:
        if not str(doc.get("apiVersion", "")).startswith("kafka.strimzi.io/"):
            continue
        name = f"{doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
        for suffix, path, container_key, container in _STRIMZI_TEMPLATES.get(doc.get("kind"), []):
            template: Mapping = doc
            for key in path:
                template = (template or {}).get(key) or {}
            found.append((name + suffix, {
                "securityContext": (template.get("pod") or {}).get("securityContext") or {},
                "containers": [{"name": container,
                                "securityContext": (template.get(container_key) or {}).get("securityContext") or {}}]}))
    return found
