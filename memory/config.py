"""Service configuration: environment variables with one prefix, `SOMA_MEMORY_`.

Every setting is a field of `Settings` with its variable, default and meaning in `FIELDS`,
which docs/service.md mirrors as the Configuration table. `Settings.from_env()` validates
everything up front so a bad value stops the process at start, not at the first request.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import math
import os
import pathlib
import re
from typing import Mapping

import limits

from memory import contract
from memory.errors import ConfigError

PREFIX = "SOMA_MEMORY_"
SCOPES = frozenset({"read", "write", "admin"})
NAMESPACE = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")  # also a Kafka topic part


@dataclasses.dataclass(frozen=True)
class Token:
    namespace: str
    scopes: frozenset[str]


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str = ""            # empty: the embedded SQLite default under data_dir
    data_dir: str = "data"
    host: str = "127.0.0.1"
    port: int = 9595
    threads: int = 8
    dim: int = 384
    embedder: str = "hash"            # "hash" (default, offline) or "minilm" (optional extra)
    default_namespace: str = "default"
    tokens: Mapping[str, Token] = dataclasses.field(default_factory=dict)
    kafka_bootstrap: str = ""         # empty: no broker; events stay in the outbox table
    topic: str = "memory.events"
    # Kafka security and topic sizing; usually from the onboarding contract (memory/contract.py)
    kafka_security_protocol: str = ""   # "" (plaintext), SSL, SASL_PLAINTEXT or SASL_SSL
    kafka_sasl_mechanism: str = "SCRAM-SHA-512"
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = ""
    kafka_ssl_ca_location: str = ""
    topic_replication: int = 1
    topic_partitions: int = 3
    relay_in_process: bool = True
    consumer_group: str = "memory-consumer"
    consumer_max_attempts: int = 5
    broker_wait_s: float = 60.0       # relay/consume wait this long for an absent broker at start
    max_body_bytes: int = 5 * 1024 * 1024
    bulk_max_items: int = 2_000      # reachable under max_body_bytes with vector_b64 (validate)
    bulk_max_body_bytes: int = 64 * 1024 * 1024  # the binary bulk route's own body limit
    batch_max_queries: int = 100
    max_text_chars: int = 50_000      # text embedded for one request, all items/queries together
    rate_limit: str = "6000/minute"
    auth_fail_limit: str = "60/minute"   # per client address, for requests that fail authentication
    cors_origins: tuple[str, ...] = ()
    metrics_token: str = ""           # set: /metrics asks for `Authorization: Bearer <it>`
    metrics_namespaces: bool = False  # label index sizes by namespace (tenant names) in /metrics
    half_life_s: float = math.inf
    alpha: float = 1.0
    importance_floor: float = 0.2     # normalised importance is mapped into [floor, 1]; > 0
    ann: str = ""                     # "", "hnsw" or "faiss"
    hot_bytes: int = 0                # byte budget of each namespace's in-memory tier; 0 = unlimited
    follow_interval_s: float = 0.2
    access_flush_s: float = 1.0       # GET access counts are written this often; 0: never written
    load_chunk_rows: int = 65_536     # rows per chunk of the start-up index load
    log_level: str = "INFO"

    @property
    def embedded(self) -> bool:
        """True when no database was configured: the zero-configuration SQLite default."""
        return not self.database_url

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{pathlib.Path(self.data_dir).resolve() / 'memory.db'}"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.tokens)

    def redacted(self) -> dict:
        """The effective configuration with secrets removed, for the start-up log line."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "tokens":
                value = sorted({f"{t.namespace}:{','.join(sorted(t.scopes))}" for t in value.values()})
            elif f.name == "metrics_token":
                value = "<set>" if value else ""
            elif f.name == "kafka_sasl_password":
                value = "<redacted>" if value else ""
            elif f.name == "database_url":
                value = redact_url(self.effective_database_url)
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, float) and math.isinf(value):
                value = "inf"
            out[f.name] = value
        return out

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        # the onboarding contract fills in what no SOMA_MEMORY_* variable sets
        env = contract.contract_env(os.environ if env is None else env)
        kwargs: dict = {}
        for f in dataclasses.fields(cls):
            if f.name == "tokens":
                continue
            raw = env.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            kwargs[f.name] = _parse(f.name, f.type, raw)
        kwargs["tokens"] = load_tokens(env)
        settings = cls(**kwargs)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 1 <= self.dim <= 8192:
            raise ConfigError(f"{PREFIX}DIM must be in 1..8192, got {self.dim}")
        if self.embedder not in ("hash", "minilm"):
            raise ConfigError(f"{PREFIX}EMBEDDER must be 'hash' or 'minilm', got {self.embedder!r}")
        if self.embedder == "minilm" and self.dim != 384:
            raise ConfigError(f"{PREFIX}EMBEDDER=minilm produces 384 dims; set {PREFIX}DIM=384")
        if self.ann not in ("", "hnsw", "faiss"):
            raise ConfigError(f"{PREFIX}ANN must be empty, 'hnsw' or 'faiss', got {self.ann!r}")
        if self.hot_bytes < 0:
            raise ConfigError(f"{PREFIX}HOT_BYTES must be >= 0 (0 = unlimited)")
        for name in ("port", "threads", "max_body_bytes", "bulk_max_items", "bulk_max_body_bytes",
                     "batch_max_queries", "consumer_max_attempts", "max_text_chars", "load_chunk_rows"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{PREFIX}{name.upper()} must be positive")
        if not (math.isfinite(self.access_flush_s) and self.access_flush_s >= 0):
            raise ConfigError(f"{PREFIX}ACCESS_FLUSH_S must be >= 0 (0 = do not write accesses)")
        if not 0 < self.broker_wait_s < math.inf:
            raise ConfigError(f"{PREFIX}BROKER_WAIT_S must be a positive number of seconds")
        if not 0 < self.importance_floor <= 1:
            raise ConfigError(f"{PREFIX}IMPORTANCE_FLOOR must be in (0, 1], got {self.importance_floor}")
        if not self.half_life_s > 0:
            raise ConfigError(f"{PREFIX}HALF_LIFE_S must be > 0 (inf disables decay)")
        if self.database_url and not self.database_url.startswith(("sqlite:", "postgresql")):
            raise ConfigError(f"{PREFIX}DATABASE_URL must be sqlite:/// or postgresql://")
        if not NAMESPACE.fullmatch(self.default_namespace):
            raise ConfigError(f"{PREFIX}DEFAULT_NAMESPACE must be 1-64 letters, digits, '.', '_' or '-'")
        for name in ("rate_limit", "auth_fail_limit"):
            try:
                limits.parse_many(getattr(self, name))
            except ValueError:
                raise ConfigError(f"{PREFIX}{name.upper()} is not a limit like '6000/minute'") from None
        need = self.bulk_max_items * min_bulk_item_bytes(self.dim) + 16
        if need > self.max_body_bytes:
            reachable = (self.max_body_bytes - 16) // min_bulk_item_bytes(self.dim)
            raise ConfigError(
                f"{PREFIX}BULK_MAX_ITEMS={self.bulk_max_items} cannot be reached: that many items of "
                f"{self.dim} dims take at least {need} bytes, above {PREFIX}MAX_BODY_BYTES="
                f"{self.max_body_bytes} (at most {reachable} items fit)")
        need = binary_bulk_bytes(self.bulk_max_items, self.dim)
        if need > self.bulk_max_body_bytes:
            raise ConfigError(
                f"{PREFIX}BULK_MAX_ITEMS={self.bulk_max_items} cannot be reached in the binary bulk "
                f"format: that many items of {self.dim} dims take at least {need} bytes, above "
                f"{PREFIX}BULK_MAX_BODY_BYTES={self.bulk_max_body_bytes}")
        if self.metrics_token and len(self.metrics_token) < 8:
            raise ConfigError(f"{PREFIX}METRICS_TOKEN must be at least 8 characters")
        if "{" in self.topic.replace("{namespace}", ""):
            raise ConfigError(f"{PREFIX}TOPIC may only use the placeholder {{namespace}}")
        contract.check(self)
        if not self.auth_enabled and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to listen on {self.host} without tokens: set {PREFIX}TOKENS or "
                f"{PREFIX}TOKENS_FILE, or listen on 127.0.0.1")


