"""`inv cutover.check`: go/no-go against docs/cutover.md (playbook §9–§11 as checks).

Reads the check tables of docs/cutover.md (tasks/day2/checklist.py), runs what they name —
`inv health.snapshot`, `inv audit.access`, `inv drift.check` (each prints its own table) —
reads the newest DR drill record and evidence records from the evidence folder, and prints
one row per checklist item with its verdict. A blocking fail is NO-GO (exit 4), any warning
or non-blocking fail is "GO with warnings" (exit 3), otherwise GO (exit 0). Manual items are
listed for sign-off and never decided here.
"""

from __future__ import annotations

import datetime as dt

from invoke import Exit, task

from tasks.core.plan import Step
from tasks.day2 import checklist
from tasks.day2.common import HELP, day2_session, endpoint_flags, endpoint_help, finish
from tasks.day2.report import FAIL, SKIP, Check, Report, worst

VERDICT_EXIT = {"GO": 0, "GO with warnings": 3, "NO-GO": 4}


def run_cutover(c, mode=None, namespaces=(), context=None, kubeconfig=None, evidence=False, json_path=None,
                checklist_path=None, runner=None, console=None, sets=(), endpoints=None,
                now=None) -> Report | None:
    from tasks.audit import run_audit
    from tasks.drift import run_drift
    from tasks.health import run_health

    overrides = {f"endpoints.{k}": v for k, v in (endpoints or {}).items()}
    with day2_session(c, "cutover.check", mode, namespaces, context, kubeconfig, evidence, runner, console, sets,
                      overrides) as d:
        cfg = d.cfg
        path = cfg.root / (checklist_path or "docs/cutover.md")
        items = checklist.parse(path.read_text())
        sources = {i.source.split(":")[0] for i in items}
        report = Report(f"inv cutover.check ({cfg.rel(path)})", d.target, d.namespaces)
        sub: dict = {}
        common = dict(mode=mode, context=context, kubeconfig=kubeconfig, runner=d.s.runner, console=d.s.console,
                      sets=sets)

        def run_sub(name, fn, **kwargs):
            def go():
                try:
                    sub[name] = fn(c, **common, **kwargs)
                except Exit as exc:  # a sub-task that could not run is a failed source, not a crash
                    sub[name] = exc
                    return f"could not run: {exc.message}"
                return sub[name].status
            return go

        plan = d.s.plan(f"inv cutover.check ({len(items)} checks, context {d.target})")
        if "health" in sources:
            plan.add(Step("health snapshot", run_sub("health", run_health, namespaces=namespaces, endpoints=endpoints),
                          "check", "inv health.snapshot"))
        if "audit" in sources:
            plan.add(Step("access audit", run_sub("audit", run_audit, endpoints=endpoints), "check", "inv audit.access"))
        if "drift" in sources:
            plan.add(Step("drift check", run_sub("drift", run_drift), "check", "inv drift.check"))
        plan.add(Step("read DR drill and evidence records", lambda: "read", "check",
                      f"{cfg.rel(cfg.evidence_path)}/dr-drill-*.json, <task>-*.json"))
        if d.s.run_plan(plan).dry:
            return None
        when = now or dt.datetime.now(dt.timezone.utc)
        judged = []
        for item in items:
            kind, _, arg = item.source.partition(":")
            if kind == "manual":
                status, detail = SKIP, "manual: sign-off in the change ticket"
            elif kind in ("health", "audit", "drift"):
                got = sub.get(kind)
                if isinstance(got, Exit) or got is None:
                    status, detail = FAIL, f"inv {kind} could not run: {getattr(got, 'message', 'not run')}"
                elif kind == "health":
                    rows = [ch for ch in got.checks if ch.area == arg]
                    status = worst(ch.status for ch in rows) if rows else SKIP
                    detail = "; ".join(f"{ch.name}: {ch.status}" for ch in rows) or f"no {arg} rows"
                    if rows and all(ch.status == SKIP for ch in rows):
                        status = SKIP
                else:
                    status = got.status
                    bad = [ch for ch in got.checks if ch.status not in ("pass", "skip")]
                    detail = f"{got.status}: " + ("; ".join(f"{ch.name}: {ch.status}" for ch in bad[:5])
                                                  or f"{len(got.checks)} rows pass")
            else:
                status, detail = checklist.recorded(cfg.evidence_path, item.source, when)
            judged.append((item, status))
            report.add(Check(item.section.split(" ")[0], f"{item.id} {item.check}", status,
                             detail + ("" if item.blocks else " (does not block)"),
                             {"source": item.source, "blocks": item.blocks}))
        verdict = checklist.verdict(judged)
        report.extra["verdict"] = verdict
        finish(d, report, json_path)
        d.s.console.print(f"[bold]{verdict}[/]")
        return report


@task(iterable=["namespace", "set_"], help={**HELP, **endpoint_help("postgres", "pgbouncer", "kafka", "vault", "memory"), "checklist": "the checklist (default docs/cutover.md)"})
def check(c, mode=None, namespace=None, context=None, kubeconfig=None, evidence=False, json=None, checklist=None,
          set_=None, postgres=None, pgbouncer=None, kafka=None, vault=None, memory=None):
    """Go/no-go table against docs/cutover.md: health, audit, drift, the last DR drill, evidence."""
    report = run_cutover(c, mode, namespace or (), context, kubeconfig, evidence, json, checklist, sets=set_ or (),
                         endpoints=endpoint_flags(postgres=postgres, pgbouncer=pgbouncer, kafka=kafka, vault=vault,
                                                  memory=memory))
    if report is not None and VERDICT_EXIT[report.extra["verdict"]]:
        raise Exit(f"cutover.check: {report.extra['verdict']}", code=VERDICT_EXIT[report.extra["verdict"]])
