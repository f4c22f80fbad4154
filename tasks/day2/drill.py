"""The parts of `inv dr.drill`: PostgreSQL dump/restore/compare, Vault backup, Kafka topic configs.

    pg_fingerprint(dsn)                   {"schema.table": {"rows": n, "md5": "..."}}
    vault_kv_export(client, mount)        {"path": {...}} of every KV v2 secret (the backup itself)
    vault_raft_snapshot(client)           bytes of a raft snapshot (integrated storage only)
    kafka_topic_configs(bootstrap)        {"topic": {"partitions": n, "config": {...}}}

The per-table checksum is md5 over the md5 of every row's text form, in sorted order, so it
does not depend on physical order (a restore writes rows in a different order).
"""

from __future__ import annotations

_TABLES = """
SELECT table_schema, table_name FROM information_schema.tables
WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
ORDER BY 1, 2
"""


def pg_fingerprint(dsn: str) -> dict:
    import psycopg
    from psycopg import sql

    out = {}
    with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
        for schema, table in conn.execute(_TABLES).fetchall():
            ident = sql.Identifier(schema, table)
            rows, digest = conn.execute(sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
                "FROM (SELECT md5(t::text) AS h FROM {} t) s").format(ident)).fetchone()
            out[f"{schema}.{table}"] = {"rows": rows, "md5": digest}
    return out


def with_database(dsn: str, dbname: str) -> str:
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    params["dbname"] = dbname
    return make_conninfo(**params)


def database_of(dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    return conninfo_to_dict(dsn).get("dbname") or "postgres"


def create_database(dsn: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(dsn: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(with_database(dsn, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def vault_kv_export(client, mount: str = "secret") -> dict:
    """Every secret under a KV v2 mount, path -> data (this IS the backup: it holds secrets)."""
    import hvac

    out = {}

    def walk(prefix: str) -> None:
        try:
            keys = client.secrets.kv.v2.list_secrets(path=prefix, mount_point=mount)["data"]["keys"]
        except hvac.exceptions.InvalidPath:
            return
        for key in keys:
            if key.endswith("/"):
                walk(prefix + key)
            else:
                got = client.secrets.kv.v2.read_secret_version(path=prefix + key, mount_point=mount,
                                                               raise_on_deleted_version=True)
                out[prefix + key] = got["data"]["data"]

    walk("")
    return out


def vault_kv_restore(client, export: dict, mount: str = "secret") -> int:
    for path, data in export.items():
        client.secrets.kv.v2.create_or_update_secret(path=path, secret=data, mount_point=mount)
    return len(export)


def vault_raft_snapshot(client) -> bytes:
    resp = client.sys.take_raft_snapshot()
    if getattr(resp, "status_code", 200) != 200:
        raise RuntimeError(f"raft snapshot answered {resp.status_code}: {resp.text[:200]}")
    return resp.content


def kafka_topic_configs(bootstrap: str, timeout_s: float = 10) -> dict:
    from confluent_kafka.admin import AdminClient, ConfigResource

    from tasks.day2.probes import kafka_conf

    admin = AdminClient(kafka_conf(bootstrap, timeout_s))  # SCRAM from the environment, as the probe
    meta = admin.list_topics(timeout=timeout_s)
    topics = sorted(t for t in meta.topics if not t.startswith("__"))
    out = {t: {"partitions": len(meta.topics[t].partitions),
               "replication_factor": len(next(iter(meta.topics[t].partitions.values())).replicas)
               if meta.topics[t].partitions else 0, "config": {}, "error": ""} for t in topics}
    if not topics:
        return out
    futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics],
                                     request_timeout=timeout_s)
    for resource, future in futures.items():
        try:
            entries = future.result()
            out[resource.name]["config"] = {k: e.value for k, e in sorted(entries.items())
                                            if not e.is_sensitive}
        except Exception as exc:  # one topic's configs missing must not lose the others
            out[resource.name]["error"] = str(exc)
    return out
