"""`inv app.onboard --ns <app> --env <env> --mode <mode>`: playbook §3.1–§3.7 as one plan.

In order: the namespace with its shared-infra and Pod Security labels and the workload's
service account (kubectl apply); the Vault kubernetes auth method, policy, role, the
store role's grant of that policy and the optional KV seed (hvac); the ClusterSecretStore, the ExternalSecret, the `<ns>-settings`
ConfigMap and the NetworkPolicy admitting the namespace (kubectl apply); the database role,
database and grants (psycopg); the event and dead-letter topics (confluent-kafka). Every
step reads the live state first, so a second run is "all set". Bad input is refused before
any step runs; `--dry` prints the plan and stops.

Environment: VAULT_ADDR + VAULT_TOKEN, SOMA_PG_ADMIN_DSN, SOMA_KAFKA_BOOTSTRAP, KUBECONFIG
(or soma.kubeconfig), SOMA_SEED_<PROPERTY> / --seed-file for the KV values.
"""

from invoke import task

from tasks.core.cli import exits, is_dry
from tasks.onboard import manifests, settings, steps
from tasks.onboard import seed as onboard_seed
from tasks.onboard.cli import print_topic_drift, print_vault_diff, session
from tasks.onboard.services import Services


@task(default=True, positional=[], help={"ns": "application namespace (DNS-1123 label), e.g. sa01",
                          "env": "secret environment: dev, test, staging or prod",
                          "mode": "dev, test, staging, prod-lite or prod",
                          "seed_file": "JSON/YAML file of KV properties to seed",
                          "evidence": "write a transcript and run record to docs/sprints/"})
def onboard(c, ns, env="dev", mode="dev", seed_file="", evidence=False):
    """Take an application namespace from nothing to fully wired; idempotent."""
    with exits("app.onboard"):
        run(c, ns, env, mode, seed_file=seed_file, evidence=evidence)


def run(c, ns, env="dev", mode="dev", seed_file="", evidence=False):
    """The task body; returns the plan's result."""
    spec, endpoints, cfg = settings.load(c, ns, env, mode)
    seed = onboard_seed.load(spec, seed_file)
    rendered = manifests.render(spec)
    manifests.validate_builtin(manifests.load(rendered))
    svc = Services(endpoints)
    svc.secret(*seed.values())
    inputs = {"ns": ns, "env": env, "mode": mode, "seed_keys": sorted(seed), "dry": is_dry(c)}
    with session(c, "app.onboard", cfg, svc, inputs, evidence) as s:
        print_vault_diff(s.console, steps.vault_diffs(svc, spec, rendered))
        print_topic_drift(s.console, steps.kafka_drift(svc, spec))
        plan = s.plan(f"inv app.onboard --ns {ns} --env {env} --mode {mode}")
        plan.extend(steps.onboard_steps(svc, spec, rendered, seed, dry=s.dry))
        return s.run_plan(plan)
