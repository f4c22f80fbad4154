"""Invoke root collection: `inv --list` from the repository root shows every task.

`tasks.py` and the `tasks/` folder cannot both be the module `tasks`, so this file makes
itself a namespace over `tasks/` (which has no `__init__.py`): `from tasks import reset`
loads `tasks/reset.py`. Every top-level `tasks/*.py` that defines tasks becomes a
sub-collection named after the file; a task marked `default=True` answers to the bare
collection name (`inv reset`). Shared plumbing lives in `tasks/core/` and holds no tasks.
"""

import pathlib

from invoke import Collection

_HERE = pathlib.Path(__file__).resolve().parent
__path__ = [str(_HERE / "tasks")]

from tasks.core import extras  # noqa: E402 - needs __path__ above


def _collection() -> Collection:
    ns = Collection()
    for path in sorted((_HERE / "tasks").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        # without the `ops` extra an operations module cannot import: it is listed anyway,
        # each task saying what to install (tasks/core/extras.py)
        coll = extras.load(f"tasks.{path.stem}", path, path.stem.replace("_", "-"))
        if coll is not None:
            ns.add_collection(coll)
    ns.configure({"run": {"echo": False}})
    return ns


ns = _collection()
