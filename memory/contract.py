"""The onboarding settings contract, read by the memory service.

`inv app.onboard` gives an application namespace a `<ns>-settings` ConfigMap (playbook §3.4:
POSTGRES_HOST/PORT/DB/USER, KAFKA_BOOTSTRAP_SERVERS, KAFKA_EVENTS_TOPIC, ...) and the
runtime Secret `<ns>-runtime` (POSTGRES_PASSWORD, KAFKA_SASL_PASSWORD, POSTGRES_DSN, ...).
A pod takes both with `envFrom`; the Secret may instead be mounted as files (one file per
key) in `SOMA_CONTRACT_SECRETS_DIR`, which then wins over the variable of the same name.

`contract_env(env)` turns the contract into the `SOMA_MEMORY_*` variables `Settings` reads.
A `SOMA_MEMORY_*` variable that is set always wins over the contract. `sources(env)` says
where each contract-backed setting came from, for the redacted start line.

Contract keys beyond onboarding's (the chart sets them per mode; all optional):

| Key | Meaning |
| --- | --- |
| `POSTGRES_SSLMODE`, `POSTGRES_SSLROOTCERT` | libpq `sslmode` / `sslrootcert` (the CA file) |
| `KAFKA_SECURITY_PROTOCOL` | `PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL` (default `SASL_SSL` when a SASL password is given) |
| `KAFKA_SASL_MECHANISM`, `KAFKA_SASL_USERNAME` | default `SCRAM-SHA-512`; the username has no default |
| `KAFKA_SSL_CA_LOCATION` | CA file for the broker's certificate |
| `KAFKA_REPLICATION_FACTOR`, `KAFKA_TOPIC_PARTITIONS` | for the topics the service creates (mode: 1 or 3) |
"""

from __future__ import annotations

import pathlib
from typing import Mapping

from memory.errors import ConfigError

PREFIX = "SOMA_MEMORY_"
SECRETS_DIR = "SOMA_CONTRACT_SECRETS_DIR"
# The runtime Secret's keys (tasks/onboard/spec.py SECRET_KEYS): never logged, never in argv.
SECRET_KEYS = ("POSTGRES_PASSWORD", "KAFKA_SASL_PASSWORD", "POSTGRES_DSN", "REDIS_PASSWORD")
PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")

# Settings field -> the contract keys it is made from (for the sources line).
CONTRACT_FIELDS = {
    "database_url": ("POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD",
                     "POSTGRES_SSLMODE", "POSTGRES_SSLROOTCERT", "POSTGRES_DSN"),
    "kafka_bootstrap": ("KAFKA_BOOTSTRAP_SERVERS",),
    "topic": ("KAFKA_EVENTS_TOPIC",),
    "kafka_security_protocol": ("KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_PASSWORD"),
    "kafka_sasl_mechanism": ("KAFKA_SASL_MECHANISM",),
    "kafka_sasl_username": ("KAFKA_SASL_USERNAME",),
    "kafka_sasl_password": ("KAFKA_SASL_PASSWORD",),
    "kafka_ssl_ca_location": ("KAFKA_SSL_CA_LOCATION",),
    "topic_replication": ("KAFKA_REPLICATION_FACTOR",),
    "topic_partitions": ("KAFKA_TOPIC_PARTITIONS",),
}


class Contract:
    """The contract keys of one environment: variables, and the Secret's files if mounted."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env
        self.secrets_dir = env.get(SECRETS_DIR) or ""

    def origin(self, key: str) -> str | None:
        """Where a key's value is: 'file', 'secret' (an env var of a Secret key), 'configmap', None."""
        if key in SECRET_KEYS and self.secrets_dir and (pathlib.Path(self.secrets_dir) / key).is_file():
            return "file"
        if self.env.get(key, "") != "":
            return "secret" if key in SECRET_KEYS else "configmap"
        return None

    def get(self, key: str) -> str:
        where = self.origin(key)
        if where == "file":
            try:
                return (pathlib.Path(self.secrets_dir) / key).read_text().strip()
            except OSError as exc:
                raise ConfigError(f"{SECRETS_DIR}/{key}: cannot read: {exc.strerror}") from None
        return (self.env.get(key) or "").strip() if where else ""


def database_url(c: Contract) -> str:
    """A SQLAlchemy URL from the POSTGRES_* keys (else the Secret's POSTGRES_DSN), or ''."""
    from sqlalchemy.engine import URL, make_url
    sslmode, rootcert = c.get("POSTGRES_SSLMODE"), c.get("POSTGRES_SSLROOTCERT")
    if sslmode and sslmode not in SSLMODES:
        raise ConfigError(f"POSTGRES_SSLMODE must be one of {', '.join(SSLMODES)}, got {sslmode!r}")
    query = {k: v for k, v in (("sslmode", sslmode), ("sslrootcert", rootcert)) if v}
    host = c.get("POSTGRES_HOST")
    if host:
        missing = [k for k in ("POSTGRES_DB", "POSTGRES_USER") if not c.get(k)]
        if missing:
            raise ConfigError(f"POSTGRES_HOST is set but {' and '.join(missing)} is not")
        port = c.get("POSTGRES_PORT") or "5432"
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"POSTGRES_PORT must be a TCP port, got {port!r}")
        url = URL.create("postgresql+psycopg", username=c.get("POSTGRES_USER"),
                         password=c.get("POSTGRES_PASSWORD") or None, host=host, port=int(port),
                         database=c.get("POSTGRES_DB"), query=query)
        return url.render_as_string(hide_password=False)
    dsn = c.get("POSTGRES_DSN")
    if not dsn:
        return ""
    try:
        url = make_url(dsn)
    except Exception:  # never quote the DSN: it holds the password
        raise ConfigError("POSTGRES_DSN in the runtime Secret is not a database URL") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url.update_query_dict(query).render_as_string(hide_password=False)


