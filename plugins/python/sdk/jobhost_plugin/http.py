"""Outbound HTTP for job types: ``ctx.http.get(url)``, ``ctx.http.post(url, json=...)``.

A request reaches the network only when its destination is declared with
``JobType(http=[HttpDestination(...)])`` (or left to the operator with
``http_chosen_by_operator``) and granted by an operator; the host refuses
anything else before connecting, and caps requests, sizes and time.
Redirects are not followed: a job that wants one requests the ``location``
again, which the host checks again::

    @job.run
    def run(config: Config, ctx: Context) -> dict:
        reply = ctx.http.get(
            "https://api.example.com/v1/items",
            headers={"authorization": f"Bearer {ctx.secret('api_token')}"},
            timeout_ms=5_000,
        )
        if not reply.ok:
            raise Failed(f"the API answered {reply.status}")
        return reply.json()

Requests block until the response is read whole. Failures raise
:class:`HttpError` (a :class:`~jobhost_plugin.Failed`, so an unhandled one
fails the run with its message). In native tests,
``TestRun(job).http(handler)`` answers requests instead of the network.
"""

from __future__ import annotations

import json as _json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Literal, Mapping, Optional, Sequence, Union
from urllib.parse import urlsplit

from .errors import Failed

MAX_RESPONSE_BYTES = 64 << 20
"""Most response body bytes the SDK reads (the host's own cap is usually lower)."""

HttpErrorKind = Literal["denied", "address-prohibited", "too-large", "timeout", "other"]

Headers = Union[Mapping[str, str], Sequence[tuple[str, str]]]

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass
class Request:
    """A request as the transport sends it."""

    method: str
    url: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    timeout_ms: Optional[int] = None

    @property
    def host(self) -> str:
        """``host[:port]`` of the URL."""
        return urlsplit(self.url).netloc.rpartition("@")[2]

    def header(self, name: str) -> Optional[str]:
        """The first value of a header (names compare case-insensitively)."""
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class Response:
    """A response, read whole."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Headers in order, names in lowercase."""
    body: bytes = b""

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    def header(self, name: str) -> Optional[str]:
        """The first value of a header (names compare case-insensitively)."""
        name = name.lower()
        return next((v for k, v in self.headers if k == name), None)

    def text(self) -> str:
        """The body as UTF-8 text (invalid sequences replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`~jobhost_plugin.Failed` when it is not."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise Failed(f"the response is not the JSON expected: {e}") from None


class HttpError(Failed):
    """A request got no response. ``kind`` is ``denied`` (the destination is
    not granted, or the run's request allowance is spent), ``address-prohibited``,
    ``too-large``, ``timeout`` or ``other``."""

    def __init__(self, host: str, kind: HttpErrorKind, what: str) -> None:
        self.host = host
        self.kind = kind
        super().__init__(f"request to {host} failed: {what}")


Transport = Callable[[Request], Response]


class Http:
    """The run's HTTP client (``ctx.http``)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Optional[Headers] = None,
        body: Union[bytes, str, None] = None,
        json: Any = None,
        timeout_ms: Optional[int] = None,
    ) -> Response:
        """Sends a request and reads the whole response.

        ``body`` is bytes or text (sent as UTF-8); ``json`` encodes a value
        and sets ``content-type: application/json``. ``timeout_ms`` bounds the
        wait for the response head (the host also clamps it to the run's
        deadline). Raises :class:`HttpError` when no response comes, and
        ``ValueError`` for a request that cannot be sent.
        """
        return self._transport(_request(method, url, headers, body, json, timeout_ms))

    def get(self, url: str, **options: Any) -> Response:
        """A ``GET`` request; options as :meth:`request`."""
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> Response:
        """A ``POST`` request; options as :meth:`request`."""
        return self.request("POST", url, **options)

    def put(self, url: str, **options: Any) -> Response:
        """A ``PUT`` request; options as :meth:`request`."""
        return self.request("PUT", url, **options)

    def patch(self, url: str, **options: Any) -> Response:
        """A ``PATCH`` request; options as :meth:`request`."""
        return self.request("PATCH", url, **options)

    def delete(self, url: str, **options: Any) -> Response:
        """A ``DELETE`` request; options as :meth:`request`."""
        return self.request("DELETE", url, **options)


def _request(
    method: str,
    url: str,
    headers: Optional[Headers],
    body: Union[bytes, str, None],
    json: Any,
    timeout_ms: Optional[int],
) -> Request:
    method = method.upper()
    if not _TOKEN.match(method):
        raise ValueError(f"{method!r} is not an HTTP method")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
    for name, value in pairs:
        if not isinstance(name, str) or not _TOKEN.match(name):
            raise ValueError(f"header name {name!r} is not a valid HTTP token")
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} must be text on one line")
    if body is not None and json is not None:
        raise ValueError("give body or json, not both")
    data = b""
    if json is not None:
        data = _json.dumps(json, separators=(",", ":")).encode()
        if not any(k.lower() == "content-type" for k, _ in pairs):
            pairs.append(("content-type", "application/json"))
    elif isinstance(body, str):
        data = body.encode()
    elif body is not None:
        data = bytes(body)
    if data and not any(k.lower() == "content-length" for k, _ in pairs):
        # Servers that refuse chunked requests get a length.
        pairs.append(("content-length", str(len(data))))
    if timeout_ms is not None and (not isinstance(timeout_ms, int) or timeout_ms <= 0):
        raise ValueError(f"timeout_ms must be a positive integer, got {timeout_ms!r}")
    return Request(method, url, pairs, data, timeout_ms)
