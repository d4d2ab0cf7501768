"""Write jobhost job types in Python.

A job type is a typed config (a dataclass; its fields, their ``spec`` and
defaults become the JSON Schema users and agents see) and a ``run`` function
that receives the parsed config and a :class:`Context`::

    from dataclasses import dataclass, field
    from jobhost_plugin import Context, JobType, spec

    @dataclass
    class Config:
        name: str = field(metadata=spec("Who to greet", max_length=100))

    job = JobType("greeter", "0.1.0", "Greeter", config=Config)

    @job.run
    def run(config: Config, ctx: Context) -> dict:
        ctx.info(f"greeting {config.name}")
        return {"greeting": f"Hello, {config.name}!"}

``ctx.http`` calls declared, granted destinations (:mod:`jobhost_plugin.http`).
``python -m jobhost_plugin.build MODULE -o greeter.wasm`` builds the
component; :mod:`jobhost_plugin.testing` runs the job natively in tests.
"""

from .context import Context, LogLevel, Reference
from .errors import Cancelled, Failed, InvalidConfig, JobError, SecretUnavailable
from .http import HttpError, Request, Response
from .job import HttpDestination, Interrupted, JobType, RetryPolicy, SideEffects
from .schema import parse_config, schema_of, spec

__all__ = [
    "Cancelled",
    "Context",
    "Failed",
    "HttpDestination",
    "HttpError",
    "Interrupted",
    "InvalidConfig",
    "JobError",
    "JobType",
    "LogLevel",
    "Reference",
    "Request",
    "Response",
    "RetryPolicy",
    "SecretUnavailable",
    "SideEffects",
    "parse_config",
    "schema_of",
    "spec",
]
