"""Shell-free process runner: argument lists through `sh`, timeouts, redaction, tool gates.

Invoke's `c.run` always goes through `bash -c`, so work never uses it. A `Runner` runs an
argv list through the `sh` library (no shell parsing, stdout without a tty so JSON parses),
with a default timeout, and replaces every configured secret value with `***` in the
commands it echoes and in the errors it raises. Secrets should travel in `input=` or `env=`
anyway; redaction is the second line of defence.

    r = Runner(secrets=("s3cr3t",), timeout=120)
    res = r.run(["kubectl", "get", "ns", "-o", "json"], timeout=30, check=True)
    res.stdout, res.stderr, res.exit_code
    r.require("kubectl", "1.28")      # ToolMissing("install kubectl >= 1.28 ...")

Tests and dry runs inject another object with the same `run`/`which` methods (see
`RecordingRunner`), so code that builds argv lists never needs a real kind or helm.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

import sh

from tasks.core.errors import CommandFailed, CommandTimedOut, ToolMissing, VersionError
from tasks.core.versions import Version, probe_for

REDACTED = "***"


@dataclass(frozen=True)
class Result:
    """What a finished process left behind (text already decoded, not redacted)."""

    argv: tuple[str, ...]
    stdout: str
    stderr: str
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class Redactor:
    """Replaces secret values in text; empty or very short values are ignored on purpose."""

    def __init__(self, secrets: Iterable[str] = ()):
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)
        self._aliases: list[tuple[str, str]] = []

    def alias(self, mapping: Mapping[str, str]) -> None:
        """Text shown as a placeholder instead (this machine's paths: the kubeconfig as
        `$KUBECONFIG`), applied after the secrets, so plans, errors and evidence agree and
        a table that wraps a long path never leaves pieces of it behind."""
        merged = dict(self._aliases) | {str(k): v for k, v in mapping.items() if k and len(str(k)) > 1}
        self._aliases = sorted(merged.items(), key=lambda kv: len(kv[0]), reverse=True)

    @property
    def secrets(self) -> tuple[str, ...]:
        """The values being redacted (the incident bundle's policy learns them too)."""
        return tuple(self._secrets)

    def add(self, *secrets: str) -> None:
        self._secrets = sorted({*self._secrets, *(s for s in secrets if s and len(s) >= 3)},
                               key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for path, placeholder in self._aliases:
            text = text.replace(path, placeholder)
        return text

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [self(str(a)) for a in argv]


def format_argv(argv: Sequence[str]) -> str:
    """A readable, copy-pasteable rendering of an argv list (display only, never executed)."""
    return shlex.join(str(a) for a in argv)


class Runner:
    """Runs argv lists through `sh`; see the module docstring."""

    def __init__(self, secrets: Iterable[str] = (), timeout: float = 120,
                 env: Mapping[str, str] | None = None, echo: Callable[[str], None] | None = None,
                 cwd: str | os.PathLike | None = None):
        self.redact = Redactor(secrets)
        self.timeout = timeout
        self.env = dict(env or {})
        self.echo = echo
        self.cwd = cwd  # default working directory (tasks use the repository root)

    def which(self, tool: str) -> str | None:
        return shutil.which(tool)

    def run(self, argv: Sequence[str], timeout: float | None = None, check: bool = True,
            input: str | bytes | None = None, env: Mapping[str, str] | None = None,
            cwd: str | os.PathLike | None = None) -> Result:
        argv = tuple(str(a) for a in argv)
        if not argv:
            raise ValueError("empty argv")
        shown = format_argv(self.redact.argv(argv))
        if self.echo:
            self.echo(shown)
        path = self.which(argv[0]) if os.sep not in argv[0] else argv[0]
        if not path or not os.access(path, os.X_OK):
            raise ToolMissing(f"install {argv[0]} (not found on PATH)")
        limit = self.timeout if timeout is None else timeout
        kwargs = dict(_return_cmd=True, _ok_code=list(range(256)), _tty_out=False,
                      _timeout=limit, _env={**os.environ, **self.env, **(env or {})})
        if input is not None:
            kwargs["_in"] = input
        if (cwd if cwd is not None else self.cwd) is not None:
            kwargs["_cwd"] = str(cwd if cwd is not None else self.cwd)
        try:
            done = sh.Command(path)(*argv[1:], **kwargs)
        except sh.TimeoutException:
            raise CommandTimedOut(f"timed out after {limit:g}s: {shown}", argv=self.redact.argv(argv),
                                  exit_code=124) from None
        except sh.CommandNotFound:
            raise ToolMissing(f"install {argv[0]} (not found on PATH)") from None
        result = Result(argv, _text(done.stdout), _text(done.stderr), int(done.exit_code))
        if check and not result.ok:
            raise self.failure(result)
        return result

    def failure(self, result: Result) -> CommandFailed:
        tail = self.redact((result.stderr or result.stdout).strip())[-800:]
        shown = format_argv(self.redact.argv(result.argv))
        return CommandFailed(f"exit {result.exit_code}: {shown}" + (f"\n{tail}" if tail else ""),
                             argv=self.redact.argv(result.argv), exit_code=result.exit_code,
                             stdout=self.redact(result.stdout), stderr=self.redact(result.stderr))

    def version(self, tool: str) -> Version:
        """The installed version of `tool`, parsed by its probe (ToolMissing when absent)."""
        probe = probe_for(tool)
        result = self.run(list(probe.argv), timeout=30, check=False)
        if not result.ok:
            raise ToolMissing(f"install {tool}: `{format_argv(probe.argv)}` failed "
                              f"(exit {result.exit_code}): {result.stderr.strip()[:200]}")
        return probe.parse(result.stdout)

    def require(self, tool: str, minimum: str) -> Version:
        """Gate: returns the version, or raises ToolMissing("install X >= minimum ...")."""
        wanted = Version.parse(minimum)
        try:
            found = self.version(tool)
        except ToolMissing:
            raise ToolMissing(f"install {tool} >= {minimum}") from None
        except VersionError as exc:
            raise ToolMissing(f"install {tool} >= {minimum} (unreadable version: {exc})") from None
        if found < wanted:
            raise ToolMissing(f"install {tool} >= {minimum} (found {found})")
        return found


@dataclass
class RecordingRunner:
    """A seam for code that would run tools that cannot run here (kind, helm install).

    It records every argv and answers from `replies` (argv prefix tuple -> (stdout, stderr,
    exit code), or a list of them for successive calls, the last repeating);
    anything unanswered raises CommandFailed, so a test can never pass because a missing
    tool silently "succeeded". `tools` lists what `which` claims is installed.
    """

    replies: dict = field(default_factory=dict)
    tools: tuple[str, ...] = ()
    calls: list = field(default_factory=list)
    redact: Redactor = field(default_factory=Redactor)

    def which(self, tool: str) -> str | None:
        return f"/recorded/{tool}" if tool in self.tools else None

    def run(self, argv, timeout=None, check=True, input=None, env=None, cwd=None) -> Result:
        argv = tuple(str(a) for a in argv)
        self.calls.append(list(argv))
        for prefix in sorted(self.replies, key=len, reverse=True):
            if argv[: len(prefix)] == tuple(prefix):
                reply = self.replies[prefix]
                if isinstance(reply, list):  # successive answers; the last one repeats
                    reply = reply.pop(0) if len(reply) > 1 else reply[0]
                stdout, stderr, code = reply
                result = Result(argv, stdout, stderr, code)
                break
        else:
            result = Result(argv, "", f"no recorded reply for {format_argv(argv)}", 127)
        if check and not result.ok:
            raise self.failure(result)
        return result

    failure = Runner.failure
    version = Runner.version
    require = Runner.require


def _text(data) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data or ""
