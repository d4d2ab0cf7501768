"""Runs a job natively, as the host would, recording what it did::

    from jobhost_plugin.testing import TestRun
    result = TestRun(job).config({"name": "Ada"}).run()
    assert result.output == {"greeting": "Hello, Ada!"}
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Optional

from .context import Context, Reference
from .errors import JobError, SecretUnavailable
from .job import JobType


@dataclass
class Outcome:
    """What a native run did."""

    output: Any = None
    error: Optional[JobError] = None
    logs: list[tuple[str, str]] = field(default_factory=list)
    progress: list[tuple[int, str]] = field(default_factory=list)
    checkpoints: list[bytes] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)

    @property
    def last_checkpoint_json(self) -> Any:
        """The newest checkpoint decoded as JSON."""
        return json.loads(self.checkpoints[-1]) if self.checkpoints else None


class _Recorder:
    def __init__(self, outcome: Outcome, secrets: dict, declared: dict, cancel_after: Optional[int]):
        self.outcome = outcome
        self.secrets = secrets
        self.declared = declared
        self.cancel_after = cancel_after
        self.checks = 0

    def log(self, level: str, message: str) -> None:
        self.outcome.logs.append((level, message))

    def progress(self, percent: int, message: str) -> None:
        self.outcome.progress.append((percent, message))

    def cancelled(self) -> bool:
        self.checks += 1
        return self.cancel_after is not None and self.checks > self.cancel_after

    def checkpoint(self, state: bytes) -> None:
        self.outcome.checkpoints.append(state)

    def secret(self, name: str) -> str:
        if name not in self.declared:
            raise SecretUnavailable(name, "not-declared")
        if name not in self.secrets:
            raise SecretUnavailable(name, "not-set")
        return self.secrets[name]


class TestRun:
    """One native run of ``job``; chain settings, then :meth:`run`."""

    __test__ = False  # not a pytest test class

    def __init__(self, job: JobType) -> None:
        self._job = job
        self._config: str = "{}"
        self._checkpoint: Optional[bytes] = None
        self._secrets: dict[str, str] = {}
        self._cancel_after: Optional[int] = None
        self._attempt = 1

    def config(self, config: Any) -> "TestRun":
        """The config: a dict (encoded as JSON) or JSON text."""
        self._config = config if isinstance(config, str) else json.dumps(config)
        return self

    def resume_from(self, checkpoint: bytes, attempt: int = 2) -> "TestRun":
        """Start as a later attempt resuming this checkpoint."""
        self._checkpoint, self._attempt = checkpoint, attempt
        return self

    def secret(self, name: str, value: str) -> "TestRun":
        """Set a secret the job declared."""
        self._secrets[name] = value
        return self

    def cancel_after(self, checks: int) -> "TestRun":
        """``ctx.cancelled()`` answers true after this many calls."""
        self._cancel_after = checks
        return self

    def run(self) -> Outcome:
        """Runs the job and returns what it did."""
        outcome = Outcome()
        backend = _Recorder(outcome, self._secrets, self._job.secrets, self._cancel_after)
        ctx = Context(backend, str(uuid.uuid4()), self._attempt, self._checkpoint)
        value, error = self._job.execute(self._config, ctx)
        outcome.output = None if value is None else json.loads(value)
        outcome.error = error
        outcome.references = ctx.references
        return outcome
