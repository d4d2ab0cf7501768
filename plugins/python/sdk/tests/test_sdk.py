"""The SDK natively: `python -m pytest` from plugins/python/sdk."""

import enum
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from jobhost_plugin import InvalidConfig, parse_config, schema_of, spec
from jobhost_plugin.job import HttpDestination


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
