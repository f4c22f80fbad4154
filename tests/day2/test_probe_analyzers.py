"""The probe-backed analyzers, pass and fail, against real services:

- replication lag: a PostgreSQL primary with a streaming replica (pg_basebackup), replay paused;
- consumer lag: consumer groups with committed offsets on the Tansu broker;
- Vault sealed: a non-dev OpenBao (raft storage), sealed and unsealed;
- outbox lag: the memory service running as its own process, with writes waiting in its outbox.
"""

from __future__ import annotations

import copy

import pytest

from tasks.core.runner import Runner
from tasks.day2 import analyzers, probes
from tasks.day2.report import FAIL, PASS, SKIP, WARN

T = {"replication_lag_bytes": {"warn": 1 << 20, "fail": 4 << 20}, "replication_lag_seconds": {"warn": 10, "fail": 60},
     "consumer_lag": {"warn": 5, "fail": 7}, "outbox_pending": {"warn": 100, "fail": 1000},
     "outbox_lag_seconds": {"warn": 600, "fail": 3600}, "restarts": {"warn": 3, "fail": 10}}


def facts(**probed) -> dict:
    return {"probes": probed}


def test_replication_lag_passes_when_the_standby_keeps_up(pg_replication):
    got = probes.postgres(Runner(timeout=30), pg_replication.primary.dsn())
    assert got["accepting"] and not got["in_recovery"]
    assert [r["application_name"] for r in got["replication"]] == ["replica1"]
    check = analyzers.replication_lag(facts(postgres=got), T)
    assert check.status == PASS, check.detail
    assert "replica1: streaming" in check.detail


def test_replication_lag_fails_when_replay_stops_behind_the_primary(pg_replication):
    with pg_replication.replay_paused():
        pg_replication.write_wal(8)  # ~8 MiB of WAL the standby receives but does not replay
        got = probes.postgres(Runner(timeout=30), pg_replication.primary.dsn())
        check = analyzers.replication_lag(facts(postgres=got), T)
    assert got["replication"][0]["lag_bytes"] >= 4 << 20
    assert check.status == FAIL, check.detail
    assert "bytes" in check.detail


def test_replication_lag_on_a_standby_endpoint_or_without_standbys_is_a_warning(pg_replication, postgres_server):
    standby = probes.postgres(Runner(timeout=30), pg_replication.replica.dsn())
    assert standby["in_recovery"] is True
    assert analyzers.replication_lag(facts(postgres=standby), T).status == WARN
    alone = probes.postgres(Runner(timeout=30), postgres_server.dsn())
    assert alone["replication"] == []
    assert analyzers.replication_lag(facts(postgres=alone), T).status == WARN


def test_replication_lag_fails_when_the_primary_is_not_accepting():
    got = probes.postgres(Runner(timeout=30), "postgresql://postgres@127.0.0.1:1/postgres")
    assert got["accepting"] is False
    assert analyzers.replication_lag(facts(postgres=got), T).status == FAIL


def test_consumer_lag_from_the_admin_api(kafka_lag):
    got = probes.kafka(kafka_lag.bootstrap)
    assert kafka_lag.topic in got["topics"] and got["brokers"]
    lagging, caught_up = got["groups"][kafka_lag.lagging], got["groups"][kafka_lag.caught_up]
    assert lagging["lag"] == 7 and lagging["partitions"][0]["committed"] == 3
    assert caught_up["lag"] == 0
    only_caught_up = copy.deepcopy(got)
    only_caught_up["groups"] = {kafka_lag.caught_up: caught_up}
    assert analyzers.consumer_lag(facts(kafka=only_caught_up), T).status == PASS
    check = analyzers.consumer_lag(facts(kafka=got), T)
    assert check.status == FAIL and f"{kafka_lag.lagging}: lag 7" in check.detail


