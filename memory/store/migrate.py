"""Alembic, driven from code: the migrations ship inside the package (memory/store/migrations).

`upgrade(engine)` brings a database to head; `check(engine)` raises NotMigrated with the
command to run when the database is not at head.
"""

from __future__ import annotations

import functools

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
import sqlalchemy as sa

from memory.errors import NotMigrated


def _config(connection=None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", "memory.store:migrations")
    cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def head() -> str:
    """The code's head revision (read once: the migration files do not change at run time)."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> str:
    with engine.begin() as conn:
        command.upgrade(_config(conn), revision)
    return current(engine)


def check(engine: sa.Engine) -> None:
    rev, want = current(engine), head()
    if rev != want:
        state = "not migrated" if rev is None else f"at revision {rev}, code needs {want}"
        raise NotMigrated(f"the database is {state}: run `inv memory.migrate` "
                          f"(or `python -m memory migrate`) first")
