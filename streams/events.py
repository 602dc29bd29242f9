"""The events of oddstream: the records on every topic, their wire format and their validation.

Events are frozen dataclasses (pure logic imports them without importing Faust). On the wire each
is one plain JSON object: the envelope (``event_id``, ``event_type``, ``schema_version``,
``occurred_at``) plus the event's own fields, with no framework metadata, so a record produced by
any Kafka client decodes. ``decode`` validates everything it returns: a record that is not JSON,
has an unknown ``event_type``, misses a required field, has a wrong type or a naive timestamp
raises ``InvalidEvent`` with the reason, and the caller dead-letters it.

Versions: a record of an older ``schema_version`` is lifted to the current one on read by the pure
upcasters of ``streams.upcasters`` before it is validated, so consumers only ever see the current
shape; a record newer than this reader is invalid.
"""

from __future__ import annotations

import base64
import json
import math
import re
import types
import typing
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar, Union

import orjson

from streams import topics
from streams.clock import format_ts, parse_ts, utc_now
from streams.sources import registry
from streams.upcasters import UPCASTERS, UpcastError, Upcasters

__all__ = [
    "DEAD_LETTER_KEEP_BYTES",
    "EVENT_TYPES",
    "MAX_INTERVAL_S",
    "MAX_RECORD_BYTES",
    "MIN_INTERVAL_S",
    "RUN_EVENT_TYPES",
    "BaseEvent",
    "DeadLettered",
    "InvalidEvent",
    "OddsChanged",
    "OddsObserved",
    "RunCompleted",
    "RunEvent",
    "RunFailed",
    "RunHeartbeat",
    "RunStale",
    "RunStaleCheck",
    "RunStarted",
    "ScheduleChanged",
    "ScrapeRequested",
    "decode",
    "derive_id",
    "encode",
    "encode_validated",
    "from_mapping",
    "new_id",
]

_ID_NAMESPACE = uuid.UUID("6f1d1e3c-5b0a-4c1e-9a63-0dd5a7e0c0de")

TRIGGERS = ("schedule", "api", "retry", "cli")

MIN_INTERVAL_S = 10
MAX_INTERVAL_S = 24 * 3600
"""The schedule's interval bounds: a scrape cycle every 10 s at most, once a day at least."""

MAX_RECORD_BYTES = 512 * 1024
# The most of a refused record a DeadLettered keeps: its base64 (4/3) plus the envelope stays under
# MAX_RECORD_BYTES, so every letter is itself a valid record, and under Kafka's 1 MB message limit.
DEAD_LETTER_KEEP_BYTES = 256 * 1024
"""The largest record ``decode`` accepts. A full board (about 170 quotes) is some 30 KB; anything this
big is a fault, and it stays small enough that its ``DeadLettered`` (original as base64) still fits
Kafka's default 1 MB message limit."""
BOOKMAKER_NAMES = registry.NAMES


class InvalidEvent(ValueError):
    """A record that is not a valid oddstream event; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_id() -> str:
    """A fresh random event id (for facts with no cause to derive from, e.g. a button press)."""
    return str(uuid.uuid4())


def derive_id(*parts: object) -> str:
    """A deterministic event id: the same cause always gives the same id, so replays are harmless."""
    return str(uuid.uuid5(_ID_NAMESPACE, "\x1f".join(str(p) for p in parts)))


@dataclass(frozen=True, kw_only=True, slots=True)
class BaseEvent:
    """The envelope every event carries."""

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1
    topic: ClassVar[str] = ""
    key_field: ClassVar[str] = ""

    event_id: str = field(default_factory=new_id)
    occurred_at: datetime = field(default_factory=utc_now)

    @property
    def key(self) -> str:
        return str(getattr(self, self.key_field))


# -- commands and facts ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class ScrapeRequested(BaseEvent):
    """A command: scrape these bookmakers (all when empty) for these events (all when empty)."""

    event_type: ClassVar[str] = "ScrapeRequested"
    topic: ClassVar[str] = topics.SCRAPE_REQUESTS.name
    key_field: ClassVar[str] = topics.SCRAPE_REQUESTS.key

    run_id: str
    trigger: str
    bookmakers: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    retry_of: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class OddsObserved(BaseEvent):
    """One bookmaker's whole market board for one event, as fetched."""

    event_type: ClassVar[str] = "OddsObserved"
    topic: ClassVar[str] = topics.OBSERVED.name
    key_field: ClassVar[str] = topics.OBSERVED.key

    run_id: str
    bookmaker: str
    sportradar_id: str
    bookmaker_event_id: str
    home_team: str
    away_team: str
    tournament: str
    kickoff_at: datetime
    observed_at: datetime
    markets: list[dict[str, Any]]
    unmapped: dict[str, int] = field(default_factory=dict)
    country: str = ""  # the tournament's country or region as the book lists it; optional for producers


