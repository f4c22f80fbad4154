"""Install extras: a task module whose packages are not installed still lists its tasks.

The base install (`pip install -e .`) runs the memory service and `inv memory.*`; the
operations tasks need the `ops` extra (helm SDK, kubernetes-validate, hvac, docker, ...).
Without it their modules cannot be imported, so `load()` builds a stand-in collection from
the module's source instead: the same task names (read from its `@task` decorators), each
ending with one line that says what to install. Nothing here imports the ops packages.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pathlib

from invoke import Collection, Task
from invoke.exceptions import Exit

OPS_HINT = "pip install -e '.[ops]'"
# top-level import names the `ops` extra provides (setup.cfg, [options.extras_require] ops)
OPS_PACKAGES = frozenset({"rich", "jinja2", "ruamel", "yaml", "hvac", "docker", "jsonschema", "requests",
                          "kubernetes_validate", "helm_python"})


def _decorated_tasks(path: pathlib.Path) -> list[dict]:
    """Every @task / @task(...) function of the file: its task name (the decorator's `name`
    or the function's, dashed as invoke does), default flag, aliases and first doc line."""
    found = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            target = deco.func if isinstance(deco, ast.Call) else deco
            if not (isinstance(target, ast.Name) and target.id == "task"):
                continue
            kw = {k.arg: k.value for k in deco.keywords} if isinstance(deco, ast.Call) else {}
            const = {k: v.value for k, v in kw.items() if isinstance(v, ast.Constant)}
            aliases = [e.value for e in getattr(kw.get("aliases"), "elts", []) if isinstance(e, ast.Constant)]
            found.append({"name": const.get("name") or node.name.replace("_", "-"),
                          "default": const.get("default") is True, "aliases": aliases,
                          "doc": (ast.get_docstring(node) or "").split("\n", 1)[0],
                          "signature": _signature(node.args)})
    return found


def _signature(args: ast.arguments) -> inspect.Signature:
    """The task's own parameters (constant defaults kept, others None), so the stand-in
    accepts the same options and reaches its message instead of "No idea what ... is"."""
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    params = [inspect.Parameter(a.arg, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                default=inspect.Parameter.empty if i == 0 else
                                (d.value if isinstance(d, ast.Constant) else None))
              for i, (a, d) in enumerate(zip(positional, defaults))]
    params += [inspect.Parameter(a.arg, inspect.Parameter.KEYWORD_ONLY,
                                 default=d.value if isinstance(d, ast.Constant) else None)
               for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    return inspect.Signature(params)


def stand_in(path: pathlib.Path, name: str, missing: str) -> Collection:
    """A collection with the module's task names, each saying which extra to install."""
    coll = Collection(name)
    for spec in _decorated_tasks(path):
        def body(*_args, _task=spec["name"], **_kwargs):
            raise Exit(f"inv {name}.{_task} needs the operations extra ({missing} is not installed): "
                       f"{OPS_HINT}", code=1)

        body.__signature__ = spec["signature"]
        body.__doc__ = f"[needs {OPS_HINT}] {spec['doc']}".rstrip()
        coll.add_task(Task(body, name=spec["name"], aliases=spec["aliases"]), default=spec["default"] or None)
    return coll


def load(module_name: str, path: pathlib.Path, name: str) -> Collection | None:
    """The task collection of a tasks/ module, or its stand-in when an ops package is
    missing; None for a module without tasks. Any other import error is raised as is."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        root = (exc.name or "").split(".")[0]
        if root not in OPS_PACKAGES:
            raise
        return stand_in(path, name, root) if _decorated_tasks(path) else None
    if not any(isinstance(v, Task) for v in vars(module).values()):
        return None
    return Collection.from_module(module, name=name)
