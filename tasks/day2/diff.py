"""Live object vs rendered object, the way `helm diff` users read it.

    live_view = project(live, rendered)        # only what the chart sets, from the live object
    text = unified(rendered, live_view, "ConfigMap/x")    # '' when they agree

The server adds fields the chart never set (status, uid, resourceVersion, managedFields,
defaults such as `imagePullPolicy`, Helm's own annotations): projecting the live object onto
the rendered one's shape ignores all of them. What the chart sets but the live object lacks or
changed shows up, and so do list items someone added (a list is compared at its full length).
Secret values are compared by digest and shown only as digests.
"""

from __future__ import annotations

import base64
import difflib
import hashlib

import yaml

MISSING = "<absent>"


def project(live, rendered):
    if isinstance(rendered, dict):
        if not isinstance(live, dict):
            return live if live is not None else MISSING
        return {k: project(live.get(k, MISSING) if k in live else MISSING, v) for k, v in rendered.items()}
    if isinstance(rendered, list):
        if not isinstance(live, list):
            return live if live is not None else MISSING
        out = [project(live[i], item) if i < len(live) else MISSING for i, item in enumerate(rendered)]
        return out + list(live[len(rendered):])
    return live


def _normalise(obj: dict) -> dict:
    """Comparable form: Secret values as digests (stringData folded into data), numbers as text."""
    if obj.get("kind") != "Secret":
        return obj
    obj = dict(obj)
    data = {}
    for k, v in (obj.get("data") or {}).items():
        try:
            data[k] = base64.b64decode(v)
        except (ValueError, TypeError):
            data[k] = str(v).encode()
    for k, v in (obj.pop("stringData", None) or {}).items():
        data[k] = str(v).encode()
    if data or "data" in obj:
        obj["data"] = {k: "sha256:" + hashlib.sha256(v).hexdigest()[:16] for k, v in data.items()}
    return obj


def _scalars_as_text(obj):
    if isinstance(obj, dict):
        return {k: _scalars_as_text(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_scalars_as_text(v) for v in obj]
    return obj if isinstance(obj, (str, bool)) or obj is None else str(obj)


def unified(rendered: dict, live: dict | None, label: str) -> str:
    want = _scalars_as_text(_normalise(rendered))
    if live is None:
        have_text = ""
    else:
        have = _scalars_as_text(project(_normalise(live), want))
        have_text = yaml.safe_dump(have, sort_keys=True)
    want_text = yaml.safe_dump(want, sort_keys=True)
    if want_text == have_text:
        return ""
    return "".join(difflib.unified_diff(want_text.splitlines(True), have_text.splitlines(True),
                                        f"{label} (chart)", f"{label} (live)", n=2))