def _parse(name: str, typ, raw: str):
    try:
        if typ in ("int", int):
            return int(raw)
        if typ in ("float", float):
            return float(raw)
        if typ in ("bool", bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if "tuple" in str(typ):
            return tuple(p.strip() for p in raw.split(",") if p.strip())
        return raw
    except ValueError:
        raise ConfigError(f"{PREFIX}{name.upper()}: cannot parse {raw!r} as {typ}") from None


def load_tokens(env: Mapping[str, str]) -> dict[str, Token]:
    """Tokens from `SOMA_MEMORY_TOKENS_FILE` (JSON) or `SOMA_MEMORY_TOKENS`.

    Both take `{"<token>": {"namespace": "ns", "scopes": ["read", "write"]}}`; the variable
    also takes the short form `<token>=<namespace>:<scope>,<scope>;...`.
    """
    path = env.get(PREFIX + "TOKENS_FILE")
    raw = None
    if path:
        try:
            raw = pathlib.Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"{PREFIX}TOKENS_FILE: cannot read: {exc.strerror}") from None
    elif env.get(PREFIX + "TOKENS"):
        raw = env[PREFIX + "TOKENS"]
    if not raw:
        return {}
    raw = raw.strip()
    if raw.startswith("{"):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"token configuration is not valid JSON: {exc.msg}") from None
        items = [(tok, spec.get("namespace"), spec.get("scopes")) for tok, spec in data.items()]
    else:
        items = []
        for entry in filter(None, (e.strip() for e in raw.split(";"))):
            tok, sep, rest = entry.partition("=")
            ns, _, scopes = rest.partition(":")
            if not sep:
                raise ConfigError("token entry without '=': expected <token>=<namespace>:<scopes>")
            items.append((tok.strip(), ns.strip(), [s.strip() for s in scopes.split(",") if s.strip()]))
    tokens = {}
    for tok, ns, scopes in items:
        if not tok or len(tok) < 8:
            raise ConfigError("every token must be at least 8 characters")
        if not isinstance(ns, str) or not NAMESPACE.fullmatch(ns):
            raise ConfigError("every token needs a namespace of 1-64 letters, digits, '.', '_' or '-'")
        scopes = frozenset(scopes or ())
        if not scopes or not scopes <= SCOPES:
            raise ConfigError(f"token scopes must be a non-empty subset of {sorted(SCOPES)}")
        tokens[tok] = Token(namespace=ns, scopes=scopes)
    return tokens


