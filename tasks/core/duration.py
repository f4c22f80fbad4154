"""Durations as kubectl and helm take them: `90s`, `5m`, `1h30m`, or bare seconds.

    seconds("5m")      # 300
    seconds("1h2m3s")  # 3723
    seconds("300")     # 300 (a bare number is seconds, as the old --timeout took it)

Anything else is a ConfigError naming the flag, never a traceback.
"""

from __future__ import annotations

import re

from tasks.core.errors import ConfigError

# ASCII digits only: str.isdigit() and \d also take "²" or "٣", which int() refuses.
_PART = re.compile(r"([0-9]+)(h|m|s)")
_SECONDS = re.compile(r"[0-9]+")
_UNITS = {"h": 3600, "m": 60, "s": 1}


def seconds(value, flag: str = "--timeout") -> int:
    """Whole seconds (> 0) of a Go-style duration or a bare number of seconds."""
    text = str(value).strip()
    if _SECONDS.fullmatch(text):
        total = int(text)
    else:
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ConfigError(f"{flag} {value!r} is not a duration; use e.g. 90s, 5m, 1h30m "
                              "or a whole number of seconds")
        total = sum(int(n) * _UNITS[u] for n, u in parts)
    if total <= 0:
        raise ConfigError(f"{flag} {value!r} must be longer than zero")
    return total