@dataclass(frozen=True, kw_only=True, slots=True)
class OddsChanged(BaseEvent):
    """The quotes of one board whose prices or availability changed since the previous observation."""

    event_type: ClassVar[str] = "OddsChanged"
    topic: ClassVar[str] = topics.CHANGES.name
    key_field: ClassVar[str] = topics.CHANGES.key

    sportradar_id: str
    bookmaker: str
    observed_at: datetime
    caused_by: str
    run_id: str | None = None
    changes: list[dict[str, Any]]


@dataclass(frozen=True, kw_only=True, slots=True)
class RunEvent(BaseEvent):
    """Base of the run lifecycle events on ``odds.runs``."""

    topic: ClassVar[str] = topics.RUNS.name
    key_field: ClassVar[str] = topics.RUNS.key

    run_id: str


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStarted(RunEvent):
    event_type: ClassVar[str] = "RunStarted"

    trigger: str
    bookmakers: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    coalesced_into: str | None = None  # a full cycle was running: this request shares its result


@dataclass(frozen=True, kw_only=True, slots=True)
class RunHeartbeat(RunEvent):
    event_type: ClassVar[str] = "RunHeartbeat"

    observed: int | None = None
    failed: int | None = None
    per_bookmaker: dict[str, dict[str, int]] | None = None  # listed, events, markets, unmapped, errors


@dataclass(frozen=True, kw_only=True, slots=True)
class RunCompleted(RunEvent):
    event_type: ClassVar[str] = "RunCompleted"

    observed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    per_bookmaker: dict[str, dict[str, int]] = field(default_factory=dict)
    coalesced_into: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RunFailed(RunEvent):
    event_type: ClassVar[str] = "RunFailed"

    error: str
    observed: int = 0
    failed: int = 0
    per_bookmaker: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStale(RunEvent):
    event_type: ClassVar[str] = "RunStale"

    last_heartbeat_at: datetime
    stale_after_s: int
    detected_at: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class RunStaleCheck(BaseEvent):
    """Internal command: the watchdog asks the run's owner to decide whether it is stale at ``now``."""

    event_type: ClassVar[str] = "RunStaleCheck"
    topic: ClassVar[str] = topics.RUN_CHECKS.name
    key_field: ClassVar[str] = topics.RUN_CHECKS.key

    run_id: str
    now: datetime


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleChanged(BaseEvent):
    """The schedule every worker follows from now on, whole: compaction keeps only the latest."""

    event_type: ClassVar[str] = "ScheduleChanged"
    topic: ClassVar[str] = topics.CONTROL.name
    key_field: ClassVar[str] = topics.CONTROL.key

    setting: str
    paused: bool
    interval_s: int
    changed_by: str | None = None
    """Who asked: ``api`` (a route, the dashboard) or ``cli``."""


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLettered(BaseEvent):
    """A record a consumer could not accept, set aside with the reason and its original bytes."""

    event_type: ClassVar[str] = "DeadLettered"
    topic: ClassVar[str] = topics.DEAD_LETTERS.name
    key_field: ClassVar[str] = topics.DEAD_LETTERS.key

    source_topic: str
    partition: int
    offset: int
    source_key: str | None = None
    error: str
    original: str  # base64 of the original value bytes (their first DEAD_LETTER_KEEP_BYTES when larger)
    original_size: int | None = None  # the original's length in bytes, when ``original`` was cut

    @classmethod
    def of(
        cls,
        *,
        source_topic: str,
        partition: int,
        offset: int,
        key: bytes | str | None,
        error: str,
        original: bytes | None,
    ) -> DeadLettered:
        key_text = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
        raw = original or b""
        # A letter must always fit the broker's 1 MB record limit, or the set-aside itself would fail;
        # the whole original stays on its source topic at (source_topic, partition, offset).
        cut = len(raw) > DEAD_LETTER_KEEP_BYTES
        return cls(
            event_id=derive_id("dead-letter", source_topic, partition, offset),
            source_topic=source_topic,
            partition=partition,
            offset=offset,
            source_key=key_text,
            error=error,
            original=base64.b64encode(raw[:DEAD_LETTER_KEEP_BYTES]).decode("ascii"),
            original_size=len(raw) if cut else None,
        )


