"""The events list's query: its parameters read and checked, kickoff presets, and which events match.

Pure: the parameters arrive as a mapping of name to every value given (``?tournament=a&tournament=b``),
"now" and the trader's zone as arguments. A parameter that cannot be used raises :class:`BadParameter`
naming it, which the view answers with a 400.

Kickoff presets are days of the trader's zone (``ODDSTREAM_TRADER_TZ``), as half-open UTC windows:

- ``today``: from the start of today to the start of tomorrow, local;
- ``tomorrow``: the next local day;
- ``weekend``: Saturday 00:00 to Monday 00:00 local, this one when today is Saturday or Sunday, else the
  coming one;
- ``7d``: from now for 7 days of 24 hours.

``kickoff_from`` / ``kickoff_to`` (RFC 3339, inclusive) narrow a preset further when both are given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from typing import Any, Final

from streams.clock import parse_ts
from streams.sources.registry import NAMES

__all__ = [
    "AVAILABILITY",
    "KICKOFF_PRESETS",
    "MAX_PAGE_SIZE",
    "PAGE_SIZE",
    "SORTS",
    "BadParameter",
    "ListQuery",
    "kickoff_window",
    "parse_list_query",
]

PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 100
AVAILABILITY: Final = ("all", "matched", "betpawa-only", "competitor-only")
KICKOFF_PRESETS: Final = ("today", "tomorrow", "weekend", "7d")
SORTS: Final = ("kickoff", "tournament")
FORMATS: Final = ("json", "csv")
HOME: Final = "betpawa"
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off", ""})


class BadParameter(ValueError):
    """A query parameter of the events list that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What one ``GET /odds/events`` asks for, checked."""

    page: int = 1
    page_size: int = PAGE_SIZE
    paged: bool = True
    """False for a CSV asked without ``page`` / ``page_size``: every matching event."""
    countries: frozenset[str] = frozenset()
    tournaments: frozenset[str] = frozenset()
    kickoff_from: datetime | None = None
    kickoff_to: datetime | None = None
    """Inclusive bounds (a preset's end is exclusive: its bound is one microsecond earlier)."""
    q: str = ""
    min_bookmakers: int = 0
    availability: str = "all"
    include_started: bool = False
    sort: str = "kickoff"
    format: str = "json"

    def matches(self, meta: Mapping[str, Any], bookmakers: Sequence[str], kickoff: datetime, now: datetime) -> bool:
        """Whether an event (its BetPawa board's head, or any board's) passes every filter."""
        if not self.include_started and kickoff < now:
            return False
        if self.kickoff_from is not None and kickoff < self.kickoff_from:
            return False
        if self.kickoff_to is not None and kickoff > self.kickoff_to:
            return False
        if self.countries and str(meta.get("country") or "") not in self.countries:
            return False
        if self.tournaments and meta["tournament"] not in self.tournaments:
            return False
        if len(bookmakers) < self.min_bookmakers or not _available(self.availability, bookmakers):
            return False
        if self.q:
            text = f"{meta['home_team']} {meta['away_team']} {meta['tournament']} {meta.get('country') or ''}"
            if self.q not in text.lower():
                return False
        return True


def _available(availability: str, bookmakers: Sequence[str]) -> bool:
    home = HOME in bookmakers
    if availability == "matched":  # BetPawa and at least one competitor list it
        return home and len(bookmakers) > 1
    if availability == "betpawa-only":
        return home and len(bookmakers) == 1
    if availability == "competitor-only":
        return not home
    return True


def _start_of_day(day: datetime, zone: tzinfo) -> datetime:
    """Local midnight of ``day``'s date in ``zone``, as UTC (zoneinfo resolves a DST gap forwards)."""
    return datetime.combine(day.date(), time(0), tzinfo=zone).astimezone(UTC)


def kickoff_window(preset: str, now: datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The half-open UTC window ``[start, end)`` of a kickoff preset (see the module docstring)."""
    local = now.astimezone(zone)
    if preset == "7d":
        return now, now + timedelta(days=7)
    if preset == "today":
        first, days = local, 1
    elif preset == "tomorrow":
        first, days = local + timedelta(days=1), 1
    elif preset == "weekend":
        weekday = local.weekday()  # Monday 0 .. Sunday 6
        first = local - timedelta(days=weekday - 5) if weekday >= 5 else local + timedelta(days=5 - weekday)
        days = 2
    else:
        raise BadParameter(f"kickoff must be one of {', '.join(KICKOFF_PRESETS)}, got {preset!r}")
    return _start_of_day(first, zone), _start_of_day(first + timedelta(days=days), zone)


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise BadParameter(f"{name} may be given once, got {len(values)} values")
    return values[0]


def _integer(params: Mapping[str, Sequence[str]], name: str, default: int, lo: int, hi: int | None = None) -> int:
    raw = _one(params, name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadParameter(f"{name} must be an integer, got {raw!r}") from None
    if value < lo or (hi is not None and value > hi):
        bounds = f"from {lo} to {hi}" if hi is not None else f"at least {lo}"
        raise BadParameter(f"{name} must be {bounds}, got {value}")
    return value


def _choice(params: Mapping[str, Sequence[str]], name: str, allowed: Sequence[str]) -> str:
    raw = _one(params, name)
    if raw is None or raw == "":
        return allowed[0]
    if raw not in allowed:
        raise BadParameter(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


def _flag(params: Mapping[str, Sequence[str]], name: str) -> bool:
    raw = (_one(params, name) or "").lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadParameter(f"{name} must be true or false, got {raw!r}")


def _when(params: Mapping[str, Sequence[str]], name: str) -> datetime | None:
    raw = _one(params, name)
    if not raw:
        return None
    try:
        return parse_ts(raw, name)
    except ValueError as exc:
        raise BadParameter(str(exc)) from None


def _names(params: Mapping[str, Sequence[str]], name: str) -> frozenset[str]:
    return frozenset(v for v in params.get(name, ()) if v)


def parse_list_query(params: Mapping[str, Sequence[str]], now: datetime, zone: tzinfo) -> ListQuery:
    """The checked query of ``GET /odds/events``; raises :class:`BadParameter` naming what is wrong.

    Parameters other than the list's own (``scope``, a cache buster) are ignored.
    """
    fmt = _choice(params, "format", FORMATS)
    lo, hi = _when(params, "kickoff_from"), _when(params, "kickoff_to")
    if preset := _one(params, "kickoff"):
        start, end = kickoff_window(preset, now, zone)
        lo = start if lo is None else max(lo, start)
        end_inclusive = end - timedelta(microseconds=1)
        hi = end_inclusive if hi is None else min(hi, end_inclusive)
    if lo is not None and hi is not None and lo > hi and not preset:
        raise BadParameter("kickoff_from must not be after kickoff_to")
    return ListQuery(
        page=_integer(params, "page", 1, 1),
        page_size=_integer(params, "page_size", PAGE_SIZE, 1, MAX_PAGE_SIZE),
        paged=fmt == "json" or bool(params.get("page") or params.get("page_size")),
        countries=_names(params, "country"),
        tournaments=_names(params, "tournament"),
        kickoff_from=lo,
        kickoff_to=hi,
        q=(_one(params, "q") or "").strip().lower(),
        min_bookmakers=_integer(params, "min_bookmakers", 0, 0, len(NAMES)),
        availability=_choice(params, "availability", AVAILABILITY),
        include_started=_flag(params, "include_started"),
        sort=_choice(params, "sort", SORTS),
        format=fmt,
    )
