"""The incident bundle as files in memory, then one `.tar.gz` with its manifest.

    b = Bundle(policy)
    b.add_json("namespaces/soma-infra/pods.json", pods, collector="kube-objects")
    b.add_text("logs/soma-infra/web-0/app.log", text, collector="logs")
    b.error("logs", "soma-infra/web-0/app: container not started")
    b.write(path, analysis)      # manifest.json + analysis.json + every file, redacted

Nothing is written until `write`, so the redaction policy has learned every secret value
(from Secrets, Helm values, env) before the first file goes out: a password collected
early is still removed from a log collected late. JSON files pass through the structural
scrub and then the text pass; text files through the text pass. The archive is written
under a temporary name and renamed, so a crash never leaves half a bundle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import pathlib
import tarfile
import time
from dataclasses import dataclass, field

from tasks.day2.redaction import Policy


@dataclass
class _File:
    name: str
    collector: str
    data: object
    kind: str  # json | text


@dataclass
class Bundle:
    policy: Policy
    files: list[_File] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    collectors: dict = field(default_factory=dict)  # name -> {"seconds", "files", "errors"}

    def add_json(self, name: str, data, collector: str) -> None:
        self.files.append(_File(name, collector, data, "json"))

    def add_text(self, name: str, text: str, collector: str) -> None:
        self.files.append(_File(name, collector, text, "text"))

    def error(self, collector: str, message: str) -> None:
        self.errors.append({"collector": collector, "error": str(message)})

    def run(self, collector: str, fn, *args) -> None:
        """Run one collector; whatever it raises is recorded and the bundle goes on."""
        t0, before_files, before_errors = time.monotonic(), len(self.files), len(self.errors)
        try:
            fn(self, *args)
        except Exception as exc:  # never stop half-way: note it, next collector
            lines = [ln for ln in str(exc).splitlines() if ln.strip()] or [type(exc).__name__]
            self.error(collector, " / ".join(lines[-3:]))
        stats = self.collectors.setdefault(collector, {"seconds": 0.0, "files": 0, "errors": 0})
        stats["seconds"] = round(stats["seconds"] + time.monotonic() - t0, 3)
        stats["files"] += len(self.files) - before_files
        stats["errors"] += len(self.errors) - before_errors

    def _body(self, f: _File) -> bytes:
        if f.kind == "json":
            text = json.dumps(self.policy.scrub(f.data), indent=2, default=str) + "\n"
        else:
            text = f.data if isinstance(f.data, str) else str(f.data)
        return self.policy(text).encode()

    def render(self, analysis: dict, meta: dict) -> dict[str, bytes]:
        """name -> redacted bytes, including manifest.json and analysis.json."""
        # Scrub every JSON file once before any text pass, so values learned from structure
        # (env, Helm values) reach files that came earlier in the list.
        for f in self.files:
            if f.kind == "json":
                self.policy.scrub(f.data)
        bodies = {f.name: self._body(f) for f in self.files}
        errors = [{**e, "error": self.policy(e["error"])} for e in self.errors]
        manifest = {**meta, "files": [{"name": name, "size": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                                       "collector": f.collector} for f, (name, body) in zip(self.files, bodies.items())],
                    "collectors": self.collectors, "errors": errors}
        bodies["analysis.json"] = self.policy(json.dumps(analysis, indent=2, default=str) + "\n").encode()
        bodies["manifest.json"] = self.policy(json.dumps(manifest, indent=2, default=str) + "\n").encode()
        return bodies

    def write(self, path: str | os.PathLike, analysis: dict, meta: dict) -> tuple[pathlib.Path, dict]:
        path = pathlib.Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        bodies = self.render(analysis, meta)
        top = path.name.removesuffix(".tar.gz")
        mtime = dt.datetime.now(dt.timezone.utc).timestamp()
        tmp = path.with_name(f".{path.name}.tmp")
        with tarfile.open(tmp, "w:gz") as tar:
            # manifest and analysis first: `tar tzf | head` shows what is inside
            for name in ["manifest.json", "analysis.json", *[n for n in bodies if n not in
                                                             ("manifest.json", "analysis.json")]]:
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size, info.mtime, info.mode = len(bodies[name]), int(mtime), 0o600
                tar.addfile(info, io.BytesIO(bodies[name]))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return path, {"manifest": json.loads(bodies["manifest.json"]),
                      "analysis": json.loads(bodies["analysis.json"])}
