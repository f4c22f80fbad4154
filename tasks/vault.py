"""`inv vault.apply --ns <app> --env <env> [--seed-file F]`: playbook §3.2 through hvac.

Reads the policy and the kubernetes auth role Vault has, prints the diff against the
rendered ones, and writes only what differs (a second run is "all set"); the
ClusterSecretStore's role gains the app's policy so the ExternalSecret can read. The KV secret
`shared-infra/<ns>/<env>` can be seeded from `SOMA_SEED_<PROPERTY>` environment variables
or a JSON/YAML file of properties, never from argv. `--dry` prints the plan and stops.
Vault is reached at VAULT_ADDR (or soma.onboard.vault_addr) with VAULT_TOKEN.
"""

from invoke import task

from tasks.core.cli import exits, is_dry
from tasks.onboard import manifests, settings, steps
from tasks.onboard import seed as onboard_seed
from tasks.onboard.cli import print_vault_diff, session
from tasks.onboard.services import Services


@task(default=True, positional=[], help={"ns": "application namespace (DNS-1123 label)",
                          "env": "secret environment: dev, test, staging or prod",
                          "seed_file": "JSON/YAML file of KV properties to seed (values "
                                       "never on the command line)",
                          "evidence": "write a transcript and run record to docs/sprints/"})
def apply(c, ns, env="dev", seed_file="", evidence=False):
    """Converge the Vault policy, kubernetes auth role and (optionally) the KV seed."""
    with exits("vault.apply"):
        spec, endpoints, cfg = settings.load(c, ns, env, mode=None)
        seed = onboard_seed.load(spec, seed_file)
        svc = Services(endpoints)
        svc.secret(*seed.values())
        rendered = manifests.render(spec)
        inputs = {"ns": ns, "env": env, "seed_keys": sorted(seed), "dry": is_dry(c)}
        with session(c, "vault.apply", cfg, svc, inputs, evidence) as s:
            print_vault_diff(s.console, steps.vault_diffs(svc, spec, rendered))
            plan = s.plan(f"inv vault.apply --ns {ns} --env {env}")
            plan.extend(steps.vault_steps(svc, spec, rendered, seed))
            s.run_plan(plan)
