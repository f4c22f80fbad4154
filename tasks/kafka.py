"""`inv kafka.topics --ns <app> [--mode <mode>]`: playbook §3.7 through the AdminClient.

`<ns>.events` and `<ns>.events.dlq` with 6 partitions, replication 1 in dev/test and 3 in
staging/prod-lite/prod, `retention.ms` 259200000. Existing topics are compared and the drift
printed; partitions are only ever added, never removed. Under `--dry` missing topics are
sent to the broker with `validate_only`. The broker is SOMA_KAFKA_BOOTSTRAP (or
soma.onboard.kafka_bootstrap).
"""

from invoke import task

from tasks.onboard import settings, steps
from tasks.core.cli import exits, is_dry
from tasks.onboard.cli import print_topic_drift, session
from tasks.onboard.services import Services


@task(default=True, positional=[], help={"ns": "application namespace (DNS-1123 label)",
                          "mode": "dev, test, staging, prod-lite or prod (sets replication)",
                          "evidence": "write a transcript and run record to docs/sprints/"})
def topics(c, ns, mode="dev", evidence=False):
    """Create or converge the application's event and dead-letter topics."""
    with exits("kafka.topics"):
        spec, endpoints, cfg = settings.load(c, ns, "dev", mode)
        svc = Services(endpoints)
        inputs = {"ns": ns, "mode": mode, "dry": is_dry(c)}
        with session(c, "kafka.topics", cfg, svc, inputs, evidence) as s:
            print_topic_drift(s.console, steps.kafka_drift(svc, spec))
            plan = s.plan(f"inv kafka.topics --ns {ns} --mode {mode}")
            plan.extend(steps.kafka_steps(svc, spec, dry=s.dry))
            s.run_plan(plan)
