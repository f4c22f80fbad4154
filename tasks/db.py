"""`inv db.provision -n <app> [--env <env>]`: playbook §3.6 through psycopg.

Creates the login role and the database `<ns>` only when absent, grants the database to
its role and closes it to PUBLIC; identifiers are quoted with `psycopg.sql`. The admin
connection is SOMA_PG_ADMIN_DSN; the role's password is `postgres_password` from Vault
(`shared-infra/<ns>/<env>`) or SOMA_DB_PASSWORD, never argv. `--no-vault` skips Vault.
"""

from invoke import task

from tasks.core.cli import OpsTask, exits
from tasks.onboard import report, settings, steps
from tasks.onboard.session import EVIDENCE_HELP, MODE_HELP, NAMESPACE_HELP, services_session


@task(klass=OpsTask, default=True, positional=[], flag_aliases=report.NS_ALIASES, help={
    "namespace": NAMESPACE_HELP,
    "env": "secret environment whose Vault secret holds the password (default: soma.mode; "
           "staging and prod must be given)",
    "mode": MODE_HELP,
    "vault": "read the password from Vault (default) or only from SOMA_DB_PASSWORD (--no-vault)",
    **EVIDENCE_HELP})
def provision(c, namespace, env=None, mode=None, vault=True, evidence=False):
    """Create the application's role and database if absent, and its grants."""
    with exits("db.provision"):
        spec, endpoints, cfg = settings.load(c, namespace, env, mode)
    inputs = {"ns": namespace, "env": spec.env, "vault": vault}
    with services_session(c, "db.provision", endpoints, cfg, inputs, evidence) as (svc, s):
        plan = s.plan(f"inv db.provision -n {namespace} --env {spec.env}")
        plan.extend(steps.db_steps(svc, spec, use_vault=vault))
        return s.run_plan(plan)
