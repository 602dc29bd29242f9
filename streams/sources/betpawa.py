"""BetPawa (www.betpawa.ng, API v4): the canonical bookmaker.

``parse_event`` turns one v4 event-detail payload into a ``ParsedEvent`` (pure, no I/O); BetPawa's
``marketType.id`` values *are* the canonical market ids, so nothing is translated. ``BetPawaClient``
fetches the event list (``events/lists/by-queries``) and event details over HTTP with retries.

v4 is protobuf-style JSON: fields holding a default value are omitted (``suspended`` only appears as
``true``, ``handicap`` is absent on non-line rows, empty arrays are absent), and prices are in ``odds``
(the retired v3 used ``price``; it is read as a fallback).

Each price also carries BetPawa's fair probability (markets.md §7): in v4 a plain object
``{"win": p, "refund": r}``, in v3 an obfuscated base64 blob; ``decode_probability`` reads both into
``Outcome.probability`` / ``Outcome.refund_probability``, and anything it cannot read is simply no
probability (the board parses as it would without).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import math
import random
import re
import struct
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final

import aiohttp
import structlog

from streams.clock import parse_ts
from streams.sources.http import JsonClient
from streams.sources.model import Bookmaker, Outcome, ParsedEvent, Quote, SourceError, Target

__all__ = [
    "BOOK",
    "BOOKMAKER",
    "DEFAULT_HEADERS",
    "EVENT_PATH",
    "LIST_PATH",
    "LIST_TAKE",
    "BetPawaClient",
    "build_list_query",
    "decode_probability",
    "parse_event",
    "parse_event_list",
    "parse_event_summaries",
]

BOOKMAKER: Final = "betpawa"
IN_FLIGHT: Final = 50  # requests in flight at most
DELAY_S: Final = 0.0  # slept after each request, holding its slot
LIST_PATH: Final = "/api/sportsbook/v4/events/lists/by-queries"
EVENT_PATH: Final = "/api/sportsbook/v4/events/{event_id}"
LIST_TAKE: Final = 100  # the API caps `take` at 100
FOOTBALL_CATEGORY: Final = "2"
_MAX_PAGES: Final = 1000  # 100k events: a guard against a server that never returns a short page
_PAGE_WAVE: Final = 4  # list pages fetched at once

DEFAULT_HEADERS: Final[Mapping[str, str]] = {
    "x-pawa-brand": "betpawa-nigeria",
    "devicetype": "web",
    "accept": "application/json",  # v4 answers protobuf without it
    "accept-language": "en-GB,en-US;q=0.9,en;q=0.8",
    "user-agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/144.0.0.0 Safari/537.36"
    ),
}

_EP_EVENT: Final = "event"
_EP_LIST: Final = "events/lists/by-queries"
_DIGITS = re.compile(r"[0-9]+")
_LINE_SPECIFIER_KEYS: Final = ("total", "hcp")
_BLOB_MASK: Final = 0x9E3779B97F4A7C15  # the constant of BetPawa's web client (v3 probability blobs)
_BLOB_MAX_CHARS: Final = 1024  # a blob is ~100 characters; anything far longer is not one
_U64: Final = 1 << 64
_I64_MIN: Final = -(1 << 63)

log = structlog.get_logger(__name__)


# --------------------------------------------------------------------------------------------------
# parsing (pure)
# --------------------------------------------------------------------------------------------------


def _fail(cause: str) -> SourceError:
    return SourceError(BOOKMAKER, _EP_EVENT, cause)


def _id_string(value: object) -> str | None:
    """An id as the API sends it (string; ints tolerated), or None when unusable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _sportradar_id(widgets: object) -> str:
    if not isinstance(widgets, list):
        raise _fail("no SPORTRADAR widget (widgets missing)")
    for widget in widgets:
        if isinstance(widget, Mapping) and widget.get("type") == "SPORTRADAR":
            raw = _id_string(widget.get("id"))
            if raw is None or not _DIGITS.fullmatch(raw):
                raise _fail(f"malformed SPORTRADAR id {widget.get('id')!r}")
            return raw
    raise _fail("no SPORTRADAR widget")


def _teams(participants: object) -> tuple[str, str]:
    if not isinstance(participants, list):
        raise _fail("participants missing")
    names: dict[int, str] = {}
    for participant in participants:
        if not isinstance(participant, Mapping):
            continue
        position = participant.get("position")
        name = participant.get("name")
        if isinstance(position, int) and _is_int(position) and isinstance(name, str) and name.strip():
            names.setdefault(position, name.strip())
    if 1 not in names or 2 not in names:
        raise _fail("participants lack a home (position 1) and an away (position 2) team")
    return names[1], names[2]


def _kickoff(value: object) -> datetime:
    try:
        return parse_ts(value, "startTime")
    except (ValueError, OverflowError) as exc:
        raise _fail(f"bad startTime {value!r}") from exc


