"""Plan steps for onboarding, one builder per area, shared by the area tasks
(`vault.apply`, `db.provision`, `kafka.topics`) and by `app.onboard`, which strings them
together in playbook order. Every `needed()` reads the live state, so a second run is
"all set" and a step already converged by an earlier one is skipped."""

from tasks.core.plan import Step
from tasks.onboard import db_ops, kafka_ops, kube_ops, manifests, vault_ops
from tasks.onboard.errors import SecretMissing
from tasks.onboard.services import Services
from tasks.onboard.spec import VAULT_CA_CONFIGMAP, VAULT_CA_KEY, OnboardSpec


# --- Kubernetes ------------------------------------------------------------------------

def kube_step(svc: Services, manifest: dict) -> Step:
    meta = manifest["metadata"]
    name = f"apply {manifest['kind']} {meta['name']}"
    return Step(name=name, kind="cli", detail=kube_ops.describe(manifest),
                needed=lambda: kube_ops.needs_apply(svc.kubectl, manifest),
                action=lambda: kube_ops.apply(svc.kubectl, manifest))


def kube_steps(svc: Services, objs: dict, files: list[str]) -> list[Step]:
    return [kube_step(svc, objs[f]) for f in files]


def vault_ca_step(svc: Services, spec: OnboardSpec) -> Step:
    """TLS modes: the SecretStore checks Vault's certificate against a ConfigMap in the app's
    namespace, copied from the ca.crt of the shared-infra TLS Secret (public data)."""
    def desired() -> dict:
        ca = svc.read_secret(f"{spec.infra_ns}/{spec.vault_tls_secret}", VAULT_CA_KEY)
        return {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": VAULT_CA_CONFIGMAP, "namespace": spec.ns,
                             "labels": {"app.kubernetes.io/part-of": "somastack",
                                        "app.kubernetes.io/managed-by": "soma-ops"}},
                "data": {VAULT_CA_KEY: ca}}

    return Step(name=f"copy Vault CA into {spec.ns}", kind="cli",
                detail=f"kubectl get secret {spec.vault_tls_secret} -n {spec.infra_ns} ({VAULT_CA_KEY}) "
                       f"-> kubectl apply -f - (ConfigMap {VAULT_CA_CONFIGMAP} -n {spec.ns})",
                needed=lambda: kube_ops.needs_apply(svc.kubectl, desired()),
                action=lambda: kube_ops.apply(svc.kubectl, desired()))


def onboard_steps(svc: Services, spec: OnboardSpec, rendered: dict, seed: dict,
                  dry: bool = False) -> list[Step]:
    """The whole of playbook §3.1–§3.7 in order (see tasks/app.py)."""
    objs = manifests.load(rendered)
    return [db_password_check(svc, spec, seed),
            *kube_steps(svc, objs, ["namespace.yaml", "serviceaccount.yaml"]),
            *vault_steps(svc, spec, rendered, seed),
            *([vault_ca_step(svc, spec)] if spec.vault_tls else []),
            *kube_steps(svc, objs, ["secretstore.yaml", "externalsecret.yaml",
                                    "configmap-settings.yaml", "networkpolicy.yaml"]),
            *db_steps(svc, spec),
            *kafka_steps(svc, spec, dry=dry)]


# --- Vault -----------------------------------------------------------------------------

def vault_diffs(svc: Services, spec: OnboardSpec, rendered: dict) -> str:
    """The policy and role as Vault has them against the rendered ones (empty: in sync)."""
    policy = vault_ops.policy_diff(svc.vault, spec.policy_name, rendered["vault-policy.hcl"])
    role = vault_ops.role_diff(svc.vault, spec.auth_mount, spec.vault_role,
                               manifests.vault_role(rendered))
    return policy + role


def vault_steps(svc: Services, spec: OnboardSpec, rendered: dict, seed: dict) -> list[Step]:
    role = manifests.vault_role(rendered)
    policy = rendered["vault-policy.hcl"]
    steps = [
        Step(name=f"enable kubernetes auth at {spec.auth_mount}/", kind="sdk",
             detail=f"hvac sys.enable_auth_method('kubernetes', path='{spec.auth_mount}')",
             needed=lambda: vault_ops.auth_mount_missing(svc.vault, spec.auth_mount),
             action=lambda: vault_ops.enable_auth_mount(svc.vault, spec.auth_mount)),
        Step(name=f"write vault policy {spec.policy_name}", kind="sdk",
             detail=f"hvac sys.create_or_update_policy('{spec.policy_name}') "
                    f"-> read {spec.kv_mount}/data/{spec.remote_key}",
             needed=lambda: bool(vault_ops.policy_diff(svc.vault, spec.policy_name, policy)),
             action=lambda: vault_ops.write_policy(svc.vault, spec.policy_name, policy)),
        Step(name=f"write vault role {spec.vault_role}", kind="sdk",
             detail=f"hvac POST auth/{spec.auth_mount}/role/{spec.vault_role} "
                    f"(sa {spec.service_account}, ns {spec.ns}, ttl {spec.token_ttl}s)",
             needed=lambda: bool(vault_ops.role_diff(svc.vault, spec.auth_mount,
                                                     spec.vault_role, role)),
             action=lambda: vault_ops.write_role(svc.vault, spec.auth_mount,
                                                 spec.vault_role, role)),
    ]
    if seed:
        steps.append(Step(
            name=f"seed {spec.kv_mount}/{spec.remote_key}", kind="sdk",
            detail=f"hvac kv.v2.create_or_update_secret (cas) keys: {', '.join(sorted(seed))}",
            needed=lambda: bool(vault_ops.kv_changes(svc.vault, spec.kv_mount,
                                                     spec.remote_key, seed)),
            action=lambda: vault_ops.kv_write(svc.vault, spec.kv_mount, spec.remote_key, seed)))
    return steps


