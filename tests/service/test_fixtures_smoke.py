import psycopg
from confluent_kafka import Producer


def test_postgres_fixture(postgres_server):
    dsn = postgres_server.create_database("smoke")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select 1+1").fetchone()[0] == 2


def test_kafka_fixture(kafka_broker):
    p = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    delivered = []
    p.produce("smoke", b"v", on_delivery=lambda e, m: delivered.append(e))
    p.flush(10)
    assert delivered == [None]