def min_bulk_item_bytes(dim: int) -> int:
    """The smallest bulk item: `{"vector_b64":"<dim float32 as base64>"},`."""
    return len('{"vector_b64":""},') + 4 * ((dim * 4 + 2) // 3)


def binary_bulk_bytes(items: int, dim: int) -> int:
    """The smallest binary bulk body of `items` memories (memory/api/bulk_binary.py): the
    8-byte frame, `{"dim":<dim>,"items":[{},...]}` and the float32 block."""
    return 8 + len(f'{{"dim":{dim},"items":[]}}') + 3 * items - 1 + items * dim * 4


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """Drop the password from a database URL."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is reported by the store, not here
        return "<unparsable>"


# Variable, default, meaning: the source of the Configuration table in docs/service.md.
FIELDS = {
    "DATABASE_URL": "SQLAlchemy URL: `postgresql+psycopg://user@host/db` or `sqlite:///path`. "
                    "Empty: the embedded SQLite file `<DATA_DIR>/memory.db`, migrated on first start.",
    "DATA_DIR": "Folder of the embedded SQLite database (default `data`).",
    "HOST": "Listen address (default `127.0.0.1`). Beyond loopback only with tokens.",
    "PORT": "Listen port (default 9595).",
    "THREADS": "WSGI worker threads (default 8).",
    "DIM": "Vector dimension of every memory (default 384).",
    "EMBEDDER": "`hash` (default, deterministic feature hashing) or `minilm` (extra `text`).",
    "DEFAULT_NAMESPACE": "Namespace served when no tokens are configured (default `default`).",
    "TOKENS": "Bearer tokens: JSON `{token: {namespace, scopes}}` or `tok=ns:read,write;...`.",
    "TOKENS_FILE": "File holding the same JSON; wins over TOKENS.",
    "KAFKA_BOOTSTRAP": "Kafka bootstrap servers; empty: no broker, events stay in the outbox.",
    "TOPIC": "Event topic (default `memory.events`); `{namespace}.events` gives one topic per "
             "namespace, as the playbook names them.",
    "KAFKA_SECURITY_PROTOCOL": "Empty (plaintext), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`; contract: "
                               "`KAFKA_SECURITY_PROTOCOL`, `SASL_SSL` when a SASL password is given.",
    "KAFKA_SASL_MECHANISM": "`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (default).",
    "KAFKA_SASL_USERNAME": "SASL user; contract: `KAFKA_SASL_USERNAME`.",
    "KAFKA_SASL_PASSWORD": "SASL password (redacted in logs); contract: the runtime Secret's `KAFKA_SASL_PASSWORD`.",
    "KAFKA_SSL_CA_LOCATION": "CA file for the broker's certificate; contract: `KAFKA_SSL_CA_LOCATION`.",
    "TOPIC_REPLICATION": "Replication factor of topics the service creates (default 1; the chart sets "
                         "1 or 3 by mode); contract: `KAFKA_REPLICATION_FACTOR`.",
    "TOPIC_PARTITIONS": "Partitions of topics the service creates (default 3); contract: `KAFKA_TOPIC_PARTITIONS`.",
    "RELAY_IN_PROCESS": "Run the outbox relay inside `serve` when a broker is set (default true).",
    "CONSUMER_GROUP": "Consumer group of `inv memory.consume` (default `memory-consumer`).",
    "CONSUMER_MAX_ATTEMPTS": "Attempts before a message goes to `<topic>.dlq` (default 5).",
    "BROKER_WAIT_S": "How long `relay` and `consume` wait for an absent broker at start, with "
                     "backoff and one log line per attempt, before exiting 1 (default 60).",
    "MAX_BODY_BYTES": "Request body limit; above it 413 (default 5242880).",
    "BULK_MAX_ITEMS": "Most items in one bulk store (default 2000). It must be reachable: that "
                      "many `vector_b64` items of DIM must fit in MAX_BODY_BYTES, else the "
                      "service refuses to start (JSON arrays take about 4x the bytes).",
    "BULK_MAX_BODY_BYTES": "Body limit of the binary bulk store, `POST /v1/memories/bulk/binary` "
                           "(default 67108864), apart from MAX_BODY_BYTES; above it 413. BULK_MAX_ITEMS "
                           "memories of DIM must fit in it, else the service refuses to start.",
    "BATCH_MAX_QUERIES": "Most queries in one batch recall (default 100).",
    "MAX_TEXT_CHARS": "Most characters of `text` embedded for one request, all its items or "
                      "queries together (default 50000); the bound on embedding work per request.",
    "RATE_LIMIT": "Per-token limit over all routes, the limits library's notation (default `6000/minute`); "
                  "the key is the authenticated token (a hash), without tokens the client address.",
    "AUTH_FAIL_LIMIT": "Limit of requests that fail authentication, per client address "
                       "(default `60/minute`); past it 429 before the token is even compared.",
    "CORS_ORIGINS": "Comma-separated allowed origins; empty (default): CORS closed.",
    "METRICS_TOKEN": "When set, `/metrics` answers only `Authorization: Bearer <token>` (401 "
                     "otherwise); empty (default): open, for a scraper on a private network.",
    "METRICS_NAMESPACES": "Label `memory_index_rows` by namespace (tenant names) in `/metrics` "
                          "(default false: one unlabelled total).",
    "HALF_LIFE_S": "Decay half-life in seconds (default `inf`: no decay).",
    "ALPHA": "Importance exponent (default 1.0).",
    "IMPORTANCE_FLOOR": "Normalised importance is mapped into [floor, 1] so no memory's weight is 0 "
                        "(default 0.2; must be in (0, 1]; docs/engine.md).",
    "ANN": "Approximate index: empty (exact), `hnsw` or `faiss`.",
    "HOT_BYTES": "Byte budget of each namespace's in-memory tier; past it the lowest-retention "
                 "memories leave recall (still stored, `memory.evicted`). 0 (default): unlimited.",
    "FOLLOW_INTERVAL_S": "How often a process polls the change log of other writers (default 0.2).",
    "ACCESS_FLUSH_S": "GET counts an access (`access_count`, `last_access`); the counts are written "
                      "this often, all in one transaction (default 1.0 s; a crash loses at most "
                      "this much). 0: accesses are not written to the database at all.",
    "LOAD_CHUNK_ROWS": "Rows per chunk of the start-up index load (default 65536); /readyz reports "
                       "the load's progress after each chunk.",
    "LOG_LEVEL": "Log level (default INFO).",
}
