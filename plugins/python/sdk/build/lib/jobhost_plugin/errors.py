"""Why a run did not succeed: raise one of these from ``run``."""


class JobError(Exception):
    """Base of the errors a job raises on purpose."""


class InvalidConfig(JobError):
    """The config does not make sense for this job type; retrying will not help."""


class Failed(JobError):
    """The job failed while doing its work (a retry policy may try again)."""


class Cancelled(JobError):
    """The job saw ``ctx.cancelled()`` return true and stopped early."""

    def __init__(self) -> None:
        super().__init__("cancelled")


class SecretUnavailable(Failed):
    """A secret could not be read; ``reason`` is ``not-declared``,
    ``not-granted`` or ``not-set``."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        hint = {
            "not-declared": "declare it with JobType(secrets=...)",
            "not-granted": "an operator has not approved it for this version",
            "not-set": "the run's tenant has not set it",
        }.get(reason, reason)
        super().__init__(f"secret {name!r} is unavailable: {hint}")
