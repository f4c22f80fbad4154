"""Clients for the services onboarding talks to, created on first use (a dry run or a task
that needs only Vault never connects to the others) and closed together. They run on the
session's runner, so the one redactor learns every secret they read (a token, a DSN, a
SASL password) and scrubs it from the plan, the evidence and the error line."""

import base64
import functools
import os

from tasks.core.errors import OpsError
from tasks.core.kubectl import Kubectl
from tasks.core.runner import Runner
from tasks.onboard import db_ops, kafka_ops, vault_ops
from tasks.onboard.errors import SecretMissing
from tasks.onboard.settings import Endpoints


class Services:
    def __init__(self, endpoints: Endpoints, runner: Runner | None = None,
                 environ: dict | None = None):
        self.endpoints = endpoints
        self.environ = os.environ if environ is None else environ
        self.runner = runner or Runner(timeout=endpoints.timeout)
        self._pg = None
        # dev/test: where a token comes from when VAULT_TOKEN is unset (the init Secret)
        self.token_fallback = None

    def secret(self, *values: str) -> None:
        """Register values that must never appear in echoed commands, tables or errors."""
        self.runner.redact.add(*values)

    @functools.cached_property
    def vault(self):
        vault_ops.client(self.endpoints.vault_addr, None)  # no address: say that first
        token = self.environ.get("VAULT_TOKEN", "")
        if not token and self.token_fallback is not None:
            token = self.token_fallback()
        self.secret(token)
        return vault_ops.client(self.endpoints.vault_addr, token)

    def vault_unauthenticated(self):
        """A client for the calls Vault answers without a token (init, seal status, unseal)."""
        return vault_ops.client(self.endpoints.vault_addr, token=None)

    @property
    def pg(self):
        if self._pg is None or self._pg.closed:
            dsn, password = db_ops.admin_dsn(self.environ)
            self.secret(dsn, password)
            self._pg = db_ops.connect(dsn)
        return self._pg

    @functools.cached_property
    def kafka(self):
        conf = kafka_ops.client_config(self.endpoints.kafka, self.environ, self.read_secret)
        self.secret(conf.get("sasl.password", ""))
        return kafka_ops.admin(conf)

    @functools.cached_property
    def kubectl(self) -> Kubectl:
        return Kubectl(self.runner, kubeconfig=self.endpoints.kubeconfig or None,
                       context=self.endpoints.context or None, timeout=self.endpoints.timeout)

    def read_secret(self, ref: str, key: str) -> str:
        """One key of a Kubernetes Secret (`name` in the shared-infra namespace, or
        `namespace/name`), decoded and registered with the redactor."""
        namespace, _, name = ref.rpartition("/")
        namespace = namespace or self.endpoints.infra_ns
        try:
            found = self.kubectl.get_json("secret", name, namespace=namespace)
        except OpsError as exc:
            raise SecretMissing(f"cannot read Secret {namespace}/{name}: {exc}") from None
        data = (found or {}).get("data") or {}
        if key not in data:
            what = "does not exist" if found is None else f"has no key {key}"
            raise SecretMissing(f"Secret {namespace}/{name} {what}")
        value = base64.b64decode(data[key]).decode()
        self.secret(value, data[key])
        return value

    def __enter__(self) -> "Services":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pg is not None and not self._pg.closed:
            self._pg.close()
        if "vault" in self.__dict__:  # only a client that was created holds a session
            self.vault.adapter.close()
