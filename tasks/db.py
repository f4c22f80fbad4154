"""`inv db.provision --ns <app> [--env <env>]`: playbook §3.6 through psycopg.

Creates the login role and the database `<ns>` only when absent, grants the database to
its role and closes it to PUBLIC; identifiers are quoted with `psycopg.sql`. The admin
connection is SOMA_PG_ADMIN_DSN; the role's password is `postgres_password` from Vault
(`shared-infra/<ns>/<env>`) or SOMA_DB_PASSWORD, never argv. `--no-vault` skips Vault.
"""

from invoke import task

from tasks.onboard import settings, steps
from tasks.core.cli import exits, is_dry
from tasks.onboard.cli import session
from tasks.onboard.services import Services


@task(default=True, positional=[], help={"ns": "application namespace (DNS-1123 label)",
                          "env": "secret environment whose Vault secret holds the password",
                          "vault": "read the password from Vault (default) or only from "
                                   "SOMA_DB_PASSWORD (--no-vault)",
                          "evidence": "write a transcript and run record to docs/sprints/"})
def provision(c, ns, env="dev", vault=True, evidence=False):
    """Create the application's role and database if absent, and its grants."""
    with exits("db.provision"):
        spec, endpoints, cfg = settings.load(c, ns, env, mode=None)
        svc = Services(endpoints)
        inputs = {"ns": ns, "env": env, "vault": vault, "dry": is_dry(c)}
        with session(c, "db.provision", cfg, svc, inputs, evidence) as s:
            plan = s.plan(f"inv db.provision --ns {ns}")
            plan.extend(steps.db_steps(svc, spec, use_vault=vault))
            s.run_plan(plan)
