"""`inv kafka.topics -n <app> [--mode <mode>]`: playbook §3.7 through the AdminClient.

`<ns>.events` and `<ns>.events.dlq` with 6 partitions, replication 1 in dev/test and 3 in
staging/prod-lite/prod, `retention.ms` 259200000. Existing topics are compared and the drift
printed; partitions are only ever added, never removed. Under `--dry` missing topics are
sent to the broker with `validate_only`. The broker is soma.onboard.kafka.bootstrap
(SOMA_ONBOARD_KAFKA_BOOTSTRAP); SASL/TLS come from soma.onboard.kafka (security_protocol,
sasl_mechanism, sasl_username, ssl_ca_location) with the password from
SOMA_KAFKA_SASL_PASSWORD or the Secret soma.onboard.kafka.secret.
"""

from invoke import task

from tasks.core.cli import OpsTask, exits
from tasks.onboard import report, settings, steps
from tasks.onboard.session import CLUSTER_HELP, NAMESPACE_HELP, cluster_overrides, services_session


@task(klass=OpsTask, default=True, positional=[], flag_aliases=report.NS_ALIASES, help={
    "namespace": NAMESPACE_HELP,
    "mode": "dev, test, staging, prod-lite or prod: sets replication (default: soma.mode; "
            "staging and prod must be given)",
    **CLUSTER_HELP, "context": "kubeconfig context, for a SASL password read from a Secret"})
def topics(c, namespace, mode=None, context=None, kubeconfig=None, evidence=False):
    """Create or converge the application's event and dead-letter topics."""
    with exits("kafka.topics"):
        spec, endpoints, cfg = settings.load(c, namespace, None, mode, need_env=False,
                                             overrides=cluster_overrides(context, kubeconfig))
    with services_session(c, "kafka.topics", endpoints, cfg, {"ns": namespace}, evidence,
                          init_token=False) as (svc, s):
        report.topic_drift(s, svc, spec)
        plan = s.plan(f"inv kafka.topics -n {namespace} --mode {spec.mode}")
        plan.extend(steps.kafka_steps(svc, spec, dry=s.dry))
        return s.run_plan(plan)
