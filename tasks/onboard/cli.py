"""The glue every onboarding task shares: plans run with Invoke's `--dry` inside the
operations library's `Session`, `--evidence` records the run (the plan included, also when
a step fails), and an error inside a session leaves as one redacted line. (What fails before
a session, input checks, config and the seed file, leaves through `tasks.core.cli.exits`.)"""

import contextlib

from invoke import Exit

from tasks.core.cli import Session, is_dry
from tasks.core.errors import OpsError
from tasks.core.evidence import Evidence


@contextlib.contextmanager
def session(c, task: str, cfg, svc, inputs: dict, evidence: bool = False):
    """Yields a `Session` on the services' runner, so one redactor (which learns every
    secret as the services read it) covers the plan table, the evidence and the error line.
    The service clients are closed at the end."""
    ev = Evidence(cfg.evidence_path, task=task, inputs=inputs, redact=svc.runner.redact,
                  enabled=evidence)
    ev.config = cfg.as_dict()
    try:
        with ev.recording() as console:
            yield Session(task, cfg, svc.runner, console, is_dry(c), ev)
    except OpsError as exc:
        # A driver's message can quote what it was given (a DSN, a server reply); the
        # redactor has seen the secrets by now, so the line is safe to print.
        raise Exit(f"{task}: {svc.runner.redact(str(exc))}", code=exc.exit_code) from None
    finally:
        svc.close()


def print_vault_diff(console, diff: str) -> None:
    """The policy/role diff against Vault (names and paths only, never KV values)."""
    console.print(diff.rstrip() if diff else "vault: policy and role match the rendered ones",
                  highlight=False, markup=False, soft_wrap=True)


def print_topic_drift(console, drift: list[str]) -> None:
    if not drift:
        console.print("topics: no drift on existing topics")
        return
    console.print("[yellow]topic drift[/]:")
    for line in drift:
        console.print(f"  - {line}", highlight=False, markup=False, soft_wrap=True)
