"""JSON Schema (draft 2020-12) for every event type, generated from the event dataclasses.

The committed files under ``schemas/`` are the published contract for other teams' producers and
consumers; they are generated, never edited by hand: ``python -m streams.schemas`` rewrites them and a
unit test fails when they drift from ``streams.events``.

Each schema is derived from the dataclass fields and their type hints (required = fields without a
default, plus the envelope), refined with the constraints ``decode`` enforces by field name (bookmaker
and trigger enums, digits-only ``sportradar_id``, the quote shape of ``markets`` and ``changes``).
``additionalProperties`` is true everywhere: events evolve additively, so readers must accept fields
they do not know.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import sys
import types
import typing
from collections.abc import Sequence
from dataclasses import MISSING, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Union

from streams.events import BOOKMAKER_NAMES, EVENT_TYPES, MAX_INTERVAL_S, MIN_INTERVAL_S, TRIGGERS, BaseEvent

__all__ = ["DEFAULT_DIRECTORY", "SCHEMA_DIALECT", "file_name", "json_schema", "main", "render", "write_all"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ID_BASE = "https://oddstream.dev/schemas/"
DEFAULT_DIRECTORY = Path(__file__).resolve().parent.parent / "schemas"

# RFC 3339 date-time with an explicit offset (``Z`` or ``+hh:mm``/``-hh:mm``); naive times do not match.
DATETIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
DIGITS_PATTERN = r"^[0-9]+$"

_ENVELOPE = ("event_id", "event_type", "schema_version", "occurred_at")

_OUTCOME: dict[str, Any] = {
    "type": "object",
    "description": "One outcome of a quote; price is a decimal number > 1, or null when not offered;"
    " probability and refund_probability are optional.",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "price": {"type": ["number", "null"], "exclusiveMinimum": 1},
        "suspended": {"type": "boolean"},
        "probability": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 1,
            "description": "The bookmaker's own fair probability that the outcome wins (BetPawa, SportyBet).",
        },
        "refund_probability": {
            "type": ["number", "null"],
            "minimum": 0,
            "maximum": 1,
            "description": "The bookmaker's probability that the stake is returned (a push).",
        },
    },
    "additionalProperties": True,
}
_OUTCOMES: dict[str, Any] = {"type": "array", "items": {"$ref": "#/$defs/outcome"}}


def _quote(description: str, *, with_previous: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "market_id": {"type": "string", "description": 'Canonical BetPawa market type id, e.g. "3743" for 1X2.'},
        "line": {"type": ["number", "null"]},
        "outcomes": _OUTCOMES,
    }
    if with_previous:
        properties["previous_outcomes"] = {
            "anyOf": [_OUTCOMES, {"type": "null"}],
            "description": "null for a quote seen for the first time.",
        }
    else:
        properties["market_name"] = {"type": "string"}
    return {
        "type": "object",
        "description": description,
        "required": ["market_id", "outcomes"],
        "properties": properties,
        "additionalProperties": True,
    }


# $defs a refinement may refer to, by name.
_DEFS: dict[str, dict[str, Any]] = {
    "outcome": _OUTCOME,
    "quote": _quote("One quote of a bookmaker's board.", with_previous=False),
    "change": _quote(
        "One changed quote; a quote that disappeared from the board has empty outcomes.", with_previous=True
    ),
}

# Constraints ``decode`` (or the contract) puts on a field, by field name, merged over the hint's schema.
_REFINEMENTS: dict[str, dict[str, Any]] = {
    "event_id": {"format": "uuid", "pattern": UUID_PATTERN},
    "bookmaker": {"enum": list(BOOKMAKER_NAMES)},
    "bookmakers": {"items": {"type": "string", "enum": list(BOOKMAKER_NAMES)}},
    "trigger": {"enum": list(TRIGGERS)},
    "sportradar_id": {"pattern": DIGITS_PATTERN},
    "markets": {"items": {"$ref": "#/$defs/quote"}},
    "changes": {"items": {"$ref": "#/$defs/change"}},
    "interval_s": {"minimum": MIN_INTERVAL_S, "maximum": MAX_INTERVAL_S},
    "setting": {"enum": ["schedule"]},
}


def _type_schema(tp: Any) -> dict[str, Any]:
    """The schema of one type hint."""
    if tp is Any:
        return {}
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"unsupported union {tp!r}: only X | None is on the wire")
        schema = _type_schema(inner[0])
        if type(None) not in args:
            return schema
        return _nullable(schema)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is float:
        return {"type": "number"}
    if tp is datetime:
        return {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN}
    if origin is list:
        (item,) = typing.get_args(tp)
        return {"type": "array", "items": _type_schema(item)}
    if origin is dict:
        key, value = typing.get_args(tp)
        if key is not str:
            raise TypeError(f"unsupported mapping {tp!r}: JSON object keys are strings")
        mapping: dict[str, Any] = {"type": "object"}
        value_schema = _type_schema(value)
        if value_schema:
            mapping["additionalProperties"] = value_schema
        return mapping
    raise TypeError(f"no JSON Schema mapping for type {tp!r}")


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    if isinstance(schema.get("type"), str) and "$ref" not in schema:
        out = dict(schema, type=[schema["type"], "null"])
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def _refine(schema: dict[str, Any], refinement: dict[str, Any]) -> dict[str, Any]:
    if "anyOf" in schema:  # nullable composite: refine the non-null branch
        first, *rest = schema["anyOf"]
        return {**schema, "anyOf": [_refine(first, refinement), *rest]}
    out = dict(schema)
    for key, value in refinement.items():
        if key == "enum" and isinstance(out.get("type"), list) and "null" in out["type"]:
            value = [*value, None]
        out[key] = value
    return out


def _refs(node: Any) -> set[str]:
    """Names of the ``#/$defs/...`` a schema fragment refers to (transitively through ``_DEFS``)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/"):
                name = value.removeprefix("#/$defs/")
                if name not in found:
                    found.add(name)
                    found |= _refs(_DEFS[name])
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _refs(item)
    return found


