"""Scale-out on one real PostgreSQL: three service processes, a write through any is
recallable through every other (convergence lag measured and printed, not asserted), and
killing one process under load loses no acknowledged write."""

from __future__ import annotations

import secrets
import threading
import time

import numpy as np
import pytest
import requests

from tests.deploy.conftest import base_env
from tests.service.conftest import memory_cli

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
DIM = 16
TOKEN = "tok-scale-rw"
HDR = {"Authorization": f"Bearer {TOKEN}"}


def vector(i: int) -> list[float]:
    return [float(x) for x in np.random.default_rng(i).normal(size=DIM)]


@pytest.fixture
def cluster_env(postgres_server):
    db = f"scale{secrets.token_hex(3)}"
    postgres_server.create_database(db)
    env = {**base_env(), "SOMA_MEMORY_DATABASE_URL": postgres_server.url(db), "SOMA_MEMORY_DIM": str(DIM),
           "SOMA_MEMORY_TOKENS": f"{TOKEN}=scale:read,write", "SOMA_MEMORY_FOLLOW_INTERVAL_S": "0.05",
           "SOMA_MEMORY_THREADS": "4", "SOMA_MEMORY_RATE_LIMIT": "100000/minute"}
    migrated = memory_cli(env, "migrate")
    assert migrated.exit_code == 0, migrated.stderr
    return env


