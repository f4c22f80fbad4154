"""The one redaction policy of the day-2 tasks: applied to every file a bundle or report holds.

Two passes, both always:

1. structure (`scrub`), for objects we parse: a Secret keeps its keys but every value of
   `data`/`stringData` becomes `***`; the `last-applied-configuration` annotation (a full copy
   of the object, Secret data included) is dropped; any mapping key that names a secret
   (password, token, secret, private key, credentials, DSN ...) has its value replaced; an
   env entry `{name: DB_PASSWORD, value: ...}` loses its value the same way;
2. text (`__call__`), for everything, parsed or not (logs, helm manifests, event messages,
   errors): passwords in DSNs and URLs (`scheme://user:pw@`), `Bearer` and `Basic` headers,
   Vault/OpenBao tokens (`hvs.`, `hvb.`, `hvr.`, `s.` + 24 characters), PEM private keys,
   `key=value` / `key: value` / `"key": "value"` pairs whose key names a secret, and every
   value the collectors learned is secret (`learn`: decoded Secret data and its base64 form).

Known values are replaced longest first, so a secret containing another goes whole.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Iterable

REDACTED = "***"
# Keys of Secrets whose values are public (a service-account token Secret's namespace and CA
# certificate): learning them would blank every namespace name in the bundle. Their values
# still become *** inside the Secret itself.
PUBLIC_SECRET_KEYS = ("namespace", "ca.crt")
# A key that names a secret: it ENDS with a secret word (db_password, API_KEY, vault-token),
# so words in free text such as "SecretSyncedError: could not ..." are left alone.
# `secretName`/`secretRef`/`tokenPath` name where one lives, not the secret itself.
_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[-_]?key|access[-_]?key|private[-_]?key|"
    r"credentials?|auth[-_]?key|dsn|database[-_]?url|connection[-_]?string|client[-_]?secret|"
    r"unseal[-_]?keys?|root[-_]?token|sas[-_]?key)s?$", re.I)
_NOT_SECRET_KEY = re.compile(r"(ref|refs|name|names|path|store|kind|namespace|namespaces|type|file|ttl|"
                             r"count|selector|reviewer|audience|sha|version)$|^secret_?key$|"
                             r"^(secrets?|serviceaccounttoken|automountserviceaccounttoken|externalsecrets?|"
                             r"secretstores?)$", re.I)

_PATTERNS = [
    # user:password@ in any scheme://, keeping the user and host readable
    (re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^\s:/@'\"]*:)(?P<val>[^\s@/'\"]+)(?P<post>@)", re.I), None),
    # DSN keyword form: password=... (libpq) and the same in query strings
    (re.compile(r"(?P<pre>\b(?:password|passwd|pwd|sslpassword)\s*=\s*)(?P<val>'[^']*'|\"[^\"]*\"|[^\s&;,'\"]+)",
                re.I), None),
    (re.compile(r"(?P<pre>\b(?:Bearer|Basic)\s+)(?P<val>[^\s'\"]{6,})"), None),
    (re.compile(r"(?P<pre>)(?P<val>\b(?:hv[sbr]|s|b|r)\.[A-Za-z0-9_-]{24,})(?P<post>)"), None),
    (re.compile(r"(?P<pre>-----BEGIN [A-Z ]*PRIVATE KEY-----)(?P<val>.*?)(?P<post>-----END [A-Z ]*PRIVATE KEY-----)",
                re.S), None),
    # "key": "value" (JSON), key: value (YAML, logs), KEY=value (env, logs)
    (re.compile(r"(?P<pre>\"(?P<key>[A-Za-z0-9_.-]*)\"\s*:\s*\")(?P<val>[^\"]+)(?P<post>\")"), "key"),
    (re.compile(r"(?P<pre>(?:^|[\s,{\[(\"])(?P<key>[A-Za-z0-9_.-]+)\s*[:=]\s*)(?P<val>(?!\*\*\*|sha256:)[^\s,;&'\"}\])\\]+)",
                re.M), "key"),
]


def secret_key(name: str) -> bool:
    name = str(name)
    return bool(_SECRET_KEY.search(name)) and not _NOT_SECRET_KEY.search(name)


class Policy:
    def __init__(self, known: Iterable[str] = ()):
        self._known: set[str] = set()
        self.learn(*known)

    def learn(self, *values: str) -> None:
        """Values that are secret wherever they appear (and their base64 form)."""
        for value in values:
            if not isinstance(value, str) or len(value) < 4:
                continue
            self._known.add(value)
            self._known.add(base64.b64encode(value.encode()).decode())
            for line in value.splitlines():  # a multi-line secret (a key) line by line too
                if len(line.strip()) >= 8:
                    self._known.add(line.strip())

    def learn_secret(self, secret: dict) -> None:
        for key, value in (secret.get("data") or {}).items():
            if key in PUBLIC_SECRET_KEYS:
                continue
            try:
                self.learn(base64.b64decode(value).decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self.learn(value)
        for value in (secret.get("stringData") or {}).values():
            self.learn(str(value))

    def __call__(self, text: str) -> str:
        for value in sorted(self._known, key=len, reverse=True):
            text = text.replace(value, REDACTED)
        for pattern, keyed in _PATTERNS:
            text = pattern.sub(lambda m: self._sub(m, keyed), text)
        return text

    @staticmethod
    def _sub(match: re.Match, keyed: str | None) -> str:
        if keyed and not secret_key(match.group("key")):
            return match.group(0)
        post = match.groupdict().get("post") or ""
        return f"{match.group('pre')}{REDACTED}{post}"

    def scrub(self, obj: Any) -> Any:
        """A copy of a parsed object (or list of them) with the structural rules applied."""
        if isinstance(obj, list):
            return [self.scrub(item) for item in obj]
        if not isinstance(obj, dict):
            return obj
        out = {}
        is_secret = obj.get("kind") == "Secret"
        for key, value in obj.items():
            if key == "annotations" and isinstance(value, dict):
                out[key] = {k: (REDACTED if k.endswith("last-applied-configuration") or secret_key(k)
                                else self.scrub(v)) for k, v in value.items()}
            elif is_secret and key in ("data", "stringData") and isinstance(value, dict):
                out[key] = {k: REDACTED for k in value}
            elif isinstance(value, (str, int, float)) and not isinstance(value, bool) and secret_key(key) \
                    and value not in ("", None):
                self.learn(str(value))  # the same value elsewhere (a log line, a manifest) goes too
                out[key] = REDACTED
            else:
                out[key] = self.scrub(value)
        # An env entry: {name: DB_PASSWORD, value: x} (the key is `value`, the name says why).
        if set(out) >= {"name", "value"} and isinstance(out.get("name"), str) and secret_key(out["name"]):
            self.learn(str(out["value"]))
            out["value"] = REDACTED
        return out
