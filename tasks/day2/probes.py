"""Service probes: PostgreSQL, PgBouncer, Kafka, Vault and the memory service, through their SDKs.

Each probe returns plain facts (a dict) or raises; it never judges. The analyzers
(`tasks/day2/analyzers.py`) turn facts into pass/warn/fail against the mode's thresholds.
Endpoints hold no secrets (see tasks/day2/settings.py); the PostgreSQL password comes from
libpq's PGPASSWORD, the Vault token from VAULT_TOKEN, the memory token from SOMA_MEMORY_TOKEN,
and Kafka's SCRAM login (staging and prod: Strimzi's SASL listener) from SOMA_KAFKA_SASL_USERNAME
and SOMA_KAFKA_SASL_PASSWORD, e.g. a KafkaUser Secret's (`soma-admin`).

    postgres(runner, dsn)     pg_isready, pg_is_in_recovery, pg_stat_replication lag
    pgbouncer(dsn)            SHOW POOLS on PgBouncer's admin console (the CloudNativePG Pooler)
    kafka(bootstrap)          brokers, topics, consumer groups with per-partition lag
    vault(addr)               seal status and /sys/health
    memory(url)               /readyz, /v1/stats (outbox pending and its oldest age)
"""

from __future__ import annotations

import os
import uuid

from tasks.core.errors import OpsError

TIMEOUT_S = 10

_REPLICATION_SQL = """
SELECT application_name, client_addr::text AS client_addr, state, sync_state,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint AS lag_bytes,
       extract(epoch FROM replay_lag)::float AS lag_seconds
FROM pg_stat_replication ORDER BY application_name
"""


class ProbeError(OpsError):
    """A probe could not reach or read its service."""


def postgres(runner, dsn: str) -> dict:
    import psycopg

    ready = runner.run(["pg_isready", "-d", dsn, "-t", str(TIMEOUT_S)], check=False, timeout=TIMEOUT_S + 5)
    facts = {"pg_isready": {"exit_code": ready.exit_code,
                            "output": runner.redact((ready.stdout or ready.stderr).strip())}}
    if not ready.ok:
        facts["accepting"] = False
        return facts
    facts["accepting"] = True
    try:
        with psycopg.connect(dsn, connect_timeout=TIMEOUT_S, autocommit=True) as conn:
            facts["version"] = conn.execute("SHOW server_version").fetchone()[0]
            facts["in_recovery"] = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            if facts["in_recovery"]:
                facts["replication"] = []
            else:
                cur = conn.execute(_REPLICATION_SQL)
                cols = [c.name for c in cur.description]
                facts["replication"] = [dict(zip(cols, row)) for row in cur.fetchall()]
    except psycopg.Error as exc:
        raise ProbeError(f"postgres: {str(exc).strip()}") from None
    return facts


def pgbouncer(dsn: str) -> dict:
    """PgBouncer's pools: one row per database/user pair, with clients active and waiting and
    server connections. The DSN names the admin console (dbname=pgbouncer) as a user PgBouncer
    lists in stats_users or admin_users. The console speaks only the simple query protocol,
    which psycopg's ClientCursor uses."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=TIMEOUT_S, autocommit=True,
                             cursor_factory=psycopg.ClientCursor) as conn:
            cur = conn.execute("SHOW POOLS")
            cols = [c.name for c in cur.description]
            return {"pools": [dict(zip(cols, row)) for row in cur.fetchall()]}
    except psycopg.Error as exc:
        raise ProbeError(f"pgbouncer: {str(exc).strip()}") from None


SASL_USERNAME_ENV, SASL_PASSWORD_ENV = "SOMA_KAFKA_SASL_USERNAME", "SOMA_KAFKA_SASL_PASSWORD"


def kafka_conf(bootstrap: str, timeout_s: float = TIMEOUT_S, environ=None) -> dict:
    """librdkafka settings: PLAINTEXT, or, when SOMA_KAFKA_SASL_PASSWORD is set, SCRAM-SHA-512
    (Strimzi's) as SOMA_KAFKA_SASL_USERNAME over SOMA_KAFKA_SECURITY_PROTOCOL (default
    SASL_PLAINTEXT, what the chart's staging and prod listener speaks)."""
    environ = os.environ if environ is None else environ
    conf = {"bootstrap.servers": bootstrap, "socket.timeout.ms": int(timeout_s * 1000)}
    password = environ.get(SASL_PASSWORD_ENV, "")
    if password:
        username = environ.get(SASL_USERNAME_ENV, "")
        if not username:
            raise ProbeError(f"kafka: {SASL_PASSWORD_ENV} is set but {SASL_USERNAME_ENV} is not")
        conf.update({"security.protocol": environ.get("SOMA_KAFKA_SECURITY_PROTOCOL") or "SASL_PLAINTEXT",
                     "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": username, "sasl.password": password})
    return conf


def kafka(bootstrap: str, timeout_s: float = TIMEOUT_S, expected=()) -> dict:
    """Brokers, topics and, for every consumer group, committed offset vs high watermark.

    A partition the group never committed has no offset (-1001): its lag counts from the
    low watermark (everything still retained) and the group is marked `no_commit`, so a
    consumer that never commits shows up instead of looking caught up. `expected` names
    groups that must exist (`day2.kafka_groups`): a broker may not list a group that has
    never committed (Tansu does not), so those are asked for by name and, with no offsets,
    reported as `no_commit` rather than left out.
    """
    from confluent_kafka import Consumer, KafkaException, TopicPartition
    from confluent_kafka.admin import AdminClient
    from confluent_kafka import ConsumerGroupTopicPartitions

    conf = kafka_conf(bootstrap, timeout_s)
    admin = AdminClient(conf)
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise ProbeError(f"kafka at {bootstrap}: {exc}") from None
    facts = {"brokers": sorted(f"{b.id}@{b.host}:{b.port}" for b in meta.brokers.values()),
             "topics": {name: len(t.partitions) for name, t in sorted(meta.topics.items())
                        if not name.startswith("__")},
             "groups": {}}
    try:
        listed = admin.list_consumer_groups(request_timeout=timeout_s).result()
    except KafkaException as exc:
        raise ProbeError(f"kafka list_consumer_groups: {exc}") from None
    watermarks = Consumer({**conf, "group.id": f"soma-probe-{uuid.uuid4().hex[:8]}",
                           "enable.auto.commit": False})
    states = {g.group_id: str(getattr(g, "state", "")).split(".")[-1] for g in listed.valid}
    for group in expected:
        states.setdefault(group, "not listed")
    try:
        for group in sorted(states):
            entry = {"state": states[group], "partitions": [], "lag": 0, "no_commit": False, "error": ""}
            facts["groups"][group] = entry
            try:
                futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                            request_timeout=timeout_s)
                committed = futures[group].result().topic_partitions or []
            except KafkaException as exc:
                entry["error"] = str(exc)
                continue
            if not committed:
                entry["no_commit"] = True
            for tp in committed:
                low, high = watermarks.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                             timeout=timeout_s)
                has_commit = tp.offset >= 0
                lag = max(high - (tp.offset if has_commit else low), 0)
                entry["no_commit"] |= not has_commit
                entry["lag"] += lag
                entry["partitions"].append({"topic": tp.topic, "partition": tp.partition,
                                            "committed": tp.offset if has_commit else None,
                                            "high": high, "lag": lag})
    finally:
        watermarks.close()
    return facts


