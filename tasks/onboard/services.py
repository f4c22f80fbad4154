"""Clients for the services onboarding talks to, created on first use (a dry run or a task
that needs only Vault never connects to the others) and closed together."""

import functools
import os

from tasks.core.kubectl import Kubectl
from tasks.core.runner import Runner
from tasks.onboard import db_ops, kafka_ops, vault_ops
from tasks.onboard.settings import Endpoints


class Services:
    def __init__(self, endpoints: Endpoints, runner: Runner | None = None,
                 environ: dict | None = None):
        self.endpoints = endpoints
        self.environ = os.environ if environ is None else environ
        self.runner = runner or Runner(timeout=endpoints.timeout)
        self._pg = None

    def secret(self, *values: str) -> None:
        """Register values that must never appear in echoed commands, tables or errors."""
        self.runner.redact.add(*values)

    @functools.cached_property
    def vault(self):
        token = self.environ.get("VAULT_TOKEN", "")
        self.secret(token)
        return vault_ops.client(self.endpoints.vault_addr, token)

    @property
    def pg(self):
        if self._pg is None or self._pg.closed:
            dsn, password = db_ops.admin_dsn(self.environ)
            self.secret(dsn, password)
            self._pg = db_ops.connect(dsn)
        return self._pg

    @functools.cached_property
    def kafka(self):
        return kafka_ops.admin(self.endpoints.kafka_bootstrap)

    @functools.cached_property
    def kubectl(self) -> Kubectl:
        return Kubectl(self.runner, kubeconfig=self.endpoints.kubeconfig or None,
                       context=self.endpoints.context or None, timeout=self.endpoints.timeout)

    def close(self) -> None:
        if self._pg is not None and not self._pg.closed:
            self._pg.close()
        if "vault" in self.__dict__:  # only a client that was created holds a session
            self.vault.adapter.close()
