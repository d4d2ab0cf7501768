"""A job type: what it says about itself and the function that runs it."""

from __future__ import annotations

import dataclasses
import json
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Optional
from urllib.parse import urlsplit

from .context import Context
from .errors import Cancelled, Failed, InvalidConfig, JobError
from .schema import parse_config, schema_of

Interrupted = Literal["resume", "restart", "fail"]

_REGISTERED: list["JobType"] = []

JOB_TYPE_KEY = "job_type"
"""The key naming the job type in every config the host hands over; dropped
before the config is parsed."""


@dataclass
class SideEffects:
    """Hints for agents and user interfaces (not enforced)."""

    read_only: bool = False
    idempotent: bool = False
    destructive: bool = False


@dataclass
class RetryPolicy:
    """How a failed run is retried by default."""

    max_attempts: int
    initial_delay_ms: int = 1_000
    multiplier: float = 2.0
    max_delay_ms: int = 60_000


@dataclass
class HttpDestination:
    """One place a job type calls: ``https://api.example.com[:port]``."""

    url: str
    reason: str

    def parts(self) -> tuple[str, str, Optional[int]]:
        """(scheme, host, port) of the URL."""
        u = urlsplit(self.url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"{self.url!r} is not an http(s) URL with a host")
        if u.path not in ("", "/") or u.query:
            raise ValueError(f"{self.url!r}: a destination is a scheme, host and port only")
        return u.scheme, u.hostname, u.port


@dataclass
class JobType:
    """A job type. Creating one registers it: a component holds exactly one.

    ``config`` is the dataclass of its config; ``examples`` are configs that
    pass its schema (shown to users and agents)."""

    job_type: str
    version: str
    display_name: str
    config: type
    description: str = ""
    user_facing_description: str = ""
    examples: list[dict] = field(default_factory=list)
    creatable_on_ui: bool = True
    creatable_by_agent: bool = True
    visible_on_ui: bool = True
    timeout_ms: Optional[int] = None
    memory_bytes: Optional[int] = None
    interrupted: Interrupted = "restart"
    http: list[HttpDestination] = field(default_factory=list)
    http_chosen_by_operator: Optional[str] = None
    secrets: dict[str, str] = field(default_factory=dict)
    side_effects: SideEffects = field(default_factory=SideEffects)
    retry: Optional[RetryPolicy] = None
    _run: Optional[Callable[[Any, Context], Any]] = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.description.strip():
            raise ValueError(f"JobType {self.job_type!r}: description= is required (operators and agents read it)")
        self.schema = schema_of(self.config, self.examples)
        for example in self.examples:
            parse_config(self.config, example, "example")
        _REGISTERED.append(self)

    def run(self, function: Callable[[Any, Context], Any]) -> Callable[[Any, Context], Any]:
        """Decorator naming the function that runs a job: ``f(config, ctx)``
        returns a JSON-encodable result (a dataclass becomes an object)."""
        self._run = function
        return function

    def execute(self, config_json: str, ctx: Context) -> tuple[str, None] | tuple[None, JobError]:
        """Parses the config and runs the job: (result JSON, None) or (None, error)."""
        if self._run is None:
            return None, Failed(f"job type {self.job_type} has no @run function")
        try:
            decoded = json.loads(config_json)
        except ValueError as e:
            return None, InvalidConfig(f"config is not JSON: {e}")
        if isinstance(decoded, dict):
            # The host hands the config over as stored, with its `job_type`.
            decoded.pop(JOB_TYPE_KEY, None)
        try:
            config = parse_config(self.config, decoded)
            result = self._run(config, ctx)
            if dataclasses.is_dataclass(result):
                result = dataclasses.asdict(result)
            return json.dumps(result, separators=(",", ":"), allow_nan=False), None
        except (InvalidConfig, Failed, Cancelled) as e:
            return None, e
        except Exception as e:  # noqa: BLE001 - a job's bug becomes a failed run
            tb = traceback.format_exc(limit=8)
            ctx.error(tb[-4000:])
            return None, Failed(f"{type(e).__name__}: {e}")


def registered() -> JobType:
    """The one job type this program defines."""
    if len(_REGISTERED) != 1:
        names = [j.job_type for j in _REGISTERED]
        raise RuntimeError(f"a component defines exactly one JobType; found {names}")
    return _REGISTERED[0]
