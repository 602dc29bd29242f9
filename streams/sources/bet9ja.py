"""Bet9ja (sports.bet9ja.com): parser to the canonical model and client.

``parse_event`` turns one ``GetEvent`` (or live ``GetLiveEvent``) answer into a ``ParsedEvent``
(pure, no I/O). The whole market model lives in the flat odds keys
``S_<CODE>[@<PARAM>]_<SUFFIX>``: keys are grouped by (code, param); combined home/away O/U codes are
split into two canonical markets; the param is the line (O/U) or the home handicap. The value
``"1"`` (live ``{"v": 1}``) is a locked placeholder, read as suspended. ``STARTDATE`` has no zone;
it is UTC by default (confirmed from real capture) and the zone is a parameter.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Final

import aiohttp
import structlog

from streams.sources import mapping as reg
from streams.sources.http import JsonClient
from streams.sources.model import Bookmaker, Outcome, ParsedEvent, Quote, SourceError, Target

__all__ = [
    "BOOK",
    "BOOKMAKER",
    "CACHE_VERSION",
    "DEFAULT_HEADERS",
    "EVENTS_PATH",
    "EVENT_PATH",
    "SPORTS_PATH",
    "Bet9jaClient",
    "parse_event",
    "parse_events_in_group",
    "parse_key",
    "parse_sports",
]

BOOKMAKER: Final = "bet9ja"
IN_FLIGHT: Final = 15  # requests in flight at most
DELAY_S: Final = 0.025  # slept after each request, holding its slot
SPORTS_PATH: Final = "/desktop/feapi/PalimpsestAjax/GetSports"
EVENTS_PATH: Final = "/desktop/feapi/PalimpsestAjax/GetEventsInGroupV2"
EVENT_PATH: Final = "/desktop/feapi/PalimpsestAjax/GetEvent"
CACHE_VERSION: Final = "1.301.2.225"
SOCCER: Final = "1"
_MAX_KEY: Final = 500
_KEY = re.compile(r"^(?:S|LIVES)_([A-Za-z0-9-]+)(?:@([^_]+))?_(.+)$")

DEFAULT_HEADERS: Final[Mapping[str, str]] = {
    "accept": "application/json, text/plain, */*",
    "accept-language": "en-GB,en-US;q=0.9,en;q=0.8",
    "user-agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/144.0.0.0 Safari/537.36"
    ),
}
_EP_EVENT: Final = "event"

log = structlog.get_logger(__name__)


def _fail(cause: str, endpoint: str = _EP_EVENT) -> SourceError:
    return SourceError(BOOKMAKER, endpoint, cause)


def unwrap(payload: object, endpoint: str, accepted: tuple[str, ...] = ("OK",)) -> Mapping[str, Any]:
    """``D`` of a ``{"R": "OK", "D": {...}}`` envelope; ``R == "E"`` is "gone"."""
    if not isinstance(payload, Mapping):
        raise _fail("payload is not an object", endpoint)
    status = payload.get("R")
    if status == "E":
        raise _fail("gone", endpoint)
    if status not in accepted:
        raise _fail(f"R {status!r}", endpoint)
    data = payload.get("D")
    if not isinstance(data, Mapping):
        raise _fail("D is not an object", endpoint)
    return data


def parse_key(key: str) -> tuple[str, str | None, str] | None:
    """(code, param, suffix) of an odds key, or None when it does not follow the grammar."""
    if len(key) > _MAX_KEY:
        return None
    match = _KEY.match(key)
    if match is None:
        return None
    return match.group(1), match.group(2), match.group(3)


def _odds(value: object) -> float | None:
    if isinstance(value, Mapping):  # live: {"v": 1.85}
        value = value.get("v")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        odds = float(value)
    except ValueError:
        return None
    return odds if odds == odds and odds != float("inf") else None


def _count(unmapped: dict[str, int], reason: str) -> None:
    unmapped[reason] = unmapped.get(reason, 0) + 1


def _split_quotes(code: str, param: str | None, prices: Mapping[str, float | None]) -> list[Quote]:
    try:
        line = float(param) if param is not None else None
    except ValueError:
        line = None
    if line is None:
        return []
    quotes = []
    for market_id, names in reg.B9_SPLITS[code]:
        entry = reg.by_betpawa(market_id)
        outcomes = {names[s]: reg.outcome(names[s], odds, True) for s, odds in prices.items() if s in names}
        if entry is not None and outcomes:
            ordered = tuple(outcomes[n] for n in entry.betpawa_names() if n in outcomes)
            quotes.append(Quote(market_id, reg.market_name(entry), line, ordered, len(outcomes) == 2))
    return quotes


def _group_quote(
    code: str, param: str | None, prices: Mapping[str, float | None], unmapped: dict[str, int]
) -> Quote | None:
    entry = reg.by_bet9ja(f"S_{code}")
    if entry is None:
        _count(unmapped, reg.UNKNOWN_MARKET)
        return None
    if entry.betpawa_id is None:
        _count(unmapped, reg.UNSUPPORTED_PLATFORM)
        return None
    line: float | None = None
    if code in reg.B9_TOTAL_CODES or code in reg.B9_HANDICAP_CODES:
        try:
            line = float(param) if param is not None else None
        except ValueError:
            line = None
        if line is None:
            _count(unmapped, reg.INVALID_SPECIFIER)
            return None
    elif param is not None:
        _count(unmapped, reg.UNKNOWN_PARAM_MARKET)
        return None
    names = {o.bet9ja: o.betpawa for o in entry.outcomes if o.bet9ja is not None}
    outcomes: dict[str, Outcome] = {}
    dropped = False
    for suffix, odds in prices.items():
        name = names.get(suffix)
        if name is None:
            dropped = True
            continue
        if odds is None:
            _count(unmapped, reg.INVALID_ODDS)
            continue
        outcomes[name] = reg.outcome(name, odds, True)
    if not outcomes:
        _count(unmapped, reg.NO_MATCHING_OUTCOMES)
        return None
    complete = not dropped and entry.expected("bet9ja") <= outcomes.keys()
    ordered = tuple(outcomes[n] for n in entry.betpawa_names() if n in outcomes)
    assert entry.betpawa_id is not None
    return Quote(entry.betpawa_id, reg.market_name(entry), line, ordered, complete)


def parse_odds(odds: Mapping[str, Any], unmapped: dict[str, int]) -> tuple[Quote, ...]:
    """Every canonical quote of a flat ``O`` dict; unknown or unusable groups are counted."""
    groups: dict[tuple[str, str | None], dict[str, float | None]] = {}
    for key, value in odds.items():
        parsed = parse_key(key) if isinstance(key, str) else None
        if parsed is None:
            _count(unmapped, "bad_key")
            continue
        code, param, suffix = parsed
        groups.setdefault((code, param), {})[suffix] = _odds(value)
    quotes: list[Quote] = []
    for (code, param), prices in groups.items():
        if code in reg.B9_SPLITS:
            split = _split_quotes(code, param, prices)
            if not split:
                _count(unmapped, reg.INVALID_SPECIFIER)
            quotes.extend(split)
            continue
        quote = _group_quote(code, param, prices, unmapped)
        if quote is not None:
            quotes.append(quote)
    return reg.merge_quotes(quotes)


def _header(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """Event fields: on ``D`` itself (prematch) or on ``D.AA`` + ``D.A`` (live)."""
    if "DS" in data:
        return data
    parts = [data.get("A") or {}, data.get("AA") or {}]
    if not all(isinstance(part, Mapping) for part in parts):
        raise _fail("malformed: D.A / D.AA must be objects")
    return {**parts[0], **parts[1]}


def _kickoff(value: object, zone: tzinfo) -> datetime:
    if not isinstance(value, str):
        raise _fail(f"bad STARTDATE {value!r}")
    try:
        naive = datetime.strptime(value.strip(), "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - zone applied next
    except ValueError as exc:
        raise _fail(f"bad STARTDATE {value!r}") from exc
    return naive.replace(tzinfo=zone).astimezone(UTC)


def _sr_id(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip().isdigit():
        raise _fail(f"no SportRadar id (EXTID {value!r})")
    return value.strip()


def _teams(value: object) -> tuple[str, str]:
    if not isinstance(value, str) or " - " not in value:
        raise _fail(f"DS {value!r} is not 'home - away'")
    home, away = value.split(" - ", 1)
    if not home.strip() or not away.strip():
        raise _fail(f"DS {value!r} is not 'home - away'")
    return home.strip(), away.strip()


def parse_event(payload: Mapping[str, Any], *, zone: tzinfo = UTC, sportradar_id: str | None = None) -> ParsedEvent:
    """Parse one ``GetEvent`` / ``GetLiveEvent`` answer (the whole envelope).

    Raises ``SourceError("bet9ja", "event", cause)`` for a bad envelope (``R == "E"``: "gone") or
    an event without an SR id, teams or start date; ``zone`` is the zone of ``STARTDATE``. The SR id
    is ``EXTID`` (live: also ``BRMATCHID``), else ``sportradar_id`` as discovered in the event list.
    """
    data = unwrap(payload, _EP_EVENT, ("OK", "D"))
    head = _header(data)
    sr_id = _sr_id(head.get("EXTID") or head.get("BRMATCHID") or sportradar_id)
    home, away = _teams(head.get("DS"))
    kickoff = _kickoff(head.get("STARTDATE"), zone)
    odds = data.get("O", {})
    if not isinstance(odds, Mapping):
        raise _fail("O is not an object")
    unmapped: dict[str, int] = {}
    quotes = parse_odds(odds, unmapped)
    event_id = head.get("ID")
    tournament = head.get("GN")
    country = head.get("SG")
    return ParsedEvent(
        bookmaker=BOOKMAKER,
        sportradar_id=sr_id,
        bookmaker_event_id=str(event_id) if event_id is not None else "",
        home_team=home,
        away_team=away,
        tournament=tournament if isinstance(tournament, str) else "",
        kickoff_at=kickoff,
        markets=quotes,
        unmapped=unmapped,
        country=country if isinstance(country, str) else "",
    )


def parse_sports(payload: object) -> list[str]:
    """Soccer group ids of ``GetSports`` (``D.PAL."1".SG.<id>.G.<group id>``)."""
    data = unwrap(payload, "sports")
    pal = data.get("PAL")
    soccer = pal.get(SOCCER) if isinstance(pal, Mapping) else None
    if not isinstance(soccer, Mapping):
        raise _fail("D.PAL.1 (soccer) missing", "sports")
    groups: list[str] = []
    for sub in (soccer.get("SG") or {}).values():
        if isinstance(sub, Mapping) and isinstance(sub.get("G"), Mapping):
            groups.extend(str(g) for g in sub["G"])
    return groups


def parse_events_in_group(payload: object) -> list[tuple[str, str, datetime]]:
    """(platform ``ID``, SR id, kickoff) of a group's events; events without ``EXTID`` are skipped."""
    data = unwrap(payload, "events")
    events = data.get("E")
    if not isinstance(events, list):
        raise _fail("D.E is not a list", "events")
    out: list[tuple[str, str, datetime]] = []
    for item in events:
        if not isinstance(item, Mapping) or "ID" not in item:
            raise _fail("event item without ID", "events")
        extid = item.get("EXTID")
        if not isinstance(extid, str) or not extid.isdigit():
            continue  # cannot be matched: by design, not an error
        out.append((str(item["ID"]), extid, _kickoff(item.get("STARTDATE"), UTC)))
    return out


