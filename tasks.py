"""Invoke root collection: `inv --list` from the repository root shows every task.

`tasks.py` and the `tasks/` folder cannot both be the module `tasks`, so this file makes
itself a namespace over `tasks/` (which has no `__init__.py`): `from tasks import reset`
loads `tasks/reset.py`. Every top-level `tasks/*.py` that defines tasks becomes a
sub-collection named after the file; a task marked `default=True` answers to the bare
collection name (`inv reset`). Shared plumbing lives in `tasks/core/` and holds no tasks.
"""

import importlib
import pathlib

from invoke import Collection, Task

_HERE = pathlib.Path(__file__).resolve().parent
__path__ = [str(_HERE / "tasks")]


def _collection() -> Collection:
    ns = Collection()
    for path in sorted((_HERE / "tasks").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"tasks.{path.stem}")
        if any(isinstance(v, Task) for v in vars(module).values()):
            ns.add_collection(Collection.from_module(module, name=path.stem.replace("_", "-")))
    ns.configure({"run": {"echo": False}})
    return ns


ns = _collection()
