"""The SDK natively: `python -m pytest` from plugins/python/sdk."""

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pytest

from jobhost_plugin import (
    Context,
    Failed,
    HttpDestination,
    HttpError,
    InvalidConfig,
    JobType,
    Request,
    Response,
    parse_config,
    schema_of,
    spec,
)
from jobhost_plugin.testing import TestRun


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Inner:
    n: int = field(metadata=spec("A count.", minimum=0))


@dataclass
class Config:
    """A config."""

    name: str = field(metadata=spec("Who.", max_length=10, examples=["ada"]))
    tags: list[str] = field(default_factory=list, metadata=spec("Tags.", max_items=3))
    mode: Literal["a", "b"] = field(default="a", metadata=spec("Mode."))
    colour: Colour = field(default=Colour.RED, metadata=spec("Colour."))
    inner: Optional[Inner] = field(default=None, metadata=spec("Nested."))
    ratio: float = field(default=0.5, metadata=spec("Ratio."))


def test_a_dataclass_becomes_a_strict_documented_schema():
    s = schema_of(Config)
    assert s["$schema"].endswith("2020-12/schema")
    assert s["description"] == "A config."
    assert s["required"] == ["name"] and s["additionalProperties"] is False
    p = s["properties"]
    assert p["name"] == {"type": "string", "description": "Who.", "maxLength": 10, "examples": ["ada"]}
    assert p["tags"] == {"type": "array", "items": {"type": "string"}, "description": "Tags.", "maxItems": 3, "default": []}
    assert p["mode"]["enum"] == ["a", "b"] and p["colour"]["enum"] == ["red", "blue"]
    assert p["colour"]["default"] == "red"
    assert p["inner"]["anyOf"][0]["properties"]["n"]["minimum"] == 0


