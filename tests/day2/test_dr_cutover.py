"""`inv dr.drill` against real PostgreSQL (pg_dump/pg_restore), OpenBao (KV export + scratch
restore on the dev server, raft snapshot on the raft server) and the Tansu broker; and
`inv cutover.check` reading docs/cutover.md and the drill's record."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat

import pytest
from invoke import Exit

from tasks import cutover as cutover_task
from tasks.cutover import run_cutover
from tasks.day2 import checklist
from tasks.dr import run_drill
from tasks.core.config import REPO_ROOT
from tests.day2.conftest import make_context, text


@pytest.fixture
def source_db(postgres_server):
    import psycopg
    dsn = postgres_server.create_database("drillsrc")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE memories (id int PRIMARY KEY, body text, score float)")
        conn.execute("INSERT INTO memories SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 500) g")
        conn.execute("CREATE SCHEMA ops")
        conn.execute("CREATE TABLE ops.outbox (seq bigserial PRIMARY KEY, payload jsonb)")
        conn.execute("""INSERT INTO ops.outbox (payload) SELECT jsonb_build_object('n', g) FROM generate_series(1, 50) g""")
    return dsn


def test_drill_dumps_restores_compares_and_records(source_db, vault_server, kafka_lag, tmp_path, console):
    vault_server.client().secrets.kv.v2.create_or_update_secret(path="drill/app", secret={"password": "kv-s3cret-99"})
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "sprint": 4})
    out = tmp_path / "artefacts"
    report = run_drill(ctx, output=str(out), console=console, vault_token=vault_server.token,
                       endpoints={"postgres": source_db, "vault": vault_server.addr, "kafka": kafka_lag.bootstrap},
                       json_path=str(tmp_path / "drill.json"))
    rows = {c.name: c for c in report.checks}
    assert rows["table public.memories"].status == "pass" and "rows 500 -> 500" in rows["table public.memories"].detail
    assert rows["table ops.outbox"].status == "pass"
    assert rows["dump and restore of drillsrc"].status == "pass"
    assert rows["kv export and restore"].status == "pass" and "drill/app" in rows["kv export and restore"].evidence["paths"]
    assert rows["topic configuration export"].status == "pass"
    assert kafka_lag.topic in rows["topic configuration export"].evidence
    assert {"pg_dump", "pg_restore", "checksum_source", "vault_export", "kafka_export"} <= set(report.extra["timings_s"])
    # the artefacts are private; the record is in the evidence folder and holds no secret
    for name in ("postgres.dump", "vault-kv.json", "kafka-topics.json"):
        assert stat.S_IMODE(os.stat(out / name).st_mode) == 0o600
    assert "kv-s3cret-99" in (out / "vault-kv.json").read_text()
    record = next((tmp_path / "ev" / "sprint-4").glob("dr-drill-*.json"))
    body = record.read_text()
    assert "kv-s3cret-99" not in body and vault_server.token not in body
    assert json.loads(body)["status"] == "pass"
    # the scratch database is gone
    import psycopg
    with psycopg.connect(source_db.rsplit("/", 1)[0] + "/postgres") as conn:
        assert not conn.execute("SELECT 1 FROM pg_database WHERE datname LIKE 'drillsrc_drill_%'").fetchall()


def test_raft_snapshot_passes_on_raft_and_fails_on_the_dev_server(openbao_sealable, vault_server, tmp_path, console):
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")})
    good = run_drill(ctx, mode="prod", output=str(tmp_path / "a"), console=console,
                     vault_token=openbao_sealable.token, endpoints={"vault": openbao_sealable.addr})
    assert report_row(good, "raft snapshot").status == "pass"
    assert (tmp_path / "a" / "vault.snap").stat().st_size > 0
    bad = run_drill(ctx, mode="prod", output=str(tmp_path / "b"), console=console,
                    vault_token=vault_server.token, endpoints={"vault": vault_server.addr})
    assert report_row(bad, "raft backup").status == "fail" and bad.exit_code == 4


def test_an_unreachable_database_fails_the_drill_but_the_rest_still_runs(kafka_broker, tmp_path, console):
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev")})
    report = run_drill(ctx, output=str(tmp_path / "x"), console=console,
                       endpoints={"postgres": "postgresql://postgres@127.0.0.1:1/nope", "kafka": kafka_broker.bootstrap})
    assert report_row(report, "dump and restore").status == "fail"
    assert report_row(report, "topic configuration export").status == "pass"


def report_row(report, name):
    return next(c for c in report.checks if c.name == name)


def test_the_cutover_checklist_parses_into_checks():
    items = checklist.parse((REPO_ROOT / "docs" / "cutover.md").read_text())
    assert len({i.id for i in items}) == len(items) >= 12
    assert {i.source.split(":")[0] for i in items} == {"health", "drift", "audit", "dr", "evidence", "manual"}


def test_a_bad_checklist_row_is_a_clear_error():
    with pytest.raises(Exception) as exc:
        checklist.parse("| id | check | source | blocks |\n|---|---|---|---|\n| X | y | telepathy | yes |\n")
    assert "unknown source 'telepathy'" in str(exc.value)


def write_checklist(tmp_path) -> str:
    path = tmp_path / "cutover.md"
    path.write_text("# §11\n\n| id | check | source | blocks |\n|---|---|---|---|\n"
                    "| C1 | Vault unsealed | health:vault | yes |\n| C2 | DR drill fresh | dr:7d | yes |\n"
                    "| C3 | Runbook signed | manual | yes |\n")
    return str(path)


def test_cutover_is_go_with_a_fresh_drill_and_no_go_without(openbao_sealable, kube, clients_on_path, tmp_path,
                                                            console):
    checks = write_checklist(tmp_path)
    ctx = make_context(soma={"evidence_dir": str(tmp_path / "ev"), "kubeconfig": kube.kubeconfig})
    no_go = run_cutover(ctx, checklist_path=checks, console=console, endpoints={"vault": openbao_sealable.addr})
    assert no_go.extra["verdict"] == "NO-GO"
    assert next(c for c in no_go.checks if c.name.startswith("C2")).detail.startswith("no DR drill record")
    run_drill(ctx, output=str(tmp_path / "art"), console=console, endpoints={"vault": openbao_sealable.addr},
              vault_method="raft", vault_token=openbao_sealable.token)
    go = run_cutover(ctx, checklist_path=checks, console=console, endpoints={"vault": openbao_sealable.addr})
    rows = {c.name[:2]: c for c in go.checks}
    assert rows["C1"].status == "pass" and rows["C2"].status == "pass" and rows["C3"].status == "skip"
    assert go.extra["verdict"] == "GO"
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=8)
    stale = run_cutover(ctx, checklist_path=checks, console=console, endpoints={"vault": openbao_sealable.addr},
                        now=later)
    assert stale.extra["verdict"] == "NO-GO" and "days old (limit 7)" in text(console)
    ctx.config.day2.endpoints.vault = openbao_sealable.addr
    with pytest.raises(Exit) as exc, openbao_sealable.sealed():
        cutover_task.check(ctx, checklist=checks)
    assert exc.value.code == 4
