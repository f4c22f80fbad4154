"""Kafka side of onboarding (playbook §3.7 through the AdminClient, not kafka-topics.sh).

`<ns>.events` and `<ns>.events.dlq`: 6 partitions, replication by mode, retention 72 h.
Existing topics are compared with that: missing partitions are added, a differing
`retention.ms` is set, and anything that cannot be corrected safely (more partitions than
wanted, another replication factor) is reported as drift and left alone. Partitions are
never reduced (Kafka cannot, and re-creating a topic loses its data).
"""

import dataclasses
import re

from confluent_kafka import KafkaException
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                   ConfigResource, NewPartitions, NewTopic, ResourceType)

from tasks.onboard.errors import TopicError
from tasks.onboard.spec import OnboardSpec

TIMEOUT = 15.0


@dataclasses.dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int
    config: dict


@dataclasses.dataclass
class TopicState:
    """What the broker has for one topic, and what differs from the spec."""

    spec: TopicSpec
    exists: bool = False
    partitions: int = 0
    replication: int = 0
    config: dict = dataclasses.field(default_factory=dict)

    @property
    def grow_to(self) -> int | None:
        return self.spec.partitions if self.exists and self.partitions < self.spec.partitions else None

    @property
    def config_changes(self) -> dict:
        if not self.exists:
            return {}
        return {k: v for k, v in self.spec.config.items() if self.config.get(k) != v}

    @property
    def drift(self) -> list[str]:
        """Every difference, including the ones that are only reported."""
        if not self.exists:
            return []
        out = []
        if self.partitions > self.spec.partitions:
            out.append(f"{self.spec.name}: {self.partitions} partitions > {self.spec.partitions} "
                       "wanted; left alone (partitions are never reduced)")
        if self.grow_to:
            out.append(f"{self.spec.name}: {self.partitions} partitions < {self.spec.partitions}; "
                       "will add partitions")
        if self.replication != self.spec.replication:
            out.append(f"{self.spec.name}: replication factor {self.replication} != "
                       f"{self.spec.replication}; needs a partition reassignment (not automated)")
        for k, v in self.config_changes.items():
            out.append(f"{self.spec.name}: {k}={self.config.get(k)!r}, wanted {v!r}; will set it")
        return out


def topics_for(spec: OnboardSpec) -> list[TopicSpec]:
    config = {"retention.ms": str(spec.retention_ms)}
    return [TopicSpec(name, spec.partitions, spec.replication, dict(config))
            for name in (spec.events_topic, spec.dlq_topic)]


PASSWORD_ENV = "SOMA_KAFKA_SASL_PASSWORD"
# Strimzi's KafkaUser Secret (named after the user): `password`, and `sasl.jaas.config`, a
# ScramLoginModule line carrying both the username and the password.
JAAS_KEY = "sasl.jaas.config"
_JAAS_FIELD = re.compile(r'\b(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"')


def jaas_credentials(text: str) -> tuple[str, str]:
    """(username, password) of a `sasl.jaas.config` value; TopicError when either is absent."""
    fields = dict(_JAAS_FIELD.findall(text or ""))
    if not fields.get("username") or not fields.get("password"):
        raise TopicError(f"the Secret's {JAAS_KEY} holds no username and password")
    return fields["username"], fields["password"]