def vault(addr: str, token: str | None = None) -> dict:
    import hvac
    import requests

    client = hvac.Client(url=addr, token=token or os.environ.get("VAULT_TOKEN"), timeout=TIMEOUT_S)
    try:
        seal = client.sys.read_seal_status()
        health = client.sys.read_health_status(method="GET")
    except (requests.RequestException, hvac.exceptions.VaultError) as exc:
        raise ProbeError(f"vault at {addr}: {exc}") from None
    if not isinstance(health, dict):  # hvac hands back the response for non-200 answers
        try:
            health = health.json()
        except ValueError:
            health = {"status_code": getattr(health, "status_code", None)}
    keep = ("sealed", "t", "n", "progress", "initialized", "version", "type", "storage_type", "cluster_name")
    return {"seal": {k: seal.get(k) for k in keep if k in seal},
            "health": {k: health.get(k) for k in ("initialized", "sealed", "standby", "version",
                                                  "replication_dr_mode", "status_code") if k in health}}


def memory(url: str, token: str | None = None) -> dict:
    import requests

    token = token or os.environ.get("SOMA_MEMORY_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = url.rstrip("/")
    try:
        ready = requests.get(f"{url}/readyz", timeout=TIMEOUT_S)
        stats = requests.get(f"{url}/v1/stats", headers=headers, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise ProbeError(f"memory service at {url}: {exc}") from None
    facts = {"readyz": {"status_code": ready.status_code, "body": _json(ready)},
             "stats": {"status_code": stats.status_code}}
    body = _json(stats)
    if stats.ok and isinstance(body, dict):
        facts["stats"].update({k: body.get(k) for k in ("namespace", "memories", "indexed",
                                                        "outbox_pending", "outbox_oldest_age_s")})
    else:
        facts["stats"]["body"] = body
    return facts


def _json(resp):
    try:
        return resp.json()
    except ValueError:
        return resp.text[:500]


def run_all(runner, endpoints: dict, only=("postgres", "pgbouncer", "kafka", "vault", "memory"),
            kafka_groups=()) -> dict:
    """name -> facts, {"error": message} when the probe failed, None when not configured."""
    calls = {"postgres": lambda e: postgres(runner, e), "pgbouncer": pgbouncer,
             "kafka": lambda e: kafka(e, expected=kafka_groups),
             "vault": vault, "memory": memory}
    out = {}
    for name in only:
        endpoint = endpoints.get(name) or ""
        if not endpoint:
            out[name] = None
            continue
        try:
            out[name] = calls[name](endpoint)
        except Exception as exc:  # every probe is reported; one broken service hides no other
            out[name] = {"error": runner.redact(str(exc).strip() or type(exc).__name__)}
    return out


def describe(endpoints: dict, only=("postgres", "pgbouncer", "kafka", "vault", "memory")) -> str:
    """What a plan row says the probes will call."""
    calls = {"postgres": "pg_isready; pg_stat_replication", "pgbouncer": "SHOW POOLS",
             "kafka": "AdminClient: brokers, topics, group offsets vs watermarks",
             "vault": "sys/seal-status, sys/health", "memory": "GET /readyz, GET /v1/stats"}
    return "; ".join(f"{n}: {calls[n]}" if endpoints.get(n) else f"{n}: not configured" for n in only)
