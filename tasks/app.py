"""`inv app.onboard -n <app> [--env <env>] [--mode <mode>]`: playbook §3.1–§3.7 as one plan.

In order: the namespace with its shared-infra and Pod Security labels and the workload's
service account (kubectl apply); the app's Vault policy and kubernetes auth role (bound to
that service account) and the optional KV seed (hvac); in staging, prod-lite and prod the
Vault CA copied into the namespace; the app's own SecretStore (logging in with the app's
role, http to Vault in dev/test, https with a caProvider elsewhere), the ExternalSecret, the
`<ns>-settings` ConfigMap and the NetworkPolicy admitting the namespace (kubectl apply); the
database role, database and grants (psycopg); the event and dead-letter topics
(confluent-kafka, SASL/TLS as configured). Every step reads the live state first, so a
second run is "all set". Bad input is refused before any step runs; `--dry` prints the
whole plan and stops, and works without Vault, PostgreSQL, a broker or a cluster (what it
cannot check shows as `change?` with the reason).

`--mode` and `--env` default to soma.mode; staging, prod-lite and prod must be named.
Environment: VAULT_ADDR + VAULT_TOKEN (dev/test: the token `vault.init` stored),
SOMA_PG_ADMIN_DSN, SOMA_ONBOARD_KAFKA_BOOTSTRAP (+ SOMA_KAFKA_SASL_PASSWORD), KUBECONFIG
(or --kubeconfig/--context), SOMA_SEED_<PROPERTY> / --seed-file for the KV values.
"""

from invoke import task

from tasks.core.cli import OpsTask
from tasks.onboard import report, steps
from tasks.onboard.session import APP_HELP, load_app, services_session


@task(klass=OpsTask, default=True, positional=[], flag_aliases=report.NS_ALIASES, help=APP_HELP)
def onboard(c, namespace, env=None, mode=None, seed_file="", context=None, kubeconfig=None,
            evidence=False):
    """Take an application namespace from nothing to fully wired; idempotent."""
    run(c, namespace, env, mode, seed_file=seed_file, evidence=evidence, context=context,
        kubeconfig=kubeconfig)


def run(c, ns, env=None, mode=None, seed_file="", evidence=False, context=None, kubeconfig=None):
    """The task body; returns the plan's result."""
    spec, endpoints, cfg, seed, rendered = load_app(c, "app.onboard", ns, env, mode, seed_file, context,
                                                    kubeconfig, validate=True)
    inputs = {"ns": ns, "env": spec.env, "seed_keys": sorted(seed)}
    with services_session(c, "app.onboard", endpoints, cfg, inputs, evidence, secrets=seed.values()) as (svc, s):
        report.vault_diff(s, svc, spec, rendered)
        report.topic_drift(s, svc, spec)
        plan = s.plan(f"inv app.onboard -n {ns} --env {spec.env} --mode {spec.mode}")
        plan.extend(steps.onboard_steps(svc, spec, rendered, seed, dry=s.dry))
        return s.run_plan(plan)
