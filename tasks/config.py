"""`inv config.show --mode=X`: the effective `soma` configuration and where each value came from."""

import json

from invoke import task
from rich.console import Console
from rich.table import Table

from tasks.core.cli import exits
from tasks.core.config import env_name, flatten, parse_sets, soma_config


@task(iterable=["set_"], help={"mode": "dev, test, staging, prod-lite or prod (default: soma.mode)",
                               "json": "print JSON instead of a table",
                               "set": "preview an override, repeatable: --set timeouts.helm=600"})
def show(c, mode=None, json_=False, set_=None):
    """Print the effective configuration for a mode (file < mode < SOMA_* env < flags)."""
    with exits("config.show"):
        cfg = soma_config(c, mode=mode, overrides=parse_sets(set_))
    if json_:
        print(json.dumps({"values": cfg.as_dict(), "sources": cfg.sources}, indent=2, sort_keys=True))
        return
    table = Table(title=f"soma config, mode {cfg.mode}", title_justify="left")
    for column in ("key", "value", "from", "env override"):
        table.add_column(column, overflow="fold")
    for key, value in flatten(cfg.as_dict()).items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        table.add_row(key, shown, cfg.sources.get(key, "config"), env_name(key))
    Console().print(table)
