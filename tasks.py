"""Invoke root collection: `inv --list` from the repository root shows every task.

`tasks.py` and the `tasks/` folder cannot both be the module `tasks`, so this file makes
itself a namespace over `tasks/` (which has no `__init__.py`): `from tasks import reset`
loads `tasks/reset.py`. Every top-level `tasks/*.py` that defines tasks becomes a
sub-collection named after the file; a task marked `default=True` answers to the bare
collection name (`inv reset`). Shared plumbing lives in `tasks/core/` and holds no tasks.

The test harness (building the test API server, installing and running the suite) is not
an operator's concern, so its modules live under one `dev` collection: `inv dev.kube.build`,
`inv dev.test.setup`, and the suite itself is `inv dev.test` (the README's second command
and .ci/run), so `inv --list` leads with operators' tasks.
"""

import pathlib

from invoke import Collection

_HERE = pathlib.Path(__file__).resolve().parent
__path__ = [str(_HERE / "tasks")]
# Modules whose tasks serve the test harness, not operators.
HARNESS = ("kube", "test")

from tasks.core import extras  # noqa: E402 - needs __path__ above


def _collection() -> Collection:
    ns = Collection()
    dev = Collection("dev")
    for path in sorted((_HERE / "tasks").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        # without the `ops` extra an operations module cannot import: it is listed anyway,
        # each task saying what to install (tasks/core/extras.py)
        coll = extras.load(f"tasks.{path.stem}", path, path.stem.replace("_", "-"))
        if coll is not None:
            (dev if path.stem in HARNESS else ns).add_collection(coll)
    ns.add_collection(dev)
    ns.configure({"run": {"echo": False}})
    return ns


ns = _collection()
