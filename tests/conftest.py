"""Real-service fixtures live in tests/fixtures/, one plugin per service (psycopg 3 style)."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.pgbouncer",
    "tests.fixtures.kafka",
    "tests.fixtures.vault",
    "tests.fixtures.kube",
    "tests.fixtures.cnpg",
    "tests.fixtures.docker",
    "tests.fixtures.pg_replica",
    "tests.fixtures.openbao",
    "tests.fixtures.kafka_lag",
    "tests.fixtures.memory_service",
]
