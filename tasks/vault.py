"""Vault for the shared infra and its applications, through hvac.

`inv vault.init --mode dev|test`: initialise a fresh Vault (one key share) and unseal it;
the root token and unseal key go into the Secret `<release>-vault-init` in the shared-infra
namespace and are never printed or logged. A later run unseals a sealed Vault from it.
Staging and prod are refused: docs/onboarding.md has their runbook.

`inv vault.auth [--kubernetes-host URL] [--kubernetes-ca-file PEM] [--token-reviewer]`:
enable and configure the kubernetes auth method the applications' SecretStores log in with.

`inv vault.apply -n <app> --env <env> [--seed-file F]` (playbook §3.2): read the app's policy
and kubernetes auth role, print the diff against the rendered ones, write only what differs
(a second run is "all set"). The KV secret `shared-infra/<ns>/<env>` can be seeded from
`SOMA_SEED_<PROPERTY>` variables or a JSON/YAML file, never argv.

Vault is VAULT_ADDR (or soma.onboard.vault_addr) with VAULT_TOKEN; in dev and test, without
VAULT_TOKEN, the token `vault.init` stored. `--dry` prints the plan and stops.
"""

import pathlib

from invoke import task

from tasks.core.cli import OpsTask, exits
from tasks.core.config import soma_config
from tasks.onboard import report, settings, steps, vault_setup
from tasks.onboard.errors import InvalidInput
from tasks.onboard.session import APP_HELP, CLUSTER_HELP, cluster_overrides, load_app, services_session


@task(klass=OpsTask, default=True, positional=[], flag_aliases=report.NS_ALIASES, help=APP_HELP)
def apply(c, namespace, env=None, mode=None, seed_file="", context=None, kubeconfig=None,
          evidence=False):
    """Converge the app's Vault policy, kubernetes auth role and (optionally) the KV seed."""
    spec, endpoints, cfg, seed, rendered = load_app(c, "vault.apply", namespace, env, mode, seed_file,
                                                    context, kubeconfig)
    inputs = {"ns": namespace, "env": spec.env, "seed_keys": sorted(seed)}
    with services_session(c, "vault.apply", endpoints, cfg, inputs, evidence, secrets=seed.values()) as (svc, s):
        report.vault_diff(s, svc, spec, rendered)
        plan = s.plan(f"inv vault.apply -n {namespace} --env {spec.env}")
        plan.extend(steps.vault_steps(svc, spec, rendered, seed))
        return s.run_plan(plan)


@task(klass=OpsTask, help={"mode": "dev or test (staging and prod follow the runbook in docs/onboarding.md)",
                           **CLUSTER_HELP})
def init(c, mode=None, context=None, kubeconfig=None, evidence=False):
    """dev/test: initialise Vault if new and unseal it; the keys go to a Secret, never the screen."""
    with exits("vault.init"):
        cfg = soma_config(c, mode=mode, overrides=cluster_overrides(context, kubeconfig))
        if cfg.mode not in ("dev", "test"):
            raise InvalidInput(f"vault.init runs in dev and test only; {cfg.mode} Vault is "
                               "initialised and unsealed by its key holders (docs/onboarding.md)")
    with services_session(c, "vault.init", settings.endpoints(cfg), cfg, {}, evidence,
                          init_token=False) as (svc, s):
        plan = s.plan(f"inv vault.init --mode {cfg.mode} (keys into Secret "
                      f"{cfg.namespace}/{vault_setup.init_secret_name(cfg.release)})")
        plan.extend(vault_setup.init_steps(svc, cfg.namespace, cfg.release))
        return s.run_plan(plan)


@task(klass=OpsTask, help={
    "mode": "dev, test, staging, prod-lite or prod (default: soma.mode)",
    "kubernetes_host": f"the API server as Vault reaches it (default: {vault_setup.IN_CLUSTER_HOST}, "
                       "for the Vault the chart runs in the cluster)",
    "kubernetes_ca_file": "PEM file of the API server's CA (Vault outside the cluster)",
    "token_reviewer": "create a reviewer service account bound to system:auth-delegator and give "
                      "Vault its token (Vault outside the cluster)",
    **CLUSTER_HELP})
def auth(c, mode=None, kubernetes_host=vault_setup.IN_CLUSTER_HOST, kubernetes_ca_file="",
         token_reviewer=False, context=None, kubeconfig=None, evidence=False):
    """Enable and configure Vault's kubernetes auth method (what every app's SecretStore logs in with)."""
    with exits("vault.auth"):
        cfg = soma_config(c, mode=mode, overrides=cluster_overrides(context, kubeconfig))
        try:
            ca_pem = pathlib.Path(kubernetes_ca_file).read_text() if kubernetes_ca_file else ""
        except OSError as exc:
            raise InvalidInput(f"--kubernetes-ca-file {kubernetes_ca_file}: {exc.strerror}") from None
    mount = (cfg.values.get("onboard") or {}).get("auth_mount", "kubernetes")
    inputs = {"kubernetes_host": kubernetes_host, "ca": bool(ca_pem), "token_reviewer": token_reviewer}
    with services_session(c, "vault.auth", settings.endpoints(cfg), cfg, inputs, evidence) as (svc, s):
        plan = s.plan(f"inv vault.auth (auth/{mount}, kubernetes_host {kubernetes_host})")
        plan.extend(vault_setup.auth_steps(svc, mount, cfg.namespace, cfg.release,
                                           kubernetes_host, ca_pem, token_reviewer))
        return s.run_plan(plan)
