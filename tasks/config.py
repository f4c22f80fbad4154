"""`inv config.show --mode=X`: the effective `soma` configuration and where each value came from."""

import json

from invoke import Exit, task
from rich.console import Console
from rich.table import Table

from tasks.core.config import _flatten, env_name, soma_config
from tasks.core.errors import OpsError


@task(help={"mode": "dev, test, staging, prod-lite or prod (default: soma.mode)",
            "json": "print JSON instead of a table"})
def show(c, mode=None, json_=False):
    """Print the effective configuration for a mode (file < mode < SOMA_* env < flags)."""
    try:
        cfg = soma_config(c, mode=mode)
    except OpsError as exc:
        raise Exit(f"config.show: {exc}", code=exc.exit_code) from None
    if json_:
        print(json.dumps({"values": cfg.as_dict(), "sources": cfg.sources}, indent=2, sort_keys=True))
        return
    table = Table(title=f"soma config, mode {cfg.mode}", title_justify="left")
    for column in ("key", "value", "from", "env override"):
        table.add_column(column, overflow="fold")
    for key, value in _flatten(cfg.as_dict()).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        table.add_row(key, shown, cfg.sources.get(key, "config"), env_name(key))
    Console().print(table)
