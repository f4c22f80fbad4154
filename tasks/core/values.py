"""Helm values files: read one, and merge several the way `helm -f a.yaml -f b.yaml` does.

Both the chart checks (tasks/chart.py) and the deploy drift check (core/release.py) need
exactly Helm's merge, so it lives here once.
"""

from __future__ import annotations

import os
import pathlib
from typing import Iterable, Mapping

import yaml

from tasks.core.errors import ChartError

def merge_values(base: Mapping, top: Mapping | None) -> dict:
    """Helm's -f merge: maps merge deeply, anything else in a later file replaces."""
    out = dict(base)
    for key, value in (top or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def read_values_file(path: os.PathLike | str) -> dict:
    """One values file as a dict ({} when empty); ChartError names what is wrong."""
    path = pathlib.Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ChartError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ChartError(f"{path.name} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ChartError(f"{path.name} must hold a mapping at the top, not {type(data).__name__}")
    return data


def values_from_files(files: Iterable[os.PathLike | str]) -> dict:
    """The files merged in order, as Helm merges repeated -f flags."""
    merged: dict = {}
    for path in files:
        merged = merge_values(merged, read_values_file(path))
    return merged
