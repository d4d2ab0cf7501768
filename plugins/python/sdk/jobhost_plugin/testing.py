"""Runs a job natively, as the host would, recording what it did::

    from jobhost_plugin.testing import TestRun
    result = TestRun(job).config({"name": "Ada"}).run()
    assert result.output == {"greeting": "Hello, Ada!"}

HTTP requests go to a handler the test gives (``.http(handler)``), never to
the network; like the host, the run refuses destinations the job type does
not declare::

    def api(request: Request) -> Response:
        assert request.header("authorization") == "Bearer t0ken"
        return Response(200, [("content-type", "application/json")], b'{"items": []}')

    result = TestRun(job).secret("api_token", "t0ken").http(api).run()
    assert [r.url for r in result.requests] == ["https://api.example.com/v1/items"]
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

from .context import Context, Reference
from .errors import JobError, SecretUnavailable
from .http import HttpError, Request, Response
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
    requests: list[Request] = field(default_factory=list)
    """HTTP requests the job sent, in order (refused ones included)."""

    @property
    def last_checkpoint_json(self) -> Any:
        """The newest checkpoint decoded as JSON."""
        return json.loads(self.checkpoints[-1]) if self.checkpoints else None


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _declared(job: JobType, url: str) -> bool:
    """Whether ``url`` falls under a destination ``job`` declares, as the host
    matches them: scheme, port (or the scheme's default), and the host exactly
    or, for ``*.example.com``, any name below it."""
    u = urlsplit(url)
    if u.scheme not in _DEFAULT_PORTS:
        return False
    host = (u.hostname or "").rstrip(".").lower()
    port = u.port or _DEFAULT_PORTS[u.scheme]
    for d in job.http:
        scheme, pattern, declared_port = d.parts()
        if scheme != u.scheme or (declared_port or _DEFAULT_PORTS[scheme]) != port:
            continue
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]):
                return True
        elif host == pattern:
            return True
    return False


class _Recorder:
    def __init__(
        self,
        outcome: Outcome,
        job: JobType,
        secrets: dict,
        cancel_after: Optional[int],
        http: Optional[Callable[[Request], Response]],
    ):
        self.outcome = outcome
        self.job = job
        self.secrets = secrets
        self.cancel_after = cancel_after
        self.handler = http
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
        if name not in self.job.secrets:
            raise SecretUnavailable(name, "not-declared")
        if name not in self.secrets:
            raise SecretUnavailable(name, "not-set")
        return self.secrets[name]

    def http(self, request: Request) -> Response:
        self.outcome.requests.append(request)
        if self.job.http_chosen_by_operator is None and not _declared(self.job, request.url):
            raise HttpError(
                request.host,
                "denied",
                "denied by the host: the destination is not declared in JobType(http=...)",
            )
        if self.handler is None:
            raise HttpError(
                request.host, "other", "no network in a native test: give TestRun(...).http(handler)"
            )
        return self.handler(request)


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
        self._http: Optional[Callable[[Request], Response]] = None

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

    def http(self, handler: Callable[[Request], Response]) -> "TestRun":
        """Answers the job's HTTP requests to declared destinations with
        ``handler`` (which may also raise :class:`~jobhost_plugin.http.HttpError`)."""
        self._http = handler
        return self

    def run(self) -> Outcome:
        """Runs the job and returns what it did."""
        outcome = Outcome()
        backend = _Recorder(outcome, self._job, self._secrets, self._cancel_after, self._http)
        ctx = Context(backend, str(uuid.uuid4()), self._attempt, self._checkpoint)
        value, error = self._job.execute(self._config, ctx)
        outcome.output = None if value is None else json.loads(value)
        outcome.error = error
        outcome.references = ctx.references
        return outcome