# --- PostgreSQL ------------------------------------------------------------------------

def db_password(svc: Services, spec: OnboardSpec, use_vault: bool) -> str:
    from_vault = None
    if use_vault:
        data, _ = vault_ops.kv_read(svc.vault, spec.kv_mount, spec.remote_key)
        from_vault = data.get("postgres_password")
    password = db_ops.choose_password(from_vault, svc.environ)
    svc.secret(password)
    return password


def db_password_check(svc: Services, spec: OnboardSpec, seed: dict) -> Step:
    """First in app.onboard: when the role must be created and no usable password is to be
    had (seed, Vault, SOMA_DB_PASSWORD), the run stops before it changes anything, instead
    of failing half-way at `create role`."""
    def problem() -> str:
        if db_ops.role_exists(svc.pg, spec.db_user):
            return ""
        from_vault = seed.get("postgres_password") or vault_ops.kv_read(
            svc.vault, spec.kv_mount, spec.remote_key)[0].get("postgres_password")
        try:
            db_ops.choose_password(from_vault, svc.environ)
        except SecretMissing as exc:
            return str(exc)
        return ""

    def refuse() -> None:
        raise SecretMissing(problem() or "the database password went missing")

    return Step(name=f"password for role {spec.db_user}", kind="check",
                detail="seed, Vault or SOMA_DB_PASSWORD holds it (checked while the role "
                       "is absent)",
                needed=lambda: bool(problem()), action=refuse)


def db_steps(svc: Services, spec: OnboardSpec, use_vault: bool = True) -> list[Step]:
    role, db = spec.db_user, spec.db_name
    return [
        Step(name=f"create role {role}", kind="sdk",
             detail=f"psycopg CREATE ROLE {role} LOGIN PASSWORD *** (if absent)",
             needed=lambda: not db_ops.role_exists(svc.pg, role),
             action=lambda: db_ops.create_role(svc.pg, role, db_password(svc, spec, use_vault))),
        Step(name=f"create database {db}", kind="sdk",
             detail=f"psycopg CREATE DATABASE {db} OWNER {role} (if absent)",
             needed=lambda: not db_ops.database_exists(svc.pg, db),
             action=lambda: db_ops.create_database(svc.pg, db, role)),
        Step(name=f"grant database {db} to {role}", kind="sdk",
             detail=f"psycopg GRANT ALL ON DATABASE {db} TO {role}; REVOKE ALL FROM PUBLIC",
             needed=lambda: bool(db_ops.grants_missing(svc.pg, db, role)),
             action=lambda: db_ops.apply_grants(svc.pg, db, role)),
    ]


# --- Kafka -----------------------------------------------------------------------------

def kafka_drift(svc: Services, spec: OnboardSpec) -> list[str]:
    return [line for t in kafka_ops.topics_for(spec)
            for line in kafka_ops.describe(svc.kafka, t).drift]


def kafka_steps(svc: Services, spec: OnboardSpec, dry: bool = False) -> list[Step]:
    steps = []
    for topic in kafka_ops.topics_for(spec):
        steps += _topic_steps(svc, topic, dry)
    return steps


def _topic_steps(svc: Services, topic: kafka_ops.TopicSpec, dry: bool) -> list[Step]:
    def state():
        return kafka_ops.describe(svc.kafka, topic)

    def create_needed() -> bool:
        missing = not state().exists
        if missing and dry:
            # --dry: the broker checks the request (validate_only) without creating it.
            kafka_ops.create(svc.kafka, [topic], validate_only=True)
        return missing

    cfg = ", ".join(f"{k}={v}" for k, v in topic.config.items())
    return [
        Step(name=f"create topic {topic.name}", kind="sdk",
             detail=f"AdminClient.create_topics({topic.name}, partitions={topic.partitions}, "
                    f"replication={topic.replication}, {cfg})"
                    + (" validate_only=True" if dry else ""),
             needed=create_needed,
             action=lambda: kafka_ops.create(svc.kafka, [topic])),
        Step(name=f"add partitions to {topic.name}", kind="sdk",
             detail=f"AdminClient.create_partitions({topic.name}, {topic.partitions}) "
                    "(only ever grows)",
             needed=lambda: bool(state().grow_to),
             action=lambda: kafka_ops.grow(svc.kafka, state())),
        Step(name=f"set config of {topic.name}", kind="sdk",
             detail=f"AdminClient.incremental_alter_configs({topic.name}, {cfg})",
             needed=lambda: bool(state().config_changes),
             action=lambda: kafka_ops.set_config(svc.kafka, state())),
    ]