class Bet9jaClient:
    """Bet9ja over HTTP: ``IN_FLIGHT`` requests in flight and ``DELAY_S`` after each by default (403 above)."""

    def __init__(
        self, base_url: str, session: aiohttp.ClientSession, *, cache_version: str = CACHE_VERSION, **options: Any
    ) -> None:
        options.setdefault("concurrency", IN_FLIGHT)
        options.setdefault("delay_s", DELAY_S)
        self.http = JsonClient(BOOKMAKER, base_url, session, headers=DEFAULT_HEADERS, **options)
        self._version = cache_version

    async def discover(self, errors: list[SourceError]) -> list[Target]:
        """(platform ``ID``, SR id, kickoff) of every soccer event with an SR id, groups fetched in
        parallel; a group that fails is appended to ``errors``. Events without an SR id cannot be
        matched (by design, not an error): they are counted in the log."""
        sports = await self.http.get_json("sports", SPORTS_PATH, {"DISP": "0", "v_cache_version": self._version})

        async def one(group: str) -> tuple[list[tuple[str, str, datetime]], int]:
            params = {"GROUPID": group, "DISP": "0", "GROUPMARKETID": "1", "v_cache_version": self._version}
            payload = await self.http.get_json("events", EVENTS_PATH, params)
            events = parse_events_in_group(payload)
            return events, len(payload["D"]["E"]) - len(events)

        targets: dict[str, Target] = {}
        without_sr = 0
        for result in await asyncio.gather(*(one(g) for g in parse_sports(sports)), return_exceptions=True):
            if isinstance(result, SourceError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                events, skipped = result
                without_sr += skipped
                for event_id, sr_id, kickoff in events:
                    targets.setdefault(event_id, Target(BOOKMAKER, event_id, sr_id, kickoff))
        if without_sr:
            log.info("scrape.unmatchable", bookmaker=BOOKMAKER, events_without_sportradar_id=without_sr)
        return list(targets.values())

    async def fetch_event(self, event_id: str) -> dict[str, Any]:
        if not event_id.isdigit():
            raise _fail(f"bad event id {event_id!r}")
        params = {"EVENTID": event_id, "v_cache_version": self._version}
        payload = await self.http.get_json(_EP_EVENT, EVENT_PATH, params)
        if not isinstance(payload, dict):
            raise _fail("response is not an object")
        return payload


def _parse_listed(payload: Any, listed_sportradar_id: str | None) -> ParsedEvent:
    # a live answer may lack EXTID: the SR id the event list gave is the fallback
    return parse_event(payload, sportradar_id=listed_sportradar_id)


BOOK: Final = Bookmaker(
    name=BOOKMAKER,
    live_url="https://sports.bet9ja.com",
    in_flight=IN_FLIGHT,
    delay_s=DELAY_S,
    client=Bet9jaClient,
    parse_event=_parse_listed,
)
