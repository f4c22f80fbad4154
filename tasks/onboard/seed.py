"""The KV values `vault.apply` and `app.onboard` may seed into `shared-infra/<ns>/<env>`.

They come from `SOMA_SEED_<PROPERTY>` environment variables and/or a JSON/YAML file of
properties (file first, the environment wins), never from argv, and only the four
properties the ExternalSecret maps are accepted. A given `postgres_password` also yields
`postgres_dsn`, so the runtime Secret's DSN matches the role `db.provision` creates.
"""

import os
import pathlib
import urllib.parse

import yaml

from tasks.onboard.errors import InvalidInput
from tasks.onboard.spec import POSTGRES_PORT, SECRET_KEYS, OnboardSpec

ENV_PREFIX = "SOMA_SEED_"


def load(spec: OnboardSpec, seed_file: str = "", environ: dict | None = None) -> dict[str, str]:
    """The values to seed ({} when none is given); bad input raises InvalidInput."""
    environ = os.environ if environ is None else environ
    allowed = set(SECRET_KEYS.values())
    values = _read_file(pathlib.Path(seed_file)) if seed_file else {}
    for prop in sorted(allowed):
        if environ.get(ENV_PREFIX + prop.upper()):
            values[prop] = environ[ENV_PREFIX + prop.upper()]
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise InvalidInput(f"unknown seed properties {unknown}: allowed are {sorted(allowed)}")
    for prop, value in values.items():
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"seed property {prop} must be a non-empty string")
    return _with_dsn(spec, values)


def _read_file(path: pathlib.Path) -> dict:
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read seed file {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        # Only the problem and its position: PyYAML's message quotes the offending line,
        # which holds a secret value.
        raise InvalidInput(f"seed file {path} is not valid YAML/JSON: {yaml_problem(exc)}") from None
    if not isinstance(loaded, dict):
        raise InvalidInput(f"seed file {path} must hold a mapping of property: value")
    return loaded


def yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "cannot parse"
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark else problem


def _with_dsn(spec: OnboardSpec, values: dict[str, str]) -> dict[str, str]:
    if "postgres_password" not in values or "postgres_dsn" in values:
        return values
    password = urllib.parse.quote(values["postgres_password"], safe="")
    return {**values, "postgres_dsn": f"postgresql://{spec.db_user}:{password}@"
                                      f"{spec.postgres_host}:{POSTGRES_PORT}/{spec.db_name}"}