def _description(cls: type[BaseEvent]) -> str:
    doc = cls.__doc__
    # dataclasses invent "Name(*, field: type = ...)" when a class has no docstring of its own
    if not doc or doc.startswith(f"{cls.__name__}("):
        return f"{cls.event_type} event on {cls.topic}."
    return inspect.cleandoc(doc)


def _namespace(cls: type[BaseEvent]) -> str:
    return cls.topic.split(".", 1)[0]


def file_name(cls: type[BaseEvent]) -> str:
    """``<topic namespace>.<EventType>.v<N>.json``, e.g. ``odds.OddsObserved.v1.json``."""
    return f"{_namespace(cls)}.{cls.event_type}.v{cls.schema_version}.json"


def json_schema(cls: type[BaseEvent]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the wire form of ``cls`` at its current ``schema_version``."""
    if not cls.event_type or not cls.topic or not cls.key_field:
        raise TypeError(f"{cls.__name__} is not a concrete event type (event_type, topic, key_field)")
    hints = typing.get_type_hints(cls)
    properties: dict[str, Any] = {
        "event_type": {"type": "string", "const": cls.event_type},
        "schema_version": {"type": "integer", "const": cls.schema_version},
    }
    required = list(_ENVELOPE)
    for f in fields(cls):
        schema = _type_schema(hints[f.name])
        if f.name in _REFINEMENTS:
            schema = _refine(schema, _REFINEMENTS[f.name])
        properties[f.name] = schema
        if f.default is MISSING and f.default_factory is MISSING and f.name not in required:
            required.append(f.name)
    if cls.key_field not in properties:
        raise TypeError(f"{cls.__name__}.key_field {cls.key_field!r} is not a field")
    document: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "$id": ID_BASE + file_name(cls),
        "title": cls.event_type,
        "description": _description(cls),
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": True,
        "x-topic": cls.topic,
        "x-key": cls.key_field,
    }
    used = _refs(properties)
    if used:
        document["$defs"] = {name: _DEFS[name] for name in sorted(used)}
    return copy.deepcopy(document)  # callers may mutate it; the shared fragments must not change


def render(cls: type[BaseEvent]) -> str:
    """The committed text of the schema of ``cls``: sorted keys, indent 2, trailing newline."""
    return json.dumps(json_schema(cls), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_all(directory: Path) -> list[Path]:
    """Write the schema of every event type into ``directory``; return the paths written, sorted.

    Files of other (older) schema versions are left alone: a published version stays published.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for cls in EVENT_TYPES.values():
        path = directory / file_name(cls)
        path.write_bytes(render(cls).encode("utf-8"))
        written.append(path)
    return sorted(written)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m streams.schemas", description="Regenerate the JSON Schema of every event type."
    )
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIRECTORY)
    args = parser.parse_args(argv)
    for path in write_all(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