def client_config(settings: dict, environ: dict, read_secret=None) -> dict:
    """librdkafka settings for the admin client from `soma.onboard.kafka`: bootstrap, the
    security protocol (SASL_PLAINTEXT as the staging and prod listeners speak), mechanism
    (SCRAM-SHA-512 unless set), user and CA file. The SASL password comes from
    SOMA_KAFKA_SASL_PASSWORD or, failing that, from the configured Secret through
    `read_secret(namespace/name, key)`: a Strimzi KafkaUser Secret, key `password` (the
    username is then the Secret's name, as Strimzi names it after the user) or
    `sasl.jaas.config` (username and password both read from it). It is never a setting."""
    bootstrap = settings.get("bootstrap", "")
    if not bootstrap:
        raise TopicError("no Kafka bootstrap servers: set soma.onboard.kafka.bootstrap "
                         "(SOMA_ONBOARD_KAFKA_BOOTSTRAP)")
    conf = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 10000}
    protocol = settings.get("security_protocol") or "PLAINTEXT"
    conf["security.protocol"] = protocol
    if settings.get("ssl_ca_location"):
        conf["ssl.ca.location"] = settings["ssl_ca_location"]
    if protocol.startswith("SASL_"):
        secret = settings.get("secret", "")
        username = settings.get("sasl_username", "") or secret.rsplit("/", 1)[-1]
        if not username:
            raise TopicError(f"security protocol {protocol} needs soma.onboard.kafka.sasl_username "
                             "(SOMA_ONBOARD_KAFKA_SASL_USERNAME) or soma.onboard.kafka.secret")
        password = environ.get(PASSWORD_ENV, "")
        if not password and secret and read_secret is not None:
            key = settings.get("secret_key") or "password"
            raw = read_secret(secret, key)
            if key == JAAS_KEY:
                jaas_user, password = jaas_credentials(raw)
                username = settings.get("sasl_username", "") or jaas_user
            else:
                password = raw.strip()
        if not password:
            raise TopicError(f"security protocol {protocol} needs a SASL password: set "
                             f"{PASSWORD_ENV} or soma.onboard.kafka.secret")
        conf.update({"sasl.mechanism": settings.get("sasl_mechanism") or "SCRAM-SHA-512",
                     "sasl.username": username, "sasl.password": password})
    return conf


def admin(conf: dict) -> AdminClient:
    return AdminClient(conf)


def _result(future, what: str):
    try:
        return future.result(timeout=TIMEOUT)
    except KafkaException as exc:
        raise TopicError(f"{what}: {exc.args[0].str() if exc.args else exc}") from None
    except Exception as exc:  # librdkafka surfaces timeouts as plain exceptions
        raise TopicError(f"{what}: {exc}") from None


def describe(client: AdminClient, topic: TopicSpec) -> TopicState:
    try:
        # The full listing, never `topic=`: a metadata request naming a topic makes brokers
        # with auto-create on (Tansu among them) create it with their default partitions.
        md = client.list_topics(timeout=TIMEOUT)
    except KafkaException as exc:
        raise TopicError(f"cannot reach the broker to describe {topic.name}: {exc}") from None
    tmd = md.topics.get(topic.name)
    if tmd is None or tmd.error is not None:
        return TopicState(topic)
    parts = tmd.partitions
    replication = len(next(iter(parts.values())).replicas) if parts else 0
    res = ConfigResource(ResourceType.TOPIC, topic.name)
    futures = client.describe_configs([res], request_timeout=TIMEOUT)
    entries = _result(futures[res], f"describe configs of {topic.name}")
    config = {k: e.value for k, e in entries.items() if k in topic.config}
    return TopicState(topic, True, len(parts), replication, config)


def create(client: AdminClient, topics: list[TopicSpec], validate_only: bool = False) -> None:
    if not topics:
        return
    new = [NewTopic(t.name, num_partitions=t.partitions, replication_factor=t.replication,
                    config=t.config) for t in topics]
    futures = client.create_topics(new, validate_only=validate_only, request_timeout=TIMEOUT)
    verb = "validate" if validate_only else "create"
    for name, fut in futures.items():
        _result(fut, f"{verb} topic {name}")


def grow(client: AdminClient, state: TopicState) -> None:
    futures = client.create_partitions([NewPartitions(state.spec.name, state.spec.partitions)],
                                       request_timeout=TIMEOUT)
    for name, fut in futures.items():
        _result(fut, f"add partitions to {name}")


def set_config(client: AdminClient, state: TopicState) -> None:
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
               for k, v in state.config_changes.items()]
    res = ConfigResource(ResourceType.TOPIC, state.spec.name, incremental_configs=entries)
    futures = client.incremental_alter_configs([res], request_timeout=TIMEOUT)
    for _, fut in futures.items():
        _result(fut, f"set config of {state.spec.name}")
