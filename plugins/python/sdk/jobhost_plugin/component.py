"""The component's exports, bound to the job type the program defines.

The build makes this the component's entry module (after importing the
job's module); nothing here runs outside a component.
"""

from __future__ import annotations

import wit_world
from componentize_py_types import Err
from wit_world.imports import host, secrets
from wit_world.imports import jobhost_plugin_types as types

from .context import Context
from .errors import Cancelled, InvalidConfig, SecretUnavailable
from . import wasi_http
from .http import Request, Response
from .job import registered

_LEVELS = {
    "trace": host.LogLevel.TRACE,
    "debug": host.LogLevel.DEBUG,
    "info": host.LogLevel.INFO,
    "warn": host.LogLevel.WARN,
    "error": host.LogLevel.ERROR,
}

_SECRET_ERRORS = {
    secrets.SecretError.NOT_DECLARED: "not-declared",
    secrets.SecretError.NOT_GRANTED: "not-granted",
    secrets.SecretError.NOT_SET: "not-set",
}


class _Host:
    def log(self, level: str, message: str) -> None:
        host.log(_LEVELS.get(level, host.LogLevel.INFO), message)

    def progress(self, percent: int, message: str) -> None:
        host.progress(percent, message)

    def cancelled(self) -> bool:
        return host.cancelled()

    def checkpoint(self, state: bytes) -> None:
        host.checkpoint(state)

    def secret(self, name: str) -> str:
        try:
            return secrets.get(name)
        except Err as e:
            raise SecretUnavailable(name, _SECRET_ERRORS.get(e.value, str(e.value))) from None

    def http(self, request: Request) -> Response:
        return wasi_http.send(request)


def _http(job) -> types.HttpNeeds:
    if job.http_chosen_by_operator is not None:
        return types.HttpNeeds_OperatorChosen(job.http_chosen_by_operator)
    if not job.http:
        return types.HttpNeeds_None_()
    out = []
    for d in job.http:
        scheme, hostname, port = d.parts()
        out.append(types.HttpDestination(scheme=scheme, host=hostname, port=port, reason=d.reason))
    return types.HttpNeeds_Destinations(out)


def _describe() -> types.JobTypeInfo:
    import json

    job = registered()
    retry = None
    if job.retry is not None:
        r = job.retry
        retry = types.RetryPolicy(
            max_attempts=r.max_attempts,
            initial_delay_ms=r.initial_delay_ms,
            multiplier=float(r.multiplier),
            max_delay_ms=r.max_delay_ms,
        )
    return types.JobTypeInfo(
        job_type=job.job_type,
        version=job.version,
        display_name=job.display_name,
        description=job.description,
        user_facing_description=job.user_facing_description or job.description,
        config_schema=json.dumps(job.schema),
        creatable_on_ui=job.creatable_on_ui,
        creatable_by_agent=job.creatable_by_agent,
        visible_on_ui=job.visible_on_ui,
        limits=types.Limits(timeout_ms=job.timeout_ms, memory_bytes=job.memory_bytes),
        interrupted={
            "resume": types.InterruptedPolicy.RESUME,
            "restart": types.InterruptedPolicy.RESTART,
            "fail": types.InterruptedPolicy.FAIL,
        }[job.interrupted],
        capabilities=types.Capabilities(
            http=_http(job),
            secrets=[types.SecretNeed(name=n, description=d) for n, d in job.secrets.items()],
        ),
        side_effects=types.SideEffects(
            read_only=job.side_effects.read_only,
            idempotent=job.side_effects.idempotent,
            destructive=job.side_effects.destructive,
        ),
        retry=retry,
    )


# Computed while the component is built (pre-initialised), so `describe`
# costs nothing at load.
_INFO = _describe()


def _reference(r) -> types.OutputReference:
    if r.location is not None:
        data = types.OutputData_Location(r.location)
    else:
        data = types.OutputData_Inline(r.data or b"")
    return types.OutputReference(name=r.name, media_type=r.media_type, data=data)


class WitWorld(wit_world.WitWorld):
    """The `job-plugin` world's exports."""

    def describe(self) -> types.JobTypeInfo:
        return _INFO

    def run(self, config: str, context: types.RunContext) -> types.RunOutput:
        ctx = Context(_Host(), context.run_id, context.attempt, context.checkpoint)
        value, error = registered().execute(config, ctx)
        if error is None:
            return types.RunOutput(value=value, references=[_reference(r) for r in ctx.references])
        if isinstance(error, InvalidConfig):
            raise Err(types.RunError_InvalidConfig(str(error)))
        if isinstance(error, Cancelled):
            raise Err(types.RunError_Cancelled())
        raise Err(types.RunError_Failed(str(error)))