def test_configs_parse_into_the_dataclass_and_errors_name_the_path():
    c = parse_config(Config, {"name": "ada", "inner": {"n": 2}, "colour": "blue", "ratio": 1})
    assert c.inner == Inner(2) and c.colour is Colour.BLUE and c.ratio == 1.0
    for bad, message in [
        ({}, "missing required field 'name'"),
        ({"name": 3}, "config.name: expected str, got an integer"),
        ({"name": "a", "inner": {"n": "x"}}, "config.inner.n: expected int"),
        ({"name": "a", "tags": ["ok", 1]}, "config.tags[1]: expected str"),
        ({"name": "a", "mode": "c"}, "config.mode: 'c' is not one of ['a', 'b']"),
        ({"name": "a", "other": 1}, "unknown field 'other'"),
    ]:
        with pytest.raises(InvalidConfig, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_config(Config, bad)


def test_spec_refuses_unknown_bounds_and_destinations_are_checked():
    with pytest.raises(TypeError, match="maxlength"):
        spec("x", maxlength=3)
    assert HttpDestination("https://api.example.com:8443", "r").parts() == ("https", "api.example.com", 8443)
    with pytest.raises(ValueError):
        HttpDestination("https://api.example.com/v1", "r").parts()


def test_any_is_any_json_value():
    @dataclass
    class Free:
        extra: dict[str, Any] = field(default_factory=dict, metadata=spec("Anything."))

    assert schema_of(Free)["properties"]["extra"]["additionalProperties"] == {}
    assert parse_config(Free, {"extra": {"a": [1, None, {"b": True}]}}).extra == {"a": [1, None, {"b": True}]}


@dataclass
class FetchConfig:
    url: str = field(metadata=spec("What to fetch."))


fetcher = JobType(
    "fetcher",
    "0.1.0",
    "Fetcher",
    config=FetchConfig,
    description="Fetches a URL.",
    http=[HttpDestination("https://api.example.com", "the API")],
    secrets={"api_token": "The API's token."},
)


@fetcher.run
def fetch(config: FetchConfig, ctx: Context) -> Any:
    reply = ctx.http.post(
        config.url,
        json={"q": 1},
        headers={"authorization": f"Bearer {ctx.secret('api_token')}"},
        timeout_ms=2_000,
    )
    if not reply.ok:
        raise Failed(f"the API answered {reply.status}")
    return {"items": reply.json()["items"], "type": reply.header("Content-Type")}


def test_http_requests_go_to_the_tests_handler_and_undeclared_destinations_are_refused():
    def api(request: Request) -> Response:
        assert request.method == "POST" and request.timeout_ms == 2_000
        assert request.header("authorization") == "Bearer t0ken"
        assert request.header("content-type") == "application/json"
        assert request.header("content-length") == "7" and request.body == b'{"q":1}'
        return Response(200, [("content-type", "application/json")], b'{"items": [1, 2]}')

    run = TestRun(fetcher).secret("api_token", "t0ken").http(api)
    out = run.config({"url": "https://API.example.com:443/v1/items?page=2"}).run()
    assert out.error is None and out.output == {"items": [1, 2], "type": "application/json"}
    assert [r.url for r in out.requests] == ["https://API.example.com:443/v1/items?page=2"]

    for url in ["https://other.example.com/v1", "http://api.example.com/v1", "https://api.example.com:8443/"]:
        out = run.config({"url": url}).run()
        assert isinstance(out.error, HttpError) and out.error.kind == "denied", url
        assert "not declared" in str(out.error)

    out = TestRun(fetcher).secret("api_token", "t").config({"url": "https://api.example.com/"}).run()
    assert isinstance(out.error, HttpError) and "give TestRun(...).http(handler)" in str(out.error)

    out = run.http(lambda r: Response(503)).config({"url": "https://api.example.com/"}).run()
    assert isinstance(out.error, Failed) and str(out.error) == "the API answered 503"


def test_a_wildcard_destination_matches_the_names_below_it_as_the_host_does():
    wild = JobType(
        "wild_fetcher",
        "0.1.0",
        "Wild fetcher",
        config=FetchConfig,
        description="Fetches a URL of any region.",
        http=[HttpDestination("https://*.example.net", "the API's regions")],
        secrets={"api_token": "The API's token."},
    )
    wild.run(fetch)
    run = TestRun(wild).secret("api_token", "t").http(
        lambda r: Response(200, [("content-type", "application/json")], b'{"items": []}')
    )
    for url in ["https://eu.example.net/v1", "https://a.b.EXAMPLE.net./v1", "https://eu.example.net:443/"]:
        out = run.config({"url": url}).run()
        assert out.error is None, (url, out.error)
    for url in ["https://example.net/v1", "https://eu.example.net:8443/", "http://eu.example.net/", "https://badexample.net/"]:
        out = run.config({"url": url}).run()
        assert isinstance(out.error, HttpError) and out.error.kind == "denied", url


def test_bad_requests_are_refused_before_sending():
    from jobhost_plugin.http import Http

    sent = []
    http = Http(sent.append)
    for call, message in [
        (lambda: http.get("ftp://example.com/"), r"not an http\(s\) URL"),
        (lambda: http.get("https:///path"), r"not an http\(s\) URL"),
        (lambda: http.request("GE T", "https://example.com/"), "not an HTTP method"),
        (lambda: http.get("https://example.com/", headers={"bad name": "x"}), "not a valid HTTP token"),
        (lambda: http.get("https://example.com/", headers={"x": "a\r\nb: c"}), "on one line"),
        (lambda: http.post("https://example.com/", body=b"x", json={}), "not both"),
        (lambda: http.get("https://example.com/", timeout_ms=0), "positive integer"),
    ]:
        with pytest.raises(ValueError, match=message):
            call()
    assert sent == []
    http.put("https://example.com/a", body="é")
    assert sent[0].method == "PUT" and sent[0].body == "é".encode() and sent[0].header("content-length") == "2"
