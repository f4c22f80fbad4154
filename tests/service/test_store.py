"""Store on real SQLite and PostgreSQL: migrations, refusal when unmigrated, one transaction
per write, COPY bulk, and two processes' indexes converging through the change log."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sqlalchemy as sa

from memory import runtime
from memory.config import Settings
from memory.engine.errors import InvalidVector
from memory.errors import NotMigrated, RequestInvalid, StoreError
from memory.service import NewMemory
from memory.store import Store
from memory.store import migrate as mig
from tests.service.conftest import DIM, memory_cli, vec


def _item(i: int, **kw) -> NewMemory:
    return NewMemory(vector=np.asarray(vec(i), dtype=np.float32), model="client", id=f"m{i}", **kw)


def test_unmigrated_database_refuses_to_start(pg_url):
    settings = Settings(database_url=pg_url, dim=DIM)
    with pytest.raises(NotMigrated, match="inv memory.migrate"):
        runtime.build_service(settings, follow=False)


def test_unmigrated_sqlite_file_refuses_and_cli_migrates(tmp_path):
    url = f"sqlite:///{tmp_path / 'explicit.db'}"
    env = {"SOMA_MEMORY_DATABASE_URL": url, "SOMA_MEMORY_DIM": str(DIM)}
    out = memory_cli(env, "serve")
    assert out.exit_code == 1 and "inv memory.migrate" in out.stderr.decode()
    out = memory_cli(env, "migrate")
    assert out.exit_code == 0 and mig.head() in out.stdout.decode()
    Store(url).check_migrated()


def test_migrations_reach_head_on_postgres_and_downgrade(pg_url):
    store = Store(pg_url)
    assert store.migrate() == mig.head()
    assert store.migrate() == mig.head()  # idempotent
    insp = sa.inspect(store.engine)
    assert {"memories", "links", "outbox", "processed_events", "memory_events"} <= set(insp.get_table_names())
    with store.engine.begin() as conn:
        from alembic import command
        command.downgrade(mig._config(conn), "base")
    assert "memories" not in sa.inspect(store.engine).get_table_names()
    store.close()


def test_write_is_one_transaction_with_its_event(make_running, pg_url):
    app = make_running(pg_url)
    svc = app.service
    [(row, created)] = svc.write("ns", [_item(1, payload={"a": 1})], upsert=False)
    assert created
    with app.store.engine.connect() as conn:
        mem = conn.execute(sa.text("select vector, dim, model, importance_norm from memories")).one()
        events = conn.execute(sa.text("select type, memory_id, event from outbox")).all()
    assert np.allclose(np.frombuffer(mem.vector, "<f4"), vec(1)) and mem.dim == DIM
    assert [(e.type, e.memory_id) for e in events] == [("memory.created", "m1")]
    ce = json.loads(events[0].event)
    assert ce["specversion"] == "1.0" and ce["subject"] == "m1" and ce["data"]["payload"] == {"a": 1}

    # a failing batch (a zero vector after a good one) leaves neither rows nor events;
    # (a duplicate id in an upsert is no failure: the later item is stored)
    zero = NewMemory(vector=np.zeros(DIM, np.float32), model="client", id="zero")
    with pytest.raises(InvalidVector, match="zero vector"):
        svc.write("ns", [_item(2), zero], upsert=True)
    with pytest.raises(RequestInvalid, match="duplicate id"):
        svc.write("ns", [_item(2), _item(2)], upsert=False)
    with app.store.engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from memories")).scalar() == 1
        assert conn.execute(sa.text("select count(*) from outbox")).scalar() == 1

    # the database refuses the outbox row after the memory rows went in: all of it rolls back,
    # and the index never sees the batch (the engine is updated only after the commit)
    with app.store.engine.begin() as conn:
        conn.execute(sa.text(
            "create function refuse_poison() returns trigger language plpgsql as $$ begin "
            "if new.memory_id = 'poison' then raise exception 'outbox refuses poison'; end if; "
            "return new; end $$"))
        conn.execute(sa.text("create trigger refuse_poison before insert on outbox "
                             "for each row execute function refuse_poison()"))
    poison = NewMemory(vector=np.asarray(vec(3), dtype=np.float32), model="client", id="poison")
    with pytest.raises(StoreError):
        svc.write("ns", [_item(2), poison], upsert=True)
    with app.store.engine.connect() as conn:
        assert conn.execute(sa.text("select id from memories")).scalars().all() == ["m1"]
        assert conn.execute(sa.text("select count(*) from outbox")).scalar() == 1
    assert sorted(svc._indexes["ns"].engine.ids()) == ["m1"]


def test_bulk_uses_copy_on_postgres(make_running, pg_url):
    app = make_running(pg_url)
    items = [_item(i, importance=float(i)) for i in range(500)]
    rows = app.service.write("bulk", items, upsert=True)
    assert len(rows) == 500
    assert app.store.counts("bulk") == {"episodic": 500}
    assert app.store.outbox_lag()[0] == 500
    norms = [r.importance_norm for r, _ in rows]
    assert norms == sorted(norms)  # monotonic in raw importance
    assert len(app.service.recall("bulk", np.asarray([vec(7)], np.float32), 1)[0]) == 1


def test_restart_reloads_index_with_stored_importance(make_running, pg_url):
    first = make_running(pg_url)
    first.service.write("r", [_item(i, importance=float(i * i)) for i in range(100)], upsert=True)
    before = {h.id: h.importance for h, _ in first.service.recall("r", np.asarray([vec(3)], np.float32), 100)[0]}
    second = make_running(pg_url, migrate=False)
    after = {h.id: h.importance for h, _ in second.service.recall("r", np.asarray([vec(3)], np.float32), 100)[0]}
    assert before == after and len(after) == 100


def test_processes_converge_through_the_change_log(make_running, pg_url):
    a = make_running(pg_url)
    b = make_running(pg_url, migrate=False)
    a.service.write("c", [_item(i) for i in range(20)], upsert=True)
    b.service.write("c", [_item(100 + i) for i in range(5)], upsert=True)
    a.service.delete("c", "m3")
    b.service.write("c", [_item(4, payload={"v": "b"})], upsert=True)
    a.service.follow_once()
    b.service.follow_once()
    ids_a = sorted(a.service._indexes["c"].engine.ids())
    ids_b = sorted(b.service._indexes["c"].engine.ids())
    assert ids_a == ids_b and len(ids_a) == 24 and "m3" not in ids_a
    assert a.service._indexes["c"].catalog["m4"].payload == {"v": "b"}


def test_embedded_default_migrates_itself(tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"), dim=DIM)
    svc = runtime.build_service(settings, follow=False)
    try:
        assert (tmp_path / "data" / "memory.db").exists() and svc.loaded
    finally:
        svc.stop()
        svc.store.close()


def test_follower_thread_picks_up_other_writers(make_running, pg_url):
    import time
    follower = make_running(pg_url, follow=True, follow_interval_s=0.05)
    writer = make_running(pg_url, migrate=False)
    writer.service.write("f", [_item(i) for i in range(3)], upsert=True)
    writer.service.delete("f", "m1")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        idx = follower.service._indexes.get("f")
        if idx is not None and sorted(idx.engine.ids()) == ["m0", "m2"]:
            break
        time.sleep(0.05)
    assert sorted(follower.service._indexes["f"].engine.ids()) == ["m0", "m2"]
    [hits] = follower.service.recall("f", np.asarray([vec(2)], np.float32), 3)
    assert [h.id for h, _ in hits][0] == "m2" and "m1" not in {h.id for h, _ in hits}


def test_importance_normalised_once_monotonic_across_a_batch(make_running):
    app = make_running()
    raw = [5.0, 1.0, 100.0, 3.0, 50.0, 0.5]
    rows = app.service.write("imp", [_item(i, importance=r) for i, r in enumerate(raw)], upsert=True)
    norms = [r.importance_norm for r, _ in rows]
    assert [raw[i] for i in np.argsort(norms, kind="stable")] == sorted(raw)
    assert all(0.0 <= n <= 1.0 for n in norms)
    stored = {r.id: r.importance_norm for r in app.store.get_many("imp", [f"m{i}" for i in range(6)])}
    assert stored == {r.id: r.importance_norm for r, _ in rows}