def test_a_group_with_no_commit_is_a_warning_not_caught_up(kafka_lag):
    """A real consumer that joined the group and read, but never committed."""
    import time
    import uuid
    from confluent_kafka import Consumer

    group = f"nocommit-{uuid.uuid4().hex[:6]}"
    consumer = Consumer({"bootstrap.servers": kafka_lag.bootstrap, "group.id": group, "enable.auto.commit": False,
                         "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([kafka_lag.topic])
        deadline, message = time.monotonic() + 30, None
        while message is None and time.monotonic() < deadline:
            message = consumer.poll(1.0)
        assert message is not None and not message.error(), "the consumer never read from its group"
        got = probes.kafka(kafka_lag.bootstrap, expected=[group])
    finally:
        consumer.close()
    entry = got["groups"][group]
    assert entry["no_commit"] is True
    only = copy.deepcopy(got)
    only["groups"] = {group: entry}
    check = analyzers.consumer_lag(facts(kafka=only), {**T, "consumer_lag": {"warn": 1000, "fail": 10000}})
    assert check.status == WARN and "no commit" in check.detail


def test_vault_sealed_pass_and_fail(openbao_sealable):
    got = probes.vault(openbao_sealable.addr)
    assert got["seal"]["sealed"] is False and got["seal"]["storage_type"] == "raft"
    assert analyzers.vault_sealed(facts(vault=got), T).status == PASS
    with openbao_sealable.sealed():
        sealed = probes.vault(openbao_sealable.addr)
    assert sealed["seal"]["sealed"] is True and sealed["health"]["sealed"] is True
    check = analyzers.vault_sealed(facts(vault=sealed), T)
    assert check.status == FAIL and "sealed" in check.detail


def test_outbox_lag_pass_and_fail_against_the_running_service(memory_service):
    memory_service.write(3)  # no broker: the three events wait in the outbox
    got = probes.memory(memory_service.url)
    assert got["readyz"]["status_code"] == 200
    assert got["stats"]["outbox_pending"] >= 3
    assert analyzers.outbox_lag(facts(memory=got), T).status == PASS
    strict = {**T, "outbox_pending": {"warn": 1, "fail": 3}}
    check = analyzers.outbox_lag(facts(memory=got), strict)
    assert check.status == FAIL and "pending" in check.detail


def test_probes_not_configured_skip_and_unreachable_ones_warn():
    got = probes.run_all(Runner(timeout=10), {"vault": "http://127.0.0.1:1", "memory": ""})
    assert got["memory"] is None and "error" in got["vault"]
    assert analyzers.outbox_lag(facts(memory=None), T).status == SKIP
    assert analyzers.vault_sealed(facts(vault=got["vault"]), T).status == WARN


def test_pgbouncer_probe_reads_the_pools_of_a_real_pgbouncer(pgbouncer, postgres_server):
    """A real PgBouncer (tests/fixtures/pgbouncer.py) in front of the real PostgreSQL, as the
    CloudNativePG Pooler is: SHOW POOLS on its admin console, and the analyzer's verdicts."""
    import threading

    import psycopg

    from tasks.health import pgbouncer_check
    endpoints = {"pgbouncer": pgbouncer.admin_dsn()}
    with psycopg.connect(pgbouncer.dsn(), autocommit=True) as held:  # one server connection in use
        assert held.execute("SELECT 1").fetchone() == (1,)
        got = probes.run_all(Runner(timeout=10), endpoints, only=("pgbouncer",))
        check = pgbouncer_check(got)
        assert check.status == PASS and check.detail == "1 pool(s), no client waiting", check
        # The pool holds one server connection: a second client waits for it.
        def query():
            with psycopg.connect(pgbouncer.dsn(), connect_timeout=10) as conn:
                conn.execute("SELECT 1")

        second = threading.Thread(target=query)
        second.start()
        for _ in range(50):
            waiting = pgbouncer_check(probes.run_all(Runner(timeout=10), endpoints, only=("pgbouncer",)))
            if waiting.status == WARN:
                break
            second.join(0.1)
        assert waiting.status == WARN and "postgres/postgres 1" in waiting.detail, waiting
    second.join(15)
    assert not second.is_alive()


def test_pgbouncer_probe_against_a_server_that_is_not_pgbouncer_fails_clearly(postgres_server):
    """PostgreSQL itself has no SHOW POOLS: the probe says so and the row fails."""
    from tasks.health import pgbouncer_check
    got = probes.run_all(Runner(timeout=10), {"pgbouncer": postgres_server.dsn()}, only=("pgbouncer",))
    check = pgbouncer_check(got)
    assert check.status == FAIL and "pools" in check.detail.lower() and check.detail.startswith("pgbouncer:")


def test_pgbouncer_with_no_pool_fails():
    from tasks.health import pgbouncer_check
    only_console = {"pgbouncer": {"pools": [{"database": "pgbouncer", "user": "pgbouncer", "cl_waiting": 0}]}}
    assert pgbouncer_check(only_console).status == FAIL


def test_kafka_scram_login_comes_from_the_environment_only():
    assert probes.kafka_conf("k:9092", 5, {}) == {"bootstrap.servers": "k:9092", "socket.timeout.ms": 5000}
    conf = probes.kafka_conf("k:9092", 5, {"SOMA_KAFKA_SASL_USERNAME": "soma-admin", "SOMA_KAFKA_SASL_PASSWORD": "pw"})
    assert (conf["security.protocol"], conf["sasl.mechanism"], conf["sasl.username"], conf["sasl.password"]) == (
        "SASL_PLAINTEXT", "SCRAM-SHA-512", "soma-admin", "pw")
    with pytest.raises(probes.ProbeError, match="SOMA_KAFKA_SASL_USERNAME is not"):
        probes.kafka_conf("k:9092", 5, {"SOMA_KAFKA_SASL_PASSWORD": "pw"})


def test_a_scram_probe_reaches_the_real_broker_and_hides_the_password(kafka_lag, monkeypatch):
    """Tansu speaks PLAINTEXT only: a SCRAM client fails its handshake (the settings reached
    librdkafka), and run_all reports one error row without the password."""
    monkeypatch.setenv("SOMA_KAFKA_SASL_USERNAME", "soma-admin")
    monkeypatch.setenv("SOMA_KAFKA_SASL_PASSWORD", "scram-s3cret-pw")
    got = probes.run_all(Runner(timeout=30), {"kafka": kafka_lag.bootstrap}, only=("kafka",))
    assert "error" in got["kafka"] and "scram-s3cret-pw" not in got["kafka"]["error"]
