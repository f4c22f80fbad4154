"""The one exception tree of the operations library.

Every failure a task can report is an `OpsError`; the task layer turns it into
`invoke.Exit(message, code)` so the operator sees one clear line and a non-zero exit,
never a traceback. Messages are already redacted by the code that raises them.

Exit codes: 1 a step failed or did not converge (default), 2 bad configuration or flag,
127 a required tool is missing or too old.

    OpsError
    ├── ToolMissing        a binary is absent or older than the minimum ("install X >= v")
    ├── CommandFailed      a process exited non-zero (argv and stderr tail, redacted)
    │   └── CommandTimedOut
    ├── ConfigError        bad mode, bad override, bad invoke.yaml `soma` section
    ├── VersionError       a tool printed a version we cannot parse
    ├── StepFailed         a plan step raised; carries the step name
    ├── NotConverged       a wait or readiness gate ran out of time (names what blocks)
    ├── NotConfirmed       the operator declined a destructive plan (nothing changed)
    ├── Refused            a guard refused the target (wrong context, a namespace not ours)
    └── ChartError         the chart or a values file is missing or unreadable
        ├── ValuesError    merged values break values.schema.json (every violation listed)
        ├── LintError      `helm lint` found errors or unexpected warnings
        ├── RenderError    the Helm engine could not render a template
        └── ManifestError  a rendered manifest breaks the Kubernetes schema
"""


class OpsError(Exception):
    """Base of every error the operations library raises on purpose."""

    exit_code = 1


class ToolMissing(OpsError):
    """A required tool is not installed, or is older than the minimum."""

    exit_code = 127


class CommandFailed(OpsError):
    """A process exited with a non-zero status."""

    def __init__(self, message: str, argv=(), exit_code: int = 1, stdout: str = "", stderr: str = ""):
        super().__init__(message)
        self.argv = list(argv)
        self.exit_code_value = exit_code
        self.stdout = stdout
        self.stderr = stderr


class CommandTimedOut(CommandFailed):
    """A process ran past its timeout and was killed."""


class ConfigError(OpsError):
    """The effective configuration is invalid (unknown mode, bad override, bad file)."""

    exit_code = 2


class VersionError(OpsError):
    """A tool's version output could not be parsed."""


class StepFailed(OpsError):
    """A plan step failed; the message names the step and the cause."""

    def __init__(self, step: str, cause: Exception):
        super().__init__(f"step '{step}' failed: {cause}")
        self.step = step
        self.cause = cause
        # The cause decides the exit code: a missing tool is 127 whether or not a plan ran it.
        self.exit_code = getattr(cause, "exit_code", 1) if isinstance(cause, OpsError) else 1


class NotConverged(OpsError):
    """A wait or readiness gate timed out; the message names what still blocks."""


class NotConfirmed(OpsError):
    """The operator answered no (or could not be asked) before a destructive plan."""


class Refused(OpsError):
    """A safety guard refused the target before anything ran; the message says how to
    proceed on purpose (a flag naming the target)."""

    exit_code = 2


class ChartError(OpsError):
    """The chart or one of its values files cannot be used."""


class ValuesError(ChartError):
    """Merged values violate values.schema.json."""

    def __init__(self, message: str, violations=()):
        super().__init__(message)
        self.violations = list(violations)


class LintError(ChartError):
    """`helm lint` reported errors or unexpected warnings."""


class RenderError(ChartError):
    """The Helm engine failed to render the chart."""


class ManifestError(ChartError):
    """A rendered manifest is not valid for the target Kubernetes version."""
