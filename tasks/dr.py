"""`inv dr.drill`: rehearse disaster recovery and keep the evidence (roadmap sprint 4).

1. PostgreSQL: `pg_dump -Fc` of the configured database, `pg_restore` into a scratch
   database on the same server, then row counts and per-table checksums of both compared
   (tasks/day2/drill.py), with the time of each phase; the scratch database is dropped.
2. Vault: `--vault-method kv` (dev, test) exports every secret of the KV v2 mount and proves
   the export restores by writing it into a scratch KV mount and reading it back;
   `--vault-method raft` (staging, prod) takes an integrated-storage snapshot. Restore:
   docs/operations.md, "DR drill".
3. Kafka: every topic's partitions, replication factor and configuration, exported.

The artefacts (dump, Vault export or snapshot, topic configs) go into `--output` (mode 0700;
they are the backup, secrets included) and never into the repository. The drill's report
(what was compared, sizes, sha256 and timings; never secret values) goes into the evidence
folder as `dr-drill-<time>.json`, which `inv cutover.check` reads. Exit 0/3/4.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import pathlib
import time

from invoke import task

from tasks.core.plan import Step
from tasks.core.runner import format_argv
from tasks.day2 import drill
from tasks.day2.common import HELP, day2_session, endpoint_flags, endpoint_help, finish, raise_for
from tasks.day2.report import FAIL, PASS, SKIP, WARN, Check, Report, write_json

RAFT_MODES = ("staging", "prod-lite", "prod")


def _sha(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _write_private(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def run_drill(c, mode=None, namespaces=(), context=None, kubeconfig=None, evidence=False, json_path=None,
              output=None, vault_method=None, vault_mount="secret", runner=None, console=None, sets=(),
              endpoints=None, vault_token=None, now=None) -> Report | None:
    overrides = {f"endpoints.{k}": v for k, v in (endpoints or {}).items()}
    with day2_session(c, "dr.drill", mode, namespaces, context, kubeconfig, evidence, runner, console, sets,
                      overrides) as d:
        st, cfg = d.settings, d.cfg
        stamp = (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
        out = pathlib.Path(output or f"dr-drill-{stamp}")
        method = vault_method or ("raft" if cfg.mode in RAFT_MODES else "kv")
        pg_dsn, vault_addr, kafka = st.endpoints.get("postgres"), st.endpoints.get("vault"), st.endpoints.get("kafka")
        report = Report(f"inv dr.drill (mode {cfg.mode})", d.target, d.namespaces,
                        extra={"drill": stamp, "vault_method": method, "timings_s": {}, "artefacts": {}})
        timings, artefacts = report.extra["timings_s"], report.extra["artefacts"]
        dump = out / "postgres.dump"

        def artefact(name: str, path: pathlib.Path) -> None:
            artefacts[name] = {"file": path.name, "bytes": path.stat().st_size, "sha256": _sha(path)}

        def timed(key, fn):
            t0 = time.monotonic()
            try:
                return fn()
            finally:
                timings[key] = round(time.monotonic() - t0, 3)

        def prepare():
            out.mkdir(parents=True, exist_ok=True)
            os.chmod(out, 0o700)
            return f"artefacts in {out.name}/"

        def postgres():
            if not pg_dsn:
                report.add(Check("postgres", "dump and restore", SKIP, "postgres endpoint not configured"))
                return "skipped"
            source = drill.database_of(pg_dsn)
            scratch = f"{source}_drill_{stamp.lower()}"
            scratch_dsn = drill.with_database(pg_dsn, scratch)
            try:
                timed("pg_dump", lambda: d.s.runner.run(["pg_dump", "-Fc", "-d", pg_dsn, "-f", str(dump)],
                                                        timeout=3600))
                os.chmod(dump, 0o600)  # pg_dump follows the umask; the dump holds every row
                artefact("postgres", dump)
                drill.create_database(pg_dsn, scratch)
                timed("pg_restore", lambda: d.s.runner.run(["pg_restore", "--no-owner", "--exit-on-error",
                                                            "-d", scratch_dsn, str(dump)], timeout=3600))
                before = timed("checksum_source", lambda: drill.pg_fingerprint(pg_dsn))
                after = timed("checksum_restored", lambda: drill.pg_fingerprint(scratch_dsn))
            except Exception as exc:
                report.add(Check("postgres", "dump and restore", FAIL, d.s.runner.redact(str(exc))[-400:]))
                return "failed"
            finally:
                try:
                    drill.drop_database(pg_dsn, scratch)
                except Exception as exc:
                    report.add(Check("postgres", "scratch database dropped", WARN, f"{scratch}: {exc}"))
            tables = sorted(set(before) | set(after))
            differ = [t for t in tables if before.get(t) != after.get(t)]
            for t in tables:
                b, a = before.get(t), after.get(t)
                report.add(Check("postgres", f"table {t}", FAIL if t in differ else PASS,
                                 f"rows {b and b['rows']} -> {a and a['rows']}"
                                 + ("" if t not in differ else "; checksum differs" if b and a else "; missing"),
                                 {"source": b, "restored": a}))
            report.add(Check("postgres", f"dump and restore of {source}", FAIL if differ else PASS,
                             f"{len(tables)} tables compared, {len(differ)} differ; dump {timings['pg_dump']}s, "
                             f"restore {timings['pg_restore']}s", {"tables": len(tables), "differ": differ}))
            return f"{len(tables)} tables, {len(differ)} differ"

        def vault():
            if not vault_addr:
                report.add(Check("vault", f"{method} backup", SKIP, "vault endpoint not configured"))
                return "skipped"
            import hvac
            client = hvac.Client(url=vault_addr, token=vault_token or os.environ.get("VAULT_TOKEN"), timeout=30)
            try:
                if method == "raft":
                    data = timed("vault_snapshot", lambda: drill.vault_raft_snapshot(client))
                    _write_private(out / "vault.snap", data)
                    artefact("vault", out / "vault.snap")
                    report.add(Check("vault", "raft snapshot", PASS, f"{len(data)} bytes"))
                    return "snapshot taken"
                export = timed("vault_export", lambda: drill.vault_kv_export(client, vault_mount))
                _write_private(out / "vault-kv.json", json.dumps(export, sort_keys=True).encode())
                artefact("vault", out / "vault-kv.json")
                scratch = f"drill-{stamp.lower()}"
                client.sys.enable_secrets_engine("kv", path=scratch, options={"version": "2"})
                try:
                    timed("vault_restore", lambda: drill.vault_kv_restore(client, export, scratch))
                    back = drill.vault_kv_export(client, scratch)
                finally:
                    client.sys.disable_secrets_engine(scratch)
            except Exception as exc:
                report.add(Check("vault", f"{method} backup", FAIL, d.s.runner.redact(str(exc))[-400:]))
                return "failed"
            same = back == export
            report.add(Check("vault", "kv export and restore", PASS if same else FAIL,
                             f"{len(export)} secrets under {vault_mount}/ exported; restored into a scratch mount "
                             + ("and read back identical" if same else "but they differ"),
                             {"secrets": len(export), "paths": sorted(export)}))
            return f"{len(export)} secrets"

        def topics():
            if not kafka:
                report.add(Check("kafka", "topic configuration export", SKIP, "kafka endpoint not configured"))
                return "skipped"
            try:
                configs = timed("kafka_export", lambda: drill.kafka_topic_configs(kafka))
            except Exception as exc:
                report.add(Check("kafka", "topic configuration export", FAIL, str(exc)))
                return "failed"
            _write_private(out / "kafka-topics.json", json.dumps(configs, indent=2, sort_keys=True).encode())
            artefact("kafka", out / "kafka-topics.json")
            broken = [t for t, v in configs.items() if v["error"]]
            report.add(Check("kafka", "topic configuration export", WARN if broken else PASS,
                             f"{len(configs)} topics" + (f"; no config for {', '.join(broken)}" if broken else ""),
                             {t: {"partitions": v["partitions"], "replication_factor": v["replication_factor"]}
                              for t, v in configs.items()}))
            return f"{len(configs)} topics"

        plan = d.s.plan(f"inv dr.drill (mode {cfg.mode}, vault {method}, context {d.target})")
        plan.add(Step("prepare the artefact folder", prepare, "cli", f"mkdir {out.name} (0700)"))
        plan.add(Step("postgres dump, restore, compare", postgres, "cli",
                      (format_argv(d.s.runner.redact.argv(["pg_dump", "-Fc", "-d", pg_dsn, "-f", str(dump)]))
                       + "; pg_restore into a scratch database; row counts and checksums")
                      if pg_dsn else "postgres endpoint not configured"))
        plan.add(Step("vault backup", vault, "sdk",
                      ("sys/storage/raft/snapshot" if method == "raft" else
                       f"KV v2 {vault_mount}/ export; restore into a scratch mount; compare")
                      if vault_addr else "vault endpoint not configured"))
        plan.add(Step("kafka topic configuration export", topics, "sdk",
                      "AdminClient list_topics + describe_configs" if kafka else "kafka endpoint not configured"))
        if d.s.run_plan(plan).dry:
            return None
        finish(d, report, json_path)
        record = write_json(cfg.evidence_path / f"dr-drill-{stamp}.json", report.to_dict(), d.s.runner.redact)
        d.s.console.print(f"drill record: {cfg.rel(record)}")
        return report


@task(name="drill", iterable=["namespace", "set_"], help={**HELP, **endpoint_help("postgres", "kafka", "vault"),
      "output": "folder for the dump, the Vault export/snapshot and the topic configs (default dr-drill-<time>)",
      "vault-method": "kv (export + scratch restore) or raft (snapshot); default kv in dev/test, raft otherwise",
      "vault-mount": "the KV v2 mount to export (default secret)"})
def drill_(c, mode=None, namespace=None, context=None, kubeconfig=None, evidence=False, json=None, output=None,
           vault_method=None, vault_mount="secret", set_=None, postgres=None, kafka=None, vault=None):
    """PostgreSQL dump/restore with checksums, Vault backup, Kafka topic configs; evidence for cutover."""
    if vault_method not in (None, "kv", "raft"):
        from invoke import Exit
        raise Exit(f"dr.drill: --vault-method must be kv or raft, not {vault_method!r}", code=2)
    raise_for("dr.drill", run_drill(c, mode, namespace or (), context, kubeconfig, evidence, json, output,
                                    vault_method, vault_mount, sets=set_ or (),
                                    endpoints=endpoint_flags(postgres=postgres, kafka=kafka, vault=vault)))

