"""Fast reading of ``odds.observed`` and ``odds.changes`` for the projections. Pure: no I/O.

``streams.events.decode`` builds a Python object for every price of a ~30 KB board and then checks
each one (about a fifth of the worker's main thread in a profiled steady cycle), for a projection
that needs eight header fields of each ``OddsObserved``. Here msgspec checks the same rules while it parses
(typed structs, in C) and builds only what the projections use:

- ``OddsObserved`` -> :class:`ObservedHead` (identity, names, kickoff, ``observed_at``);
- ``OddsChanged`` -> an ``OddsChanged`` whose outcome lists arrive as :class:`JsonText`, the
  record's own JSON for them, so ``projections.rows`` stores them without encoding them again;
- ``OddsObserved`` -> :class:`ObservedBoard`, equal to ``ObservedBoard.of`` what ``decode`` gives
  (:func:`read_board`, for the board agent, which needs the markets).

Acceptance never widens: a record the fast path cannot accept outright (an older schema version to
upcast, a bad field, anything unexpected) goes through ``streams.events.decode``, which accepts it
or raises ``InvalidEvent`` with the reason. ``tests/unit/test_projection_wire.py`` checks, over
generated and mutated records, that the fast path accepts nothing ``decode`` refuses and reads the
same values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import msgspec

from streams.clock import parse_ts
from streams.events import BOOKMAKER_NAMES, MAX_RECORD_BYTES, BaseEvent, OddsChanged, OddsObserved, decode
from streams.markets import ObservedMarket, canonical_markets

__all__ = ["JsonText", "ObservedBoard", "ObservedHead", "read", "read_board", "read_changed", "read_observed"]

_MAX = 1.7e308  # finite: JSON numbers beyond a double are refused like Infinity
_DIGITS = re.compile(r"[0-9]+")
# lower case only: decode lowers any other spelling, so those take its path
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BOOKMAKERS = frozenset(BOOKMAKER_NAMES)


class JsonText(str):
    """A JSON document already encoded (a quote's outcomes as the record carried them)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ObservedHead:
    """An ``OddsObserved`` without its markets (and ``unmapped``): all the projections keep."""

    event_id: str
    run_id: str
    sportradar_id: str
    bookmaker: str
    bookmaker_event_id: str
    home_team: str
    away_team: str
    tournament: str
    kickoff_at: datetime
    observed_at: datetime
    country: str = ""

    @classmethod
    def of(cls, ev: OddsObserved | _Observed) -> ObservedHead:
        """The head of a decoded event, or of a parsed record (its times still text)."""
        return cls(
            event_id=ev.event_id,
            run_id=ev.run_id,
            sportradar_id=ev.sportradar_id,
            bookmaker=ev.bookmaker,
            bookmaker_event_id=ev.bookmaker_event_id,
            home_team=ev.home_team,
            away_team=ev.away_team,
            tournament=ev.tournament,
            kickoff_at=_when(ev.kickoff_at),
            observed_at=_when(ev.observed_at),
            country=ev.country,
        )


@dataclass(frozen=True, slots=True)
class ObservedBoard:
    """An ``OddsObserved`` as the board applies it: its head and its markets, canonical
    (``streams.markets.canonical_markets``)."""

    head: ObservedHead
    markets: list[ObservedMarket]

    @classmethod
    def of(cls, ev: OddsObserved) -> ObservedBoard:
        return cls(ObservedHead.of(ev), canonical_markets(ev.markets))


# -- the rules of streams.events, as msgspec types ----------------------------------------------------


# gc=False: never part of a reference cycle, and a board has hundreds of them for the collector to skip
_Chance = Annotated[float, msgspec.Meta(ge=0, le=1)] | None


class _Outcome(msgspec.Struct, gc=False):
    name: str
    price: Annotated[float, msgspec.Meta(gt=1, le=_MAX)] | None = None
    suspended: bool = False
    probability: _Chance = None
    refund_probability: _Chance = None


_Line = Annotated[float, msgspec.Meta(ge=-_MAX, le=_MAX)] | None


class _Market(msgspec.Struct, gc=False):
    market_id: str
    outcomes: list[_Outcome]
    line: _Line = None
    market_name: Any = ""  # not checked by decode either; the board keeps str() of it


class _Change(msgspec.Struct, gc=False):
    market_id: str
    outcomes: list[_Outcome]
    line: _Line = None
    previous_outcomes: list[_Outcome] | None = None


class _Observed(msgspec.Struct):
    event_type: str
    schema_version: int
    event_id: str
    occurred_at: str
    run_id: str
    bookmaker: str
    sportradar_id: str
    bookmaker_event_id: str
    home_team: str
    away_team: str
    tournament: str
    kickoff_at: str
    observed_at: str
    markets: list[_Market]
    unmapped: dict[str, int] = {}
    country: str = ""


class _Changed(msgspec.Struct):
    event_type: str
    schema_version: int
    event_id: str
    occurred_at: str
    sportradar_id: str
    bookmaker: str
    observed_at: str
    caused_by: str
    changes: list[_Change]
    run_id: str | None = None


class _RawChange(msgspec.Struct):
    outcomes: msgspec.Raw
    previous_outcomes: msgspec.Raw = msgspec.Raw(b"null")


class _RawChanges(msgspec.Struct):
    changes: list[_RawChange]


_observed = msgspec.json.Decoder(_Observed)
_changed = msgspec.json.Decoder(_Changed)
_raw_changes = msgspec.json.Decoder(_RawChanges)


class _Fallback(Exception):
    """The fast path does not decide this record; ``streams.events.decode`` does."""


def _ts(value: str) -> datetime:
    try:
        return parse_ts(value)
    except ValueError as exc:
        raise _Fallback from exc


def _check_envelope(ev: _Observed | _Changed, event_type: str, version: int) -> None:
    if ev.event_type != event_type or ev.schema_version != version:
        raise _Fallback
    if ev.bookmaker not in _BOOKMAKERS or not _DIGITS.fullmatch(ev.sportradar_id):
        raise _Fallback
    if not _UUID.fullmatch(ev.event_id):
        raise _Fallback
    # JSON null is refused by the str-typed fields above, as decode refuses it
    _ts(ev.occurred_at)


def _when(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else _ts(value)


def _parse_observed(raw: bytes) -> _Observed:
    try:
        ev = _observed.decode(raw)  # checks every rule
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _Fallback from exc
    _check_envelope(ev, OddsObserved.event_type, OddsObserved.schema_version)
    return ev


def read_observed(raw: bytes) -> ObservedHead:
    """The head of an ``OddsObserved`` record; ``InvalidEvent`` exactly when ``decode`` raises it."""
    if len(raw) <= MAX_RECORD_BYTES:
        try:
            return ObservedHead.of(_parse_observed(raw))
        except _Fallback:
            pass
    return ObservedHead.of(decode(raw, [OddsObserved]))


def _by_name(outcome: _Outcome) -> str:
    return outcome.name


def _fast_board(raw: bytes) -> ObservedBoard:
    ev = _parse_observed(raw)  # all the board needs: no second parse for the markets
    # canonical_markets, from the parsed structs rather than dicts (2x faster than building triples
    # for flat_outcomes); tests/unit/test_projection_wire.py checks both give the same markets
    markets: list[ObservedMarket] = []
    for m in ev.markets:
        outcomes = m.outcomes
        if len(outcomes) > 1:
            outcomes.sort(key=_by_name)
        flat: list[Any] = []
        chances: list[Any] = []
        for o in outcomes:
            flat += (o.name, o.price, o.suspended)
            chances += (o.probability, o.refund_probability)
        name = m.market_name
        fair = tuple(chances) if any(c is not None for c in chances) else None
        markets.append((m.market_id, name if type(name) is str else str(name), m.line, tuple(flat), fair))
    return ObservedBoard(ObservedHead.of(ev), markets)


def read_board(raw: bytes) -> ObservedBoard:
    """An ``OddsObserved`` as the board applies it, equal to ``ObservedBoard.of(decode(...))``;
    ``InvalidEvent`` exactly when ``decode`` raises it. The rules are checked in C while parsing,
    and the canonical markets are built from the parsed structs, without a second parse."""
    if len(raw) <= MAX_RECORD_BYTES:
        try:
            return _fast_board(raw)
        except _Fallback:
            pass
    return ObservedBoard.of(decode(raw, [OddsObserved]))


def _fast_changed(raw: bytes) -> OddsChanged:
    try:
        ev = _changed.decode(raw)  # checks every rule; the values are read again below, raw
        raw_changes = _raw_changes.decode(raw).changes
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise _Fallback from exc
    _check_envelope(ev, OddsChanged.event_type, OddsChanged.schema_version)
    changes: list[dict[str, Any]] = []
    for checked, c in zip(ev.changes, raw_changes, strict=True):
        changes.append(
            {
                "market_id": checked.market_id,
                "line": checked.line,
                "outcomes": JsonText(bytes(c.outcomes).decode()),
                "previous_outcomes": None
                if checked.previous_outcomes is None
                else JsonText(bytes(c.previous_outcomes).decode()),
            }
        )
    return OddsChanged(
        event_id=ev.event_id,
        occurred_at=_ts(ev.occurred_at),
        sportradar_id=ev.sportradar_id,
        bookmaker=ev.bookmaker,
        observed_at=_ts(ev.observed_at),
        caused_by=ev.caused_by,
        run_id=ev.run_id,
        changes=changes,
    )


def read_changed(raw: bytes) -> OddsChanged:
    """An ``OddsChanged`` whose outcome lists may be :class:`JsonText`; ``InvalidEvent`` exactly
    when ``decode`` raises it."""
    if len(raw) <= MAX_RECORD_BYTES:
        try:
            return _fast_changed(raw)
        except _Fallback:
            pass
    return decode(raw, [OddsChanged])


def read(raw: bytes, types: Sequence[type[BaseEvent]]) -> BaseEvent | ObservedHead:
    """A record of a projection's topics: the fast readers for the odds topics, ``decode`` else."""
    if len(types) == 1 and types[0] is OddsObserved:
        return read_observed(raw)
    if len(types) == 1 and types[0] is OddsChanged:
        return read_changed(raw)
    return decode(raw, list(types))
