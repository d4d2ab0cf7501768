"""JSON Schema (draft 2020-12) from a dataclass, and configs parsed back into it.

Supported field types: ``str``, ``int``, ``float``, ``bool``, ``list[T]``,
``dict[str, T]``, ``Optional[T]`` / ``T | None``, ``Literal[...]``, an
``enum.Enum`` of strings or integers, nested dataclasses, and ``Any`` (any
JSON value, e.g. ``dict[str, Any]`` for a free-form object). A field's
``metadata=spec(...)`` adds its description, bounds and examples; a field
without a default is required; unknown properties are refused.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from typing import Any

from .errors import InvalidConfig

_KEYWORDS = {
    "minimum": "minimum",
    "maximum": "maximum",
    "exclusive_minimum": "exclusiveMinimum",
    "exclusive_maximum": "exclusiveMaximum",
    "min_length": "minLength",
    "max_length": "maxLength",
    "pattern": "pattern",
    "min_items": "minItems",
    "max_items": "maxItems",
    "unique_items": "uniqueItems",
    "format": "format",
}


def spec(description: str, *, examples: list[Any] | None = None, **bounds: Any) -> dict:
    """Field metadata: ``field(metadata=spec("What it is", maximum=10))``.

    ``bounds`` take the JSON Schema keywords in snake case: ``minimum``,
    ``maximum``, ``exclusive_minimum``, ``exclusive_maximum``, ``min_length``,
    ``max_length``, ``pattern``, ``min_items``, ``max_items``,
    ``unique_items``, ``format``.
    """
    unknown = sorted(set(bounds) - set(_KEYWORDS))
    if unknown:
        raise TypeError(f"spec() got unknown bounds {unknown}; known: {sorted(_KEYWORDS)}")
    out: dict[str, Any] = {"description": description}
    out.update({_KEYWORDS[k]: v for k, v in bounds.items()})
    if examples is not None:
        out["examples"] = list(examples)
    return {"jobhost": out}


def schema_of(config: type, examples: list[dict] | None = None) -> dict:
    """The JSON Schema of a dataclass, as a dict."""
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    schema.update(_object(config))
    if examples:
        schema["examples"] = list(examples)
    return schema


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types, resolved once: resolving evaluates the
    annotations' text (``from __future__ import annotations``), most of a
    trivial run's parse. Building the schema at import fills this before
    the component's snapshot, so runs never resolve them."""
    return typing.get_type_hints(cls)


def _object(cls: type) -> dict:
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = _hints(cls)
    props: dict[str, Any] = {}
    required = []
    for f in dataclasses.fields(cls):
        prop = _type(hints[f.name], f"{cls.__name__}.{f.name}")
        prop.update(f.metadata.get("jobhost", {}))
        default = _default(f)
        if default is dataclasses.MISSING:
            required.append(f.name)
        else:
            prop["default"] = _json_value(default)
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object"}
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):
        out["description"] = " ".join(cls.__doc__.split())
    out["properties"] = props
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def _json_value(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return {k: _json_value(v) for k, v in dataclasses.asdict(value).items()}
    return value


def _optional_inner(tp: Any) -> Any:
    """``T`` of ``Optional[T]``, else None."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0]
        raise TypeError(f"unions other than Optional[T] are not supported: {tp!r}")
    return None


def _type(tp: Any, where: str) -> dict:
    inner = _optional_inner(tp)
    if inner is not None:
        return {"anyOf": [_type(inner, where), {"type": "null"}]}
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return {}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is str:
        return {"type": "string"}
    if origin is list:
        (item,) = typing.get_args(tp) or (None,)
        if item is None:
            raise TypeError(f"{where}: say what the list holds, e.g. list[str]")
        return {"type": "array", "items": _type(item, where + "[]")}
    if origin is dict:
        key, value = typing.get_args(tp) or (None, None)
        if key is not str:
            raise TypeError(f"{where}: only dict[str, T] is supported")
        return {"type": "object", "additionalProperties": _type(value, where + "{}")}
    if origin is typing.Literal:
        return {"enum": list(typing.get_args(tp))}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [m.value for m in tp]}
    if dataclasses.is_dataclass(tp):
        return _object(tp)
    raise TypeError(f"{where}: type {tp!r} has no JSON Schema here")


def parse_config(cls: type, value: Any, path: str = "config") -> Any:
    """Builds ``cls`` from decoded JSON; raises :class:`InvalidConfig` naming
    the path of the first value that does not fit."""
    if not isinstance(value, dict):
        raise InvalidConfig(f"{path}: expected an object, got {_kind(value)}")
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - names)
    if unknown:
        raise InvalidConfig(f"{path}: unknown field {unknown[0]!r}")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in value:
            kwargs[f.name] = _value(hints[f.name], value[f.name], f"{path}.{f.name}")
        elif _default(f) is dataclasses.MISSING:
            raise InvalidConfig(f"{path}: missing required field {f.name!r}")
    return cls(**kwargs)


def _value(tp: Any, value: Any, path: str) -> Any:
    inner = _optional_inner(tp)
    if inner is not None:
        return None if value is None else _value(inner, value, path)
    origin = typing.get_origin(tp)
    if tp is typing.Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif origin is list:
        if isinstance(value, list):
            (item,) = typing.get_args(tp)
            return [_value(item, v, f"{path}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            _, item = typing.get_args(tp)
            return {k: _value(item, v, f"{path}.{k}") for k, v in value.items()}
    elif origin is typing.Literal:
        if value in typing.get_args(tp):
            return value
        raise InvalidConfig(f"{path}: {value!r} is not one of {list(typing.get_args(tp))}")
    elif isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            raise InvalidConfig(
                f"{path}: {value!r} is not one of {[m.value for m in tp]}"
            ) from None
    elif dataclasses.is_dataclass(tp):
        return parse_config(tp, value, path)
    expected = getattr(tp, "__name__", str(tp))
    raise InvalidConfig(f"{path}: expected {expected}, got {_kind(value)}")


def _kind(value: Any) -> str:
    return {
        type(None): "null",
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
