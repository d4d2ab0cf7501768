"""What a running job sees: its run, logs, progress, cancellation,
checkpoints, output references, secrets and outbound HTTP."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, Optional, Protocol

from .http import Http, Request, Response

LogLevel = Literal["trace", "debug", "info", "warn", "error"]


class Backend(Protocol):
    """Where a context's calls go: the host inside a component, a recorder in tests."""

    def log(self, level: LogLevel, message: str) -> None: ...
    def progress(self, percent: int, message: str) -> None: ...
    def cancelled(self) -> bool: ...
    def checkpoint(self, state: bytes) -> None: ...
    def secret(self, name: str) -> str: ...
    def http(self, request: Request) -> Response: ...


@dataclass
class Reference:
    """An artefact of a run besides its JSON result: inline bytes or a location."""

    name: str
    media_type: str
    data: Optional[bytes] = None
    location: Optional[str] = None


class Context:
    """The run being executed and the host's functions for it."""

    def __init__(
        self, backend: Backend, run_id: str, attempt: int, checkpoint: Optional[bytes]
    ) -> None:
        self._backend = backend
        self._checkpoint = checkpoint
        self.run_id = run_id
        """Identifier of the run (a UUID in text form)."""
        self.attempt = attempt
        """1 for the first attempt, growing by one on each retry."""
        self.references: list[Reference] = []
        """Artefacts added so far; returned with the run's result."""
        self.http = Http(backend.http)
        """Outbound HTTP to the destinations the job type declares and an
        operator granted (see :mod:`jobhost_plugin.http`)."""

    @property
    def checkpoint(self) -> Optional[bytes]:
        """The last checkpoint saved, when this attempt resumes one."""
        return self._checkpoint

    def resume_from(self) -> Any:
        """The last checkpoint decoded as JSON (as :meth:`save_checkpoint_json`
        wrote it), or None when there is none or it is not JSON."""
        if self._checkpoint is None:
            return None
        try:
            return json.loads(self._checkpoint)
        except ValueError:
            return None

    def log(self, level: LogLevel, message: Any) -> None:
        """Records a log line; lines past the run's log budget are dropped and counted."""
        self._backend.log(level, str(message))

    def debug(self, message: Any) -> None:
        """A ``debug`` log line."""
        self.log("debug", message)

    def info(self, message: Any) -> None:
        """An ``info`` log line."""
        self.log("info", message)

    def warn(self, message: Any) -> None:
        """A ``warn`` log line."""
        self.log("warn", message)

    def error(self, message: Any) -> None:
        """An ``error`` log line."""
        self.log("error", message)

    def progress(self, percent: int, message: Any = "") -> None:
        """Reports how far the run has got (0 to 100, clamped)."""
        self._backend.progress(max(0, min(100, int(percent))), str(message))

    def cancelled(self) -> bool:
        """True once someone asked to cancel this run: stop soon and raise
        :class:`~jobhost_plugin.Cancelled`."""
        return self._backend.cancelled()

    def save_checkpoint(self, state: bytes) -> None:
        """Saves state a later attempt resumes from (replaces the previous one)."""
        self._backend.checkpoint(bytes(state))

    def save_checkpoint_json(self, state: Any) -> None:
        """Saves a JSON-encodable checkpoint; read it back with :meth:`resume_from`."""
        self.save_checkpoint(json.dumps(state, separators=(",", ":")).encode())

    def add_inline_reference(self, name: str, media_type: str, data: bytes | str) -> None:
        """Adds an artefact whose bytes travel with the result (text is UTF-8)."""
        if isinstance(data, str):
            data = data.encode()
        self.references.append(Reference(name, media_type, data=bytes(data)))

    def add_location_reference(self, name: str, media_type: str, location: str) -> None:
        """Adds an artefact stored elsewhere (a URL or path)."""
        self.references.append(Reference(name, media_type, location=location))

    def secret(self, name: str) -> str:
        """The value of a declared secret; raises
        :class:`~jobhost_plugin.SecretUnavailable` when it is not given."""
        return self._backend.secret(name)