def kafka_values(c: Contract) -> dict[str, str]:
    out = {}
    if c.get("KAFKA_BOOTSTRAP_SERVERS"):
        out["kafka_bootstrap"] = c.get("KAFKA_BOOTSTRAP_SERVERS")
    if c.get("KAFKA_EVENTS_TOPIC"):
        out["topic"] = c.get("KAFKA_EVENTS_TOPIC")
    password = c.get("KAFKA_SASL_PASSWORD")
    protocol = c.get("KAFKA_SECURITY_PROTOCOL") or ("SASL_SSL" if password else "")
    if protocol:
        out["kafka_security_protocol"] = protocol
    if c.get("KAFKA_SASL_MECHANISM"):
        out["kafka_sasl_mechanism"] = c.get("KAFKA_SASL_MECHANISM")
    if c.get("KAFKA_SASL_USERNAME"):
        out["kafka_sasl_username"] = c.get("KAFKA_SASL_USERNAME")
    if password:  # also without SASL, so that check() can refuse the mismatch
        out["kafka_sasl_password"] = password
    for key, field in (("KAFKA_SSL_CA_LOCATION", "kafka_ssl_ca_location"),
                       ("KAFKA_REPLICATION_FACTOR", "topic_replication"),
                       ("KAFKA_TOPIC_PARTITIONS", "topic_partitions")):
        if c.get(key):
            out[field] = c.get(key)
    return out


def contract_values(env: Mapping[str, str]) -> dict[str, str]:
    """Settings field -> raw value, from the contract alone."""
    c = Contract(env)
    out = kafka_values(c)
    url = database_url(c)
    if url:
        out["database_url"] = url
    return out


def contract_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` with the contract's values filled in as SOMA_MEMORY_* where those are unset."""
    merged = dict(env)
    for field, value in contract_values(env).items():
        name = PREFIX + field.upper()
        if merged.get(name, "") == "":
            merged[name] = value
    return merged


def sources(env: Mapping[str, str], fields=None) -> dict[str, str]:
    """Setting -> where its value came from: `SOMA_MEMORY_<NAME>`, `contract: <keys>
    (configmap|secret|file)` or `default`, for `fields` (default: the contract-backed ones).
    Names only, never a value: safe to log."""
    c = Contract(env)
    contract = contract_values(env)
    out = {}
    for field in fields or CONTRACT_FIELDS:
        name = PREFIX + field.upper()
        if env.get(name, "") != "":
            out[field] = name
        elif field in contract:
            used = [f"{k} ({c.origin(k)})" for k in CONTRACT_FIELDS[field] if c.origin(k)]
            out[field] = "contract: " + ", ".join(used)
        else:
            out[field] = "default"
    return out


def kafka_security(settings) -> dict[str, str]:
    """The librdkafka security options of the settings, for every client (producer,
    consumer, admin). Empty for a plaintext broker."""
    protocol = settings.kafka_security_protocol
    if not protocol:
        return {}
    out = {"security.protocol": protocol}
    if protocol.startswith("SASL"):
        out.update({"sasl.mechanism": settings.kafka_sasl_mechanism,
                    "sasl.username": settings.kafka_sasl_username,
                    "sasl.password": settings.kafka_sasl_password})
    if protocol.endswith("SSL") and settings.kafka_ssl_ca_location:
        out["ssl.ca.location"] = settings.kafka_ssl_ca_location
    return out


def producer_config(settings) -> dict:
    """The relay's (and the dead-letter) producer configuration, security included."""
    from memory.events import kafka
    return kafka.producer_config(settings.kafka_bootstrap, **kafka_security(settings))


def consumer_config(settings, group: str) -> dict:
    from memory.events.consumer import consumer_config as base
    return {**base(settings.kafka_bootstrap, group), **kafka_security(settings)}


def check(settings) -> None:
    """The Kafka security settings hang together (called by Settings.validate)."""
    protocol = settings.kafka_security_protocol
    if protocol and protocol not in PROTOCOLS:
        raise ConfigError(f"{PREFIX}KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
    if protocol.startswith("SASL"):
        if settings.kafka_sasl_mechanism not in MECHANISMS:
            raise ConfigError(f"{PREFIX}KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, "
                              f"got {settings.kafka_sasl_mechanism!r}")
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise ConfigError(f"{protocol} needs a SASL username and password: set KAFKA_SASL_USERNAME "
                              "and the runtime Secret's KAFKA_SASL_PASSWORD (or "
                              f"{PREFIX}KAFKA_SASL_USERNAME/_PASSWORD)")
    elif settings.kafka_sasl_password and protocol:
        raise ConfigError(f"a SASL password is set but {PREFIX}KAFKA_SECURITY_PROTOCOL is {protocol}: "
                          "use SASL_SSL (or SASL_PLAINTEXT)")
    if settings.topic_replication < 1:
        raise ConfigError(f"{PREFIX}TOPIC_REPLICATION must be >= 1")
    if settings.topic_partitions < 1:
        raise ConfigError(f"{PREFIX}TOPIC_PARTITIONS must be >= 1")
