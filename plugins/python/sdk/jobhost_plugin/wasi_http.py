"""The component's HTTP transport: ``wasi:http/outgoing-handler``, blocking.

Imported only inside a component (its bindings exist there alone).
"""

from __future__ import annotations

from componentize_py_types import Err
from wit_world.imports import outgoing_handler, streams
from wit_world.imports import wasi_http_types as w

from .http import MAX_RESPONSE_BYTES, HttpError, Request, Response

_METHODS = {
    "GET": w.Method_Get,
    "HEAD": w.Method_Head,
    "POST": w.Method_Post,
    "PUT": w.Method_Put,
    "DELETE": w.Method_Delete,
    "CONNECT": w.Method_Connect,
    "OPTIONS": w.Method_Options,
    "TRACE": w.Method_Trace,
    "PATCH": w.Method_Patch,
}

# Most bytes one blocking write may carry (wasi:io's contract).
_WRITE_CHUNK = 4096
_READ_CHUNK = 64 * 1024


def send(request: Request) -> Response:
    """Sends ``request`` through the host and reads the whole response."""
    from urllib.parse import urlsplit

    host = request.host
    parts = urlsplit(request.url)
    try:
        fields = w.Fields.from_list([(k, v.encode()) for k, v in request.headers])
    except Err as e:
        raise ValueError(f"the host refused a request header: {type(e.value).__name__}") from None
    outgoing = w.OutgoingRequest(fields)
    method = _METHODS.get(request.method)
    outgoing.set_method(method() if method else w.Method_Other(request.method))
    outgoing.set_scheme(w.Scheme_Https() if parts.scheme == "https" else w.Scheme_Http())
    outgoing.set_authority(host)
    path = parts.path or "/"
    outgoing.set_path_with_query(f"{path}?{parts.query}" if parts.query else path)
    options = None
    if request.timeout_ms is not None:
        options = w.RequestOptions()
        options.set_first_byte_timeout(request.timeout_ms * 1_000_000)
    body = outgoing.body()
    try:
        future = outgoing_handler.handle(outgoing, options)
    except Err as e:
        raise _error(host, e.value) from None
    try:
        _write_body(host, body, request.body)
        return _response(host, future)
    finally:
        future.__exit__(None, None, None)


def _write_body(host: str, body: w.OutgoingBody, data: bytes) -> None:
    stream = body.write()
    try:
        for start in range(0, len(data), _WRITE_CHUNK):
            stream.blocking_write_and_flush(data[start : start + _WRITE_CHUNK])
    except Err as e:
        raise _stream_error(host, e.value, "sending the body") from None
    finally:
        stream.__exit__(None, None, None)
    try:
        w.OutgoingBody.finish(body, None)
    except Err as e:
        raise _error(host, e.value) from None


def _response(host: str, future: w.FutureIncomingResponse) -> Response:
    with future.subscribe() as ready:
        ready.block()
    got = future.get()
    if got is None or isinstance(got, Err):
        raise HttpError(host, "other", "the host gave no response")
    inner = got.value
    if isinstance(inner, Err):
        raise _error(host, inner.value)
    with inner.value as incoming:
        status = incoming.status()
        with incoming.headers() as fields:
            headers = [(k.lower(), v.decode("latin-1")) for k, v in fields.entries()]
        body = incoming.consume()
        try:
            data = _read_body(host, body)
        finally:
            body.__exit__(None, None, None)
    return Response(status, headers, data)


def _read_body(host: str, body: w.IncomingBody) -> bytes:
    chunks: list[bytes] = []
    size = 0
    with body.stream() as stream:
        while True:
            try:
                chunk = stream.blocking_read(_READ_CHUNK)
            except Err as e:
                if isinstance(e.value, streams.StreamError_Closed):
                    return b"".join(chunks)
                raise _stream_error(host, e.value, "reading the body") from None
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise HttpError(
                    host, "too-large", f"the response body is larger than {MAX_RESPONSE_BYTES} bytes"
                )
            chunks.append(chunk)


def _stream_error(host: str, error: object, doing: str) -> HttpError:
    if isinstance(error, streams.StreamError_LastOperationFailed):
        code = w.http_error_code(error.value)
        if code is not None:
            return _error(host, code)
        text = error.value.to_debug_string()
        if "body size exceeds limit" in text:
            return HttpError(host, "too-large", f"the response body is larger than the host allows ({text})")
        if "timeout" in text.lower():
            return HttpError(host, "timeout", f"timed out {doing} ({text})")
        return HttpError(host, "other", f"{doing} failed: {text}")
    return HttpError(host, "other", f"{doing} failed: the stream closed")


# What the host's ``error-code``s mean for the job's author: the codes, the
# error's kind, and its message.
_ERRORS = [
    (
        (w.ErrorCode_HttpRequestDenied, w.ErrorCode_ConnectionLimitReached),
        "denied",
        "denied by the host: the destination is not granted to this job type version, "
        "or the run's request allowance is spent (the run's log says which)",
    ),
    (
        (w.ErrorCode_DestinationIpProhibited,),
        "address-prohibited",
        "denied by the host: the name resolves to an address in a network plugins may "
        "not reach (the run's log names it)",
    ),
    (
        (w.ErrorCode_HttpResponseBodySize, w.ErrorCode_HttpRequestBodySize),
        "too-large",
        "the body is larger than the host allows",
    ),
    (
        (w.ErrorCode_ConnectionTimeout, w.ErrorCode_HttpResponseTimeout, w.ErrorCode_ConnectionReadTimeout),
        "timeout",
        "timed out",
    ),
    (
        (w.ErrorCode_DnsError, w.ErrorCode_DnsTimeout),
        "other",
        "the name did not resolve (the run's log has the reason)",
    ),
    ((w.ErrorCode_ConnectionRefused,), "other", "the connection was refused"),
    (
        (w.ErrorCode_TlsProtocolError, w.ErrorCode_TlsCertificateError),
        "other",
        "TLS failed: the certificate is not trusted or not for this host (the run's log has the reason)",
    ),
    (
        (w.ErrorCode_HttpProtocolError,),
        "other",
        "the connection failed or the answer was not HTTP (the run's log has the reason)",
    ),
]


def _error(host: str, code: object) -> HttpError:
    """Names what the host's ``error-code`` means for the job's author."""
    for codes, kind, message in _ERRORS:
        if isinstance(code, codes):
            return HttpError(host, kind, message)
    return HttpError(host, "other", type(code).__name__.removeprefix("ErrorCode_"))
