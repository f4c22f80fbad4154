"""What one application onboarding is about: the validated inputs and every name derived
from them, in one place so templates, Vault, PostgreSQL and Kafka never disagree.

Environments (`--env`) name the secret set (`shared-infra/<ns>/<env>` in Vault); modes
(`--mode`) name the infrastructure: the replication factor, and how Vault is reached (plain
http in dev and test, where the chart runs Vault without TLS; https, checked against the CA
of the `<release>-vault-tls` Secret, in staging, prod-lite and prod). Both are closed
lists, and a namespace must be a DNS-1123 label; anything else is refused before a step runs.
"""

import dataclasses
import re

from tasks.core.config import DNS_LABEL, MODES
from tasks.onboard.errors import InvalidInput

ENVS = ("dev", "test", "staging", "prod")
# Playbook §3.7: single-replica topics only where the broker is a single node.
REPLICATION = {"dev": 1, "test": 1, "staging": 3, "prod-lite": 3, "prod": 3}
ALLOW_LABEL = "soma.sh/allow-shared-infra"
POSTGRES_PORT = 5432
# The four keys of the runtime Secret and the Vault properties they come from (§3.3).
SECRET_KEYS = {
    "POSTGRES_PASSWORD": "postgres_password",
    "REDIS_PASSWORD": "redis_password",
    "KAFKA_SASL_PASSWORD": "kafka_sasl_password",
    "POSTGRES_DSN": "postgres_dsn",
}
# Modes whose Vault listener serves TLS (the chart's staging/prod values, docs/chart.md).
TLS_MODES = ("staging", "prod-lite", "prod")
# Modes whose shared Redis runs three nodes with Sentinel (soma-infra's redis-ha values).
SENTINEL_MODES = ("staging", "prod-lite", "prod")
REDIS_SENTINEL_PORT = 26379
REDIS_SENTINEL_MASTER = "sharedinfra"
# Where a namespaced SecretStore finds the CA of Vault's certificate: a ConfigMap in the
# application's own namespace (a SecretStore may not point into another namespace), copied
# from the ca.crt of the shared-infra TLS Secret.
VAULT_CA_CONFIGMAP = "vault-ca"
VAULT_CA_KEY = "ca.crt"
_DNS1123_LABEL = re.compile(DNS_LABEL)
# Names the shared infra owns; an application must not be onboarded onto them.
_RESERVED = {"default", "soma-infra", "kube-system", "kube-public", "kube-node-lease"}


def check_namespace(ns: str) -> str:
    if not isinstance(ns, str) or not ns:
        raise InvalidInput("--ns is required (a DNS-1123 label such as 'sa01')")
    if len(ns) > 63 or not _DNS1123_LABEL.match(ns):
        raise InvalidInput(
            f"namespace {ns!r} is not a DNS-1123 label: at most 63 characters of a-z, 0-9 "
            "and '-', starting and ending with a letter or digit")
    if ns in _RESERVED or ns.startswith("kube-"):
        raise InvalidInput(f"namespace {ns!r} is reserved for the platform")
    return ns


def check_choice(kind: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInput(f"unknown {kind} {value!r}: choose one of {', '.join(allowed)}")
    return value


@dataclasses.dataclass(frozen=True)
class OnboardSpec:
    """Validated inputs plus the shared-infra settings the names derive from."""

    ns: str
    env: str = "dev"
    mode: str = "dev"
    release: str = "sharedinfra"
    infra_ns: str = "soma-infra"
    kv_mount: str = "secret"
    auth_mount: str = "kubernetes"
    audience: str = "vault"
    token_ttl: int = 86400
    partitions: int = 6
    retention_ms: int = 259200000

    def __post_init__(self):
        check_namespace(self.ns)
        check_choice("env", self.env, ENVS)
        check_choice("mode", self.mode, MODES)
        check_namespace_like("infra namespace", self.infra_ns)
        check_namespace_like("release", self.release)
        if self.ns == self.infra_ns:
            raise InvalidInput(f"namespace {self.ns!r} is the shared-infra namespace itself; "
                               "onboard an application namespace")

    @property
    def service_account(self) -> str:
        return f"{self.ns}-sa"

    @property
    def vault_role(self) -> str:
        return self.ns

    @property
    def store_name(self) -> str:
        """The app's own SecretStore: it logs in with the app's role, so it reads only
        what the app's policy grants (a shared ClusterSecretStore role would read all)."""
        return "vault"

    @property
    def vault_tls(self) -> bool:
        return self.mode in TLS_MODES

    @property
    def vault_tls_secret(self) -> str:
        return f"{self.release}-vault-tls"

    @property
    def policy_name(self) -> str:
        return self.ns

    @property
    def remote_key(self) -> str:
        return f"shared-infra/{self.ns}/{self.env}"

    @property
    def db_name(self) -> str:
        return self.ns

    @property
    def db_user(self) -> str:
        return self.ns

    @property
    def events_topic(self) -> str:
        return f"{self.ns}.events"

    @property
    def dlq_topic(self) -> str:
        return f"{self.ns}.events.dlq"

    def service_host(self, component: str) -> str:
        """The cluster DNS name of a shared-infra service of the release."""
        return f"{self.release}-{component}.{self.infra_ns}.svc.cluster.local"

    @property
    def postgres_host(self) -> str:
        return self.service_host("postgres-pooler")  # CloudNativePG's PgBouncer Pooler: the contract host

    @property
    def redis_host(self) -> str:
        return self.service_host("redis")  # redis-ha's one Service, in front of every node

    @property
    def redis_sentinel(self) -> bool:
        return self.mode in SENTINEL_MODES

    @property
    def vault_addr(self) -> str:
        scheme = "https" if self.vault_tls else "http"
        return f"{scheme}://{self.service_host('vault')}:8200"

    @property
    def replication(self) -> int:
        return REPLICATION[self.mode]

    def context(self) -> dict:
        """Everything a template may use."""
        return {
            "ns": self.ns, "env": self.env, "mode": self.mode, "release": self.release,
            "infra_ns": self.infra_ns, "kv_mount": self.kv_mount, "auth_mount": self.auth_mount,
            "store_name": self.store_name, "audience": self.audience,
            "vault_tls": self.vault_tls, "vault_ca_configmap": VAULT_CA_CONFIGMAP,
            "vault_ca_key": VAULT_CA_KEY,
            "token_ttl": self.token_ttl, "service_account": self.service_account,
            "vault_role": self.vault_role, "remote_key": self.remote_key,
            "redis_host": self.redis_host, "redis_sentinel": self.redis_sentinel,
            "redis_sentinel_port": REDIS_SENTINEL_PORT, "redis_sentinel_master": REDIS_SENTINEL_MASTER,
            "db_name": self.db_name, "db_user": self.db_user,
            "events_topic": self.events_topic, "dlq_topic": self.dlq_topic,
            "allow_label": ALLOW_LABEL, "secret_keys": SECRET_KEYS,
            "postgres_host": self.postgres_host, "postgres_port": POSTGRES_PORT,
            "vault_addr": self.vault_addr, "service_host": self.service_host,
        }


def check_namespace_like(kind: str, value: str) -> str:
    if not isinstance(value, str) or not _DNS1123_LABEL.match(value or "") or len(value) > 63:
        raise InvalidInput(f"{kind} {value!r} is not a DNS-1123 label")
    return value
