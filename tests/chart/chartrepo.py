"""A loopback chart repository that answers for the real repository URLs.

No chart repository is reachable here, yet `helm dependency build` must be shown to accept
the committed Chart.lock, which names the real URLs (changing them would change the digest
under test). So helm talks to the real URLs through HTTPS_PROXY: this proxy answers
CONNECT on loopback, terminates TLS with a certificate for every repository host signed by
a throw-away CA (helm trusts it through SSL_CERT_FILE, as Go does on Linux), and serves
`index.yaml` plus a stand-in `.tgz` of each dependency: a chart of the same name and
version with no templates (and, for an operator whose kinds our templates use, stand-in CRDs).

    with ChartRepo(tmp_path, {"https://charts.example/x": [("redis", "23.1.1")]}) as repo:
        sh.Command(helm)("dependency", "build", chart, _env=repo.helm_env())
"""

from __future__ import annotations

import hashlib
import io
import os
import ssl
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import sh
import yaml


# The kinds our templates create from an operator's CRDs, which the real chart ships in crds/
# (helm installs those before it renders templates). A stand-in carries CRDs of the real group,
# version, kind and names, with a schema that accepts any object: the API server then knows the
# kinds, but does not check our resources against the operator's schemas (those CRDs are not
# in the upstream data folder; docs/chart.md).
# chart name -> [(group, version, kind, plural, singular, shortNames)]
STAND_IN_CRDS = {
    "strimzi-kafka-operator": [("kafka.strimzi.io", "v1", "Kafka", "kafkas", "kafka", ["k"]),
                               ("kafka.strimzi.io", "v1", "KafkaNodePool", "kafkanodepools", "kafkanodepool", ["knp"]),
                               ("kafka.strimzi.io", "v1", "KafkaUser", "kafkausers", "kafkauser", ["ku"]),
                               # what holds the broker pods (read by the day-2 workload rows)
                               ("core.strimzi.io", "v1", "StrimziPodSet", "strimzipodsets", "strimzipodset", ["sps"])],
}


def stand_in_crd(group: str, version: str, kind: str, plural: str, singular: str, short: list[str],
                 required: list[str] | None = None) -> dict:
    """A structural CustomResourceDefinition that keeps every field (x-kubernetes-preserve-unknown-fields),
    with the spec fields the real CRD requires, where given."""
    spec = {"type": "object", "x-kubernetes-preserve-unknown-fields": True, **({"required": required} if required else {})}
    return {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {"group": group, "scope": "Namespaced",
                 "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": singular,
                           "shortNames": short},
                 "versions": [{"name": version, "served": True, "storage": True,
                               "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {
                                   "type": "object", "properties": {
                                       "spec": spec,
                                       "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}}}]}}


def stand_in_chart(name: str, version: str, extra: dict[str, str] | None = None) -> bytes:
    """A packaged chart (`<name>/Chart.yaml`, `<name>/values.yaml`, `<name>/crds/` for the
    charts in STAND_IN_CRDS, plus `extra` files by path inside the chart, e.g.
    templates/crds.yaml) of that name and version."""
    files = {f"{name}/Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version,
                                                   "description": "loopback stand-in"}),
             f"{name}/values.yaml": "standIn: true\n",
             **{f"{name}/{path}": text for path, text in (extra or {}).items()}}
    for crd in STAND_IN_CRDS.get(name, []):
        files[f"{name}/crds/{crd[3]}.yaml"] = yaml.safe_dump(stand_in_crd(*crd))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _certificates(root: str, hosts: list[str]) -> tuple[str, str, str]:
    openssl = sh.Command("openssl")
    ca_key, ca_crt = f"{root}/ca.key", f"{root}/ca.crt"
    key, csr, crt = f"{root}/repo.key", f"{root}/repo.csr", f"{root}/repo.crt"
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca_crt,
            "-subj", "/CN=soma loopback chart CA", "-days", "1",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            _err_to_out=True)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", "/CN=chart repos",
            "-addext", "subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts), _err_to_out=True)
    openssl("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial", "-days", "1",
            "-copy_extensions", "copy", "-out", crt, _err_to_out=True)
    return ca_crt, crt, key


class ChartRepo:
    """{repository URL: [(chart, version) or (chart, version, {path: text}), ...]} served over
    TLS behind a loopback proxy."""

    def __init__(self, root, repositories: dict[str, list[tuple]]):
        self.root = str(root)
        os.makedirs(self.root, exist_ok=True)
        self.files: dict[tuple[str, str], bytes] = {}
        self.requests: list[str] = []
        self.tarballs: dict[str, bytes] = {}
        for url, charts in repositories.items():
            base = url.rstrip("/")
            parts = urlsplit(base)
            entries = {}
            for name, version, *extra in charts:
                blob = stand_in_chart(name, version, *extra)
                self.tarballs[f"{name}-{version}"] = blob
                path = f"{parts.path}/{name}-{version}.tgz"
                self.files[(parts.hostname, path)] = blob
                entries.setdefault(name, []).append({
                    "apiVersion": "v2", "name": name, "version": version, "created": "2026-01-01T00:00:00Z",
                    "digest": hashlib.sha256(blob).hexdigest(), "urls": [f"{base}/{name}-{version}.tgz"]})
            index = {"apiVersion": "v1", "entries": entries, "generated": "2026-01-01T00:00:00Z"}
            self.files[(parts.hostname, f"{parts.path}/index.yaml")] = yaml.safe_dump(index).encode()
        hosts = sorted({host for host, _ in self.files})
        self.ca, cert, key = _certificates(self.root, hosts)
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._proxy_handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _proxy_handler(self):
        repo = self

        class Files(BaseHTTPRequestHandler):
            """Requests inside the tunnel, for one repository host."""
            host = ""

            def do_GET(self):
                path = urlsplit(self.path).path
                repo.requests.append(f"{self.host}{path}")
                body = repo.files.get((self.host, path))
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        class Proxy(BaseHTTPRequestHandler):
            def do_CONNECT(self):
                host = self.path.rsplit(":", 1)[0]
                self.send_response(200, "Connection established")
                self.end_headers()
                try:
                    tunnel = repo.tls.wrap_socket(self.connection, server_side=True)
                except (ssl.SSLError, OSError):
                    self.close_connection = True
                    return
                handler = type("HostFiles", (Files,), {"host": host})
                handler(tunnel, self.client_address, self.server)
                self.close_connection = True

            def log_message(self, *args):
                pass

        return Proxy

    def helm_env(self, home: str | None = None) -> dict[str, str]:
        """helm's environment: its own config/cache folders, the proxy, and the CA to trust."""
        home = home or os.path.join(self.root, "helm")
        env = {k: v for k, v in os.environ.items() if k.upper() not in ("NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY")}
        port = self.server.server_address[1]
        env.update({"HTTPS_PROXY": f"http://127.0.0.1:{port}", "HTTP_PROXY": f"http://127.0.0.1:{port}",
                    "SSL_CERT_FILE": self.ca, "HELM_CONFIG_HOME": f"{home}/config",
                    "HELM_CACHE_HOME": f"{home}/cache", "HELM_DATA_HOME": f"{home}/data"})
        return env

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
