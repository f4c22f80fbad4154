"""The onboarding exception tree; every class is an `OpsError`, so the task layer reports it
as one clear line and a non-zero exit like the rest of the operations library.

    OpsError (tasks.core.errors)
    └── OnboardError
        ├── InvalidInput       bad namespace / env / mode / seed file, refused before any step
        ├── RenderError        a template rendered to something that fails validation
        ├── SecretMissing      a password the task needs is neither in Vault nor the environment
        ├── VaultError         the Vault API refused or failed a call
        ├── DatabaseError      PostgreSQL refused or failed a statement
        └── TopicError         the Kafka AdminClient refused or failed a request
"""

from tasks.core.errors import OpsError


class OnboardError(OpsError):
    """Base of the onboarding errors."""


class InvalidInput(OnboardError):
    """An argument is not acceptable; nothing has been run."""

    exit_code = 2


class RenderError(OnboardError):
    """A rendered artefact failed its schema."""


class SecretMissing(OnboardError):
    """A secret value the task needs was not provided."""


class VaultError(OnboardError):
    """A Vault call failed."""


class DatabaseError(OnboardError):
    """A PostgreSQL call failed."""


class TopicError(OnboardError):
    """A Kafka admin call failed."""