def _number(value: object) -> float | None:
    """A JSON number (or numeric string, as 64-bit values sometimes are), else None."""
    if isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        result = float(value)
    except (ValueError, OverflowError):  # "abc", 10**400
        return None
    return result if math.isfinite(result) else None


def _row_line(row: Mapping[str, Any]) -> tuple[bool, float | None]:
    """(ok, line): line = row.handicap / 4 (quarter units), None for a non-line row.

    Cross-checked with the v4 ``row.specifier`` (real units) when present; v3 specifiers are in
    the same x4 units as ``handicap`` and are accepted too.
    """
    if "handicap" not in row or row["handicap"] is None:
        return True, None
    raw = row["handicap"]
    quarters = _number(raw)
    if quarters is None:
        return False, None
    line = quarters / 4
    specifier = row.get("specifier")
    if isinstance(specifier, Mapping):
        for key in _LINE_SPECIFIER_KEYS:
            declared = _number(specifier.get(key))
            if declared is not None and not (math.isclose(declared, line) or math.isclose(declared, quarters)):
                return False, None
    return True, line


def _chance(value: object) -> float | None:
    """A probability: a finite number in [0, 1] (``-0.0`` read as ``0.0``), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value) + 0.0
    except OverflowError:  # an int beyond the double range
        return None
    return result if math.isfinite(result) and 0.0 <= result <= 1.0 else None


def _blob_int(value: object) -> int | None:
    """One integer of a v3 blob as its unsigned 64-bit pattern (two's complement), else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not _I64_MIN <= value < _U64:
        return None
    return value % _U64


def _unmask(value: int, key: int) -> float | None:
    """``value XOR key XOR C`` read as a big-endian IEEE-754 double, if that is a probability."""
    (result,) = struct.unpack(">d", (value ^ key ^ _BLOB_MASK).to_bytes(8, "big"))
    return _chance(result)


def _decode_blob(blob: str) -> tuple[float | None, float | None]:
    """The (win, refund) of a v3 blob: base64 of ``{"win": int, "refund": int, "key": int}``."""
    text = blob.strip()
    if not text or len(text) > _BLOB_MAX_CHARS:
        return None, None
    text = text.translate(str.maketrans("-_", "+/"))  # the URL-safe alphabet, too
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        fields = json.loads(raw)  # integers stay Python ints: exact beyond 2**53
    except (binascii.Error, ValueError, RecursionError):  # not base64, not UTF-8, not JSON
        return None, None
    if not isinstance(fields, dict):
        return None, None
    key, win, refund = (_blob_int(fields.get(k)) for k in ("key", "win", "refund"))
    if key is None or win is None or refund is None:
        return None, None
    chances = _unmask(win, key), _unmask(refund, key)
    # one blob, one key: if either half is not a probability, neither half can be trusted
    return chances if None not in chances else (None, None)


def decode_probability(value: object) -> tuple[float | None, float | None]:
    """BetPawa's fair ``(win, refund)`` of one price, each None when absent or unreadable.

    v4 sends a plain object ``{"win": float, "refund": float}`` (each value read on its own); the
    retired v3 sends a base64 blob (markets.md §7), decoded as one unit. Never raises.
    """
    if isinstance(value, Mapping):
        return _chance(value.get("win")), _chance(value.get("refund"))
    if isinstance(value, str):
        return _decode_blob(value)
    return None, None


def _outcome(price: Mapping[str, Any]) -> Outcome | None:
    """One price as an outcome, or None when it has no usable name/odds."""
    name = price.get("name")
    if not isinstance(name, str) or not name:
        return None
    raw = price["odds"] if "odds" in price else price.get("price", 0.0)  # absent = default 0
    odds = _number(raw)
    if odds is None:
        return None
    win, refund = decode_probability(price.get("probability"))
    if price.get("suspended") is True or odds <= 1.0:
        return Outcome(name=name, price=None, suspended=True, probability=win, refund_probability=refund)
    return Outcome(name=name, price=odds, suspended=False, probability=win, refund_probability=refund)


def _count(unmapped: dict[str, int], reason: str, n: int = 1) -> None:
    unmapped[reason] = unmapped.get(reason, 0) + n


def _market_quotes(market: object, unmapped: dict[str, int]) -> list[Quote]:
    """Every quote of one market: one per line; non-line rows are merged into one outcome set."""
    if not isinstance(market, Mapping):
        _count(unmapped, "market_not_object")
        return []
    market_type = market.get("marketType")
    if not isinstance(market_type, Mapping):
        _count(unmapped, "no_market_type")
        return []
    market_id = _id_string(market_type.get("id"))
    if market_id is None:
        _count(unmapped, "no_market_type_id")
        return []
    display = market_type.get("displayName")
    fallback = market_type.get("name")
    market_name = (
        display
        if isinstance(display, str) and display
        else fallback
        if isinstance(fallback, str) and fallback
        else market_id
    )
    rows = market.get("row", [])
    if not isinstance(rows, list) or not rows:
        _count(unmapped, "no_rows")
        return []

    groups: dict[float | None, dict[str, Outcome]] = {}
    for row in rows:
        if not isinstance(row, Mapping):
            _count(unmapped, "row_not_object")
            continue
        ok, line = _row_line(row)
        if not ok:
            _count(unmapped, "bad_line")
            continue
        prices = row.get("prices", [])
        if not isinstance(prices, list):
            _count(unmapped, "bad_prices")
            continue
        outcomes = groups.setdefault(line, {})
        for price in prices:
            outcome = _outcome(price) if isinstance(price, Mapping) else None
            if outcome is None:
                _count(unmapped, "bad_price")
            elif outcome.name in outcomes:
                _count(unmapped, "duplicate_outcome")
            else:
                outcomes[outcome.name] = outcome

    quotes: list[Quote] = []
    for line, outcomes in groups.items():
        if not outcomes:
            _count(unmapped, "no_outcomes")
            continue
        quotes.append(Quote(market_id=market_id, market_name=market_name, line=line, outcomes=tuple(outcomes.values())))
    return quotes


def parse_event(payload: Mapping[str, Any]) -> ParsedEvent:
    """Parse one v4 event-detail payload (``GET /api/sportsbook/v4/events/{id}``).

    Raises ``SourceError("betpawa", "event", cause)`` for anything that is not a usable event
    (not an object, no id, no SPORTRADAR id, no teams, no/ bad ``startTime``). Markets that cannot
    be read are counted in ``ParsedEvent.unmapped`` by reason.
    """
    if not isinstance(payload, Mapping):
        raise _fail(f"payload is not an object ({type(payload).__name__})")
    event_id = _id_string(payload.get("id"))
    if event_id is None:
        raise _fail("event has no id")
    sportradar_id = _sportradar_id(payload.get("widgets"))
    home, away = _teams(payload.get("participants"))
    if "startTime" not in payload:
        raise _fail("event has no startTime")
    kickoff = _kickoff(payload["startTime"])
    competition = payload.get("competition")
    tournament = ""
    if isinstance(competition, Mapping) and isinstance(competition.get("name"), str):
        tournament = competition["name"]
    region = payload.get("region")
    country = region["name"] if isinstance(region, Mapping) and isinstance(region.get("name"), str) else ""

    markets = payload.get("markets", [])  # v4 omits an empty array
    if not isinstance(markets, list):
        raise _fail("markets is not a list")
    unmapped: dict[str, int] = {}
    quotes: list[Quote] = []
    for market in markets:
        quotes.extend(_market_quotes(market, unmapped))

    return ParsedEvent(
        bookmaker=BOOKMAKER,
        sportradar_id=sportradar_id,
        bookmaker_event_id=event_id,
        home_team=home,
        away_team=away,
        tournament=tournament,
        kickoff_at=kickoff,
        markets=tuple(quotes),
        unmapped=unmapped,
        country=country,
    )


def build_list_query(
    *,
    skip: int = 0,
    take: int = LIST_TAKE,
    event_type: str = "UPCOMING",
    competitions: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The ``q`` JSON of ``events/lists/by-queries``; no competitions = every football event."""
    zones: dict[str, Any] = {} if competitions is None else {"competitions": list(competitions)}
    return {
        "queries": [
            {
                "query": {
                    "eventType": event_type,
                    "categories": [FOOTBALL_CATEGORY],
                    "zones": zones,
                    "hasOdds": True,
                },
                "view": {},
                "skip": skip,
                "take": take,
            }
        ]
    }


def parse_event_list(payload: object) -> list[str]:
    """Event ids of one ``by-queries`` page (``responses[0].responses[].id``)."""
    if not isinstance(payload, Mapping):
        raise SourceError(BOOKMAKER, _EP_LIST, "payload is not an object")
    outer = payload.get("responses", [])
    if not isinstance(outer, list):
        raise SourceError(BOOKMAKER, _EP_LIST, "responses is not a list")
    if not outer:
        return []
    first = outer[0]
    if not isinstance(first, Mapping):
        raise SourceError(BOOKMAKER, _EP_LIST, "responses[0] is not an object")
    items = first.get("responses", [])
    if not isinstance(items, list):
        raise SourceError(BOOKMAKER, _EP_LIST, "responses[0].responses is not a list")
    ids: list[str] = []
    for item in items:
        event_id = _id_string(item.get("id")) if isinstance(item, Mapping) else None
        if event_id is None:
            raise SourceError(BOOKMAKER, _EP_LIST, "list item without an id")
        ids.append(event_id)
    return ids


def parse_event_summaries(payload: object) -> list[tuple[str, str | None, datetime | None]]:
    """(event id, SR id or None, kickoff or None) of one ``by-queries`` page.

    The list may lack ``widgets`` (then the SR id is only known from the event detail).
    """
    ids = parse_event_list(payload)
    assert isinstance(payload, Mapping)
    items = payload["responses"][0]["responses"] if ids else []
    out: list[tuple[str, str | None, datetime | None]] = []
    for event_id, item in zip(ids, items, strict=True):
        try:
            sr_id: str | None = _sportradar_id(item.get("widgets"))
        except SourceError:
            sr_id = None
        try:
            kickoff: datetime | None = _kickoff(item.get("startTime"))
        except SourceError:
            kickoff = None
        out.append((event_id, sr_id, kickoff))
    return out


# --------------------------------------------------------------------------------------------------
# HTTP client
# --------------------------------------------------------------------------------------------------


class BetPawaClient:
    """BetPawa v4 over HTTP: event ids (all football, paged) and event details.

    Timeouts, connection errors, 5xx and 403 (Cloudflare throttling) are retried with jittered
    exponential backoff; every failure surfaces as ``SourceError(bookmaker, endpoint, cause)``;
    a 404 on an event has cause ``"gone"``.
    """

    def __init__(
        self,
        base_url: str,
        session: aiohttp.ClientSession,
        *,
        concurrency: int = IN_FLIGHT,
        timeout_s: float = 10,
        attempts: int = 3,
        backoff_s: float = 0.5,
        delay_s: float = DELAY_S,
        brand: str = "betpawa-nigeria",
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._http = JsonClient(
            BOOKMAKER,
            base_url,
            session,
            headers={**DEFAULT_HEADERS, "x-pawa-brand": brand},
            concurrency=concurrency,
            delay_s=delay_s,
            timeout_s=timeout_s,
            attempts=attempts,
            backoff_s=backoff_s,
            sleep=sleep,
            rng=rng,
            require_json_type=True,
        )

    async def discover(self, errors: list[SourceError]) -> list[Target]:
        """Every football event listed, paging ``skip`` by ``take=100`` in waves of a few pages at once
        (the count is only known from a short page); a failed page is appended to ``errors``."""
        targets: dict[str, Target] = {}
        page = 0
        while True:
            wave = range(page, page + _PAGE_WAVE)
            results = await asyncio.gather(*(self.list_page(p * LIST_TAKE) for p in wave), return_exceptions=True)
            short = answered = False
            for result in results:
                if isinstance(result, SourceError):
                    errors.append(result)
                    continue
                if isinstance(result, BaseException):
                    raise result
                answered = True
                for event_id, sr_id, kickoff in result:
                    # pages shift while events start; keep the first sighting
                    targets.setdefault(event_id, Target(BOOKMAKER, event_id, sr_id, kickoff))
                short = short or len(result) < LIST_TAKE
            page += _PAGE_WAVE
            if short or not answered:  # the list's end; or no page of the wave answered: it is down
                return list(targets.values())
            if page >= _MAX_PAGES:
                raise SourceError(BOOKMAKER, _EP_LIST, f"more than {_MAX_PAGES} pages")

    async def list_page(self, skip: int) -> list[tuple[str, str | None, datetime | None]]:
        """One page (``take=100``) of event summaries: (id, SR id or None, kickoff or None)."""
        query = build_list_query(skip=skip, take=LIST_TAKE)
        params = {"q": json.dumps(query, separators=(",", ":"))}
        return parse_event_summaries(await self._get_json(_EP_LIST, LIST_PATH, params))

    async def fetch_event(self, event_id: str) -> dict[str, Any]:
        """The raw v4 event detail; ``SourceError(cause="gone")`` when BetPawa answers 404."""
        if not _DIGITS.fullmatch(event_id):
            raise SourceError(BOOKMAKER, _EP_EVENT, f"bad event id {event_id!r}")
        payload = await self._get_json(_EP_EVENT, EVENT_PATH.format(event_id=event_id), None)
        if not isinstance(payload, dict) or "id" not in payload:
            raise SourceError(BOOKMAKER, _EP_EVENT, "response is not an event object")
        return payload

    async def _get_json(self, endpoint: str, path: str, params: Mapping[str, str] | None) -> Any:
        return await self._http.get_json(endpoint, path, params)


def _parse_listed(payload: Any, listed_sportradar_id: str | None) -> ParsedEvent:
    return parse_event(payload)  # the detail always carries its SportRadar id (widgets)


BOOK: Final = Bookmaker(
    name=BOOKMAKER,
    live_url="https://www.betpawa.ng",
    in_flight=IN_FLIGHT,
    delay_s=DELAY_S,
    client=BetPawaClient,
    parse_event=_parse_listed,
)