RUN_EVENT_TYPES: tuple[type[BaseEvent], ...] = (
    ScrapeRequested,
    RunStarted,
    RunHeartbeat,
    RunCompleted,
    RunFailed,
    RunStale,
)
"""What ``odds.scrape-requests`` and ``odds.runs`` carry: a run's command and its lifecycle."""

EVENT_TYPES: dict[str, type[BaseEvent]] = {
    cls.event_type: cls
    for cls in (
        ScrapeRequested,
        OddsObserved,
        OddsChanged,
        RunStarted,
        RunHeartbeat,
        RunCompleted,
        RunFailed,
        RunStale,
        RunStaleCheck,
        DeadLettered,
        ScheduleChanged,
    )
}

E = TypeVar("E", bound=BaseEvent)

# -- wire format ---------------------------------------------------------------------------------


def _to_wire(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_ts(value)
    return value


def encode(event: BaseEvent) -> bytes:
    """The event as one compact JSON object (envelope + fields)."""
    body: dict[str, Any] = {
        "event_type": event.event_type,
        "schema_version": event.schema_version,
    }
    for f in fields(event):
        body[f.name] = _to_wire(getattr(event, f.name))
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def encode_validated(event: BaseEvent) -> bytes:
    """``encode`` for an event built only from decoded records (an ``OddsChanged`` of the board):
    the same JSON, written by orjson, ~10x faster for a 170-quote change. ``decode`` refused any
    NaN or infinity on the way in, and orjson would write them as null instead of refusing them,
    so an event carrying numbers from anywhere else goes through ``encode``."""
    body: dict[str, Any] = {
        "event_type": event.event_type,
        "schema_version": event.schema_version,
    }
    for f in fields(event):
        body[f.name] = _to_wire(getattr(event, f.name))
    return orjson.dumps(body)


_HINTS: dict[type[BaseEvent], dict[str, Any]] = {}


def _hints(cls: type[BaseEvent]) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _convert(name: str, tp: Any, value: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _convert(name, args[0], value)
    if value is None:
        raise InvalidEvent(f"{name} must not be null")
    if tp is datetime:
        try:
            return parse_ts(value, name)
        except ValueError as exc:
            raise InvalidEvent(str(exc)) from exc
    if tp is str:
        if not isinstance(value, str):
            raise InvalidEvent(f"{name} must be a string")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidEvent(f"{name} must be an integer")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise InvalidEvent(f"{name} must be a list")
        (item_tp,) = typing.get_args(tp)
        if item_tp is str and not all(isinstance(v, str) for v in value):
            raise InvalidEvent(f"{name} must be a list of strings")
        if typing.get_origin(item_tp) is dict and not all(isinstance(v, dict) for v in value):
            raise InvalidEvent(f"{name} must be a list of objects")
        return value
    if origin is dict:
        if not isinstance(value, dict):
            raise InvalidEvent(f"{name} must be an object")
        return value
    return value


_DIGITS = re.compile(r"[0-9]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _finite(value: object) -> bool:
    """A JSON number that is neither a boolean nor NaN/Infinity."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_quotes(name: str, quotes: Sequence[Mapping[str, Any]], *, with_previous: bool) -> None:
    for i, q in enumerate(quotes):
        where = f"{name}[{i}]"
        if not isinstance(q.get("market_id"), str):
            raise InvalidEvent(f"{where}.market_id must be a string")
        line = q.get("line")
        if line is not None and not _finite(line):
            raise InvalidEvent(f"{where}.line must be a number or null")
        keys = ("outcomes", "previous_outcomes") if with_previous else ("outcomes",)
        for key in keys:
            outcomes = q.get(key)
            if outcomes is None and key == "previous_outcomes":
                continue
            if not isinstance(outcomes, list):
                raise InvalidEvent(f"{where}.{key} must be a list")
            for j, o in enumerate(outcomes):
                if not isinstance(o, dict) or not isinstance(o.get("name"), str):
                    raise InvalidEvent(f"{where}.{key}[{j}].name must be a string")
                price = o.get("price")
                if price is not None and (not _finite(price) or price <= 1):
                    raise InvalidEvent(f"{where}.{key}[{j}].price must be a decimal number > 1 or null")
                if not isinstance(o.get("suspended", False), bool):
                    raise InvalidEvent(f"{where}.{key}[{j}].suspended must be a boolean")
                for chance in ("probability", "refund_probability"):
                    value = o.get(chance)
                    if value is not None and (not _finite(value) or not 0 <= value <= 1):
                        raise InvalidEvent(f"{where}.{key}[{j}].{chance} must be a number from 0 to 1 or null")


def _check(event: BaseEvent) -> None:
    if isinstance(event, OddsObserved | OddsChanged):
        if event.bookmaker not in BOOKMAKER_NAMES:
            raise InvalidEvent(f"bookmaker must be one of {', '.join(BOOKMAKER_NAMES)}")
        if not _DIGITS.fullmatch(event.sportradar_id):
            raise InvalidEvent("sportradar_id must be digits only")
    if isinstance(event, OddsObserved):
        _check_quotes("markets", event.markets, with_previous=False)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in event.unmapped.values()):
            raise InvalidEvent("unmapped must map reasons to integer counts")
    elif isinstance(event, OddsChanged):
        _check_quotes("changes", event.changes, with_previous=True)
    elif isinstance(event, ScheduleChanged):
        if event.setting != "schedule":
            raise InvalidEvent("setting must be 'schedule'")
        if isinstance(event.interval_s, bool) or not MIN_INTERVAL_S <= event.interval_s <= MAX_INTERVAL_S:
            raise InvalidEvent(f"interval_s must be an integer from {MIN_INTERVAL_S} to {MAX_INTERVAL_S}")
    elif isinstance(event, ScrapeRequested | RunStarted):
        if event.trigger not in TRIGGERS:
            raise InvalidEvent(f"trigger must be one of {', '.join(TRIGGERS)}")
        unknown = [b for b in event.bookmakers if b not in BOOKMAKER_NAMES]
        if unknown:
            raise InvalidEvent(f"unknown bookmakers: {', '.join(unknown)}")


def from_mapping(
    data: Mapping[str, Any],
    expected: Sequence[type[E]] | None = None,
    *,
    upcasters: Upcasters = UPCASTERS,
    types: Mapping[str, type[BaseEvent]] = EVENT_TYPES,
) -> E:
    """Build and validate an event from a decoded JSON object, upcast to its type's current version.

    ``upcasters`` and ``types`` are the registries to read with (tests pass their own to prove a
    version change before one is made).
    """
    event_type = data.get("event_type")
    cls = types.get(event_type) if isinstance(event_type, str) else None
    if cls is None:
        raise InvalidEvent(f"unknown event_type: {event_type!r}")
    if expected is not None and cls not in expected:
        raise InvalidEvent(f"event_type {event_type} does not belong on this topic")
    version = data.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidEvent("schema_version must be an integer")
    if version < 1:
        raise InvalidEvent("schema_version must be >= 1")
    if version > cls.schema_version:
        raise InvalidEvent(f"schema_version {version} of {event_type} is newer than this reader")
    if version < cls.schema_version:
        try:
            data = upcasters.upcast(data, cls.schema_version)
        except UpcastError as exc:
            raise InvalidEvent(str(exc)) from exc
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in data or (data[f.name] is None and f.name in ("event_id", "occurred_at")):
            if (f.default is MISSING and f.default_factory is MISSING) or f.name in ("event_id", "occurred_at"):
                raise InvalidEvent(f"missing required field {f.name}")
            continue
        kwargs[f.name] = _convert(f.name, hints[f.name], data[f.name])
    if not _UUID.fullmatch(kwargs["event_id"]):
        raise InvalidEvent("event_id must be a UUID string (8-4-4-4-12 hex digits)")
    kwargs["event_id"] = kwargs["event_id"].lower()
    event = typing.cast(E, cls(**kwargs))
    _check(event)
    return event


def decode(
    raw: bytes | str | Mapping[str, Any],
    expected: Sequence[type[E]] | None = None,
    *,
    upcasters: Upcasters = UPCASTERS,
    types: Mapping[str, type[BaseEvent]] = EVENT_TYPES,
) -> E:
    """Parse, upcast and validate one wire record; raise ``InvalidEvent`` with the reason otherwise."""
    if isinstance(raw, Mapping):
        return from_mapping(raw, expected, upcasters=upcasters, types=types)
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidEvent(f"record too large: {len(raw)} bytes, the limit is {MAX_RECORD_BYTES}")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidEvent("not a JSON object")
    return from_mapping(data, expected, upcasters=upcasters, types=types)
