"""What onboarding prints before its plan: the Vault policy/role diff and the topic drift.

In a dry run a service that cannot be reached (no Vault token, no broker) is a note, not a
failure, so `--dry` always shows the whole plan; the steps themselves say `change?` and why.
"""

from tasks.core.errors import OpsError
from tasks.onboard import steps

# Flags shared by the onboarding tasks: -n/--namespace as kubectl spells it, and the old
# --ns kept so scripts written against it still work.
NS_ALIASES = {"namespace": ("n", "ns")}


def vault_diff(s, svc, spec, rendered) -> None:
    """The policy/role diff against Vault (names and paths only, never KV values)."""
    try:
        diff = steps.vault_diffs(svc, spec, rendered)
    except OpsError as exc:
        if not s.dry:
            raise
        s.console.print(f"[yellow]vault: cannot compare ({exc}); the Vault steps say change?[/]",
                        highlight=False, soft_wrap=True)
        return
    s.console.print(diff.rstrip() if diff else "vault: policy and role match the rendered ones",
                    highlight=False, markup=False, soft_wrap=True)


def topic_drift(s, svc, spec) -> None:
    try:
        drift = steps.kafka_drift(svc, spec)
    except OpsError as exc:
        if not s.dry:
            raise
        s.console.print(f"[yellow]topics: cannot compare ({exc})[/]", highlight=False, soft_wrap=True)
        return
    if not drift:
        s.console.print("topics: no drift on existing topics")
        return
    s.console.print("[yellow]topic drift[/]:")
    for line in drift:
        s.console.print(f"  - {line}", highlight=False, markup=False, soft_wrap=True)