def recall_top(url: str, vec: list[float]) -> str | None:
    r = requests.post(url + "/v1/recall", json={"vector": vec, "k": 1, "exact": True}, headers=HDR, timeout=30)
    assert r.status_code == 200, r.text
    hits = r.json()["results"]
    return hits[0]["id"] if hits else None


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def test_three_processes_converge_on_every_write(cluster_env, service_process):
    procs = [service_process(cluster_env) for _ in range(3)]
    for p in procs:
        p.wait_ready(120)
    for p in procs:  # first write compiles the kernels; keep it out of the figures
        requests.post(p.url + "/v1/recall", json={"vector": vector(0), "k": 1}, headers=HDR, timeout=120)
    lags: list[float] = []
    n = 60
    for i in range(1, n + 1):
        writer = procs[i % 3]
        vec = vector(i)
        r = requests.post(writer.url + "/v1/memories", json={"vector": vec, "payload": {"i": i}},
                          headers=HDR, timeout=60)
        assert r.status_code == 201, r.text
        acked = time.monotonic()
        mid = r.json()["id"]
        assert recall_top(writer.url, vec) == mid  # the writer answers at once
        for reader in procs:
            if reader is writer:
                continue
            deadline = acked + 30
            while recall_top(reader.url, vec) != mid:
                assert time.monotonic() < deadline, f"write {i} never reached {reader.url}"
                time.sleep(0.005)
            lags.append(time.monotonic() - acked)
    # every memory is recallable through every process, and the stores agree
    for p in procs:
        stats = requests.get(p.url + "/v1/stats", headers=HDR, timeout=30).json()
        assert (stats["memories"], stats["indexed"]) == (n, n), stats
    p50, p95 = percentile(lags, 50) * 1000, percentile(lags, 95) * 1000
    print(f"\nconvergence lag over {len(lags)} (write, other process) pairs, follow interval 50 ms: "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {max(lags) * 1000:.1f} ms")
    # throughput of single stores through all three at once (they share one write lock)
    count, stop = [0], threading.Event()
    lock = threading.Lock()

    def load(k: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            r = requests.post(procs[(k + i) % 3].url + "/v1/memories", json={"vector": vector(10_000 * k + i)},
                              headers=HDR, timeout=60)
            if r.status_code == 201:
                with lock:
                    count[0] += 1

    threads = [threading.Thread(target=load, args=(k,)) for k in range(1, 7)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    time.sleep(8)
    stop.set()
    for t in threads:
        t.join(60)
    rate = count[0] / (time.monotonic() - t0)
    print(f"single stores through 3 processes, 6 client threads: {rate:.0f} writes/s on one PostgreSQL")


def test_killing_a_process_under_load_loses_no_acknowledged_write(cluster_env, service_process):
    procs = [service_process(cluster_env) for _ in range(3)]
    for p in procs:
        p.wait_ready(120)
    acked: dict[str, list[float]] = {}
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def writer(k: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            target = procs[(k + i) % 3]
            vec = vector(100_000 * (k + 1) + i)
            try:
                r = requests.post(target.url + "/v1/memories", json={"vector": vec, "payload": {"w": k, "i": i}},
                                  headers=HDR, timeout=10)
            except requests.RequestException as exc:  # the killed process: not acknowledged
                with lock:
                    failures.append(type(exc).__name__)
                continue
            if r.status_code == 201:
                with lock:
                    acked[r.json()["id"]] = vec
            else:
                with lock:
                    failures.append(str(r.status_code))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    time.sleep(4)
    procs[0].kill()  # SIGKILL mid-load
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) > 50, (len(acked), failures[:5])
    survivors = procs[1:]
    # every acknowledged write is in the store and recallable through both survivors
    for mid, vec in acked.items():
        for p in survivors:
            got = requests.get(f"{p.url}/v1/memories/{mid}", headers=HDR, timeout=30)
            assert got.status_code == 200, (mid, got.status_code)
    deadline = time.monotonic() + 30
    for p in survivors:
        missing = [mid for mid, vec in acked.items() if recall_top(p.url, vec) != mid]
        while missing and time.monotonic() < deadline:
            time.sleep(0.2)
            missing = [mid for mid in missing if recall_top(p.url, acked[mid]) != mid]
        assert missing == [], f"{len(missing)} acknowledged writes not recallable through {p.url}"
    # a restarted process loads them all
    again = service_process(cluster_env)
    again.wait_ready(120)
    sample = list(acked.items())[:: max(1, len(acked) // 40)]
    assert all(recall_top(again.url, vec) == mid for mid, vec in sample)
    print(f"\nkill under load: {len(acked)} acknowledged writes, {len(failures)} refused/failed during the kill, "
          f"0 lost")


@pytest.mark.kafka
def test_a_replica_fed_only_by_kafka_converges_to_the_same_index(postgres_server, kafka_broker, tmp_path):
    from confluent_kafka import Consumer, Producer

    from memory import contract, runtime
    from memory.api import create_app
    from memory.config import Settings
    from memory.events.consumer import EventConsumer
    from memory.replica import EventReplica
    from memory.store import Store

    db = f"kreplica{secrets.token_hex(3)}"
    postgres_server.create_database(db)
    topic = f"kr{secrets.token_hex(3)}.events"
    primary_settings = Settings(database_url=postgres_server.url(db), dim=DIM, kafka_bootstrap=kafka_broker.bootstrap,
                                topic=topic, data_dir=str(tmp_path / "p"))
    primary_store = Store(primary_settings.effective_database_url)
    primary_store.migrate()
    primary = runtime.build_service(primary_settings, follow=False, store=primary_store)
    client = create_app(primary_settings, primary).test_client()
    # the replica: its own SQLite database, no connection to the primary's PostgreSQL
    replica_settings = Settings(data_dir=str(tmp_path / "r"), dim=DIM, follow_interval_s=0.05)
    replica_store = runtime.open_store(replica_settings)
    replica = runtime.build_service(replica_settings, follow=True, store=replica_store)
    consumer = EventConsumer(Consumer(contract.consumer_config(primary_settings, f"replica-{topic}")),
                             Producer(contract.producer_config(primary_settings)), topic,
                             EventReplica(replica_store).apply)
    relay = runtime.build_relay(primary_settings, primary_store)
    stop = threading.Event()
    threads = [threading.Thread(target=relay.run, args=(stop,)), threading.Thread(target=consumer.run, args=(stop,))]
    for t in threads:
        t.start()
    try:
        ids = []
        for i in range(120):
            r = client.post("/v1/memories", json={"vector": vector(i), "importance": 1 + i % 9,
                                                  "memory_type": "semantic" if i % 3 else "episodic",
                                                  "payload": {"i": i}})
            assert r.status_code == 201
            ids.append(r.get_json()["id"])
        for i in range(10):  # replace some, delete others
            assert client.put(f"/v1/memories/{ids[i]}", json={"vector": vector(1000 + i)}).status_code == 200
            assert client.delete(f"/v1/memories/{ids[-1 - i]}").status_code == 204
        want = primary.stats("default")
        assert want["indexed"] == 110
        deadline = time.monotonic() + 90
        while consumer.applied < 140 or replica.stats("default")["indexed"] != 110:
            assert time.monotonic() < deadline, (replica.stats("default"), consumer.applied, consumer.dead_lettered)
            time.sleep(0.2)
        time.sleep(0.5)  # one more follow round after the last applied event
        queries = [vector(5000 + q) for q in range(25)] + [vector(1000 + i) for i in range(10)]
        rclient = create_app(replica_settings, replica).test_client()
        for q in queries:
            a = client.post("/v1/recall", json={"vector": q, "k": 10, "exact": True}).get_json()["results"]
            b = rclient.post("/v1/recall", json={"vector": q, "k": 10, "exact": True}).get_json()["results"]
            assert [(h["id"], round(h["score"], 6)) for h in a] == [(h["id"], round(h["score"], 6)) for h in b]
        assert consumer.dead_lettered == 0
    finally:
        stop.set()
        for t in threads:
            t.join(30)
        replica.stop()
        primary.stop()
        replica_store.close()
        primary_store.close()
