"""SportyBet (www.sportybet.com, Nigeria path ``/api/ng``): parser to the canonical model and client.

``parse_event`` turns one ``factsCenter/event`` payload into a ``ParsedEvent`` (pure, no I/O). Each
SportyBet market object (``id`` + ``specifier``) becomes at most one canonical quote; outcomes are
matched by their stable SportRadar outcome id, else by ``desc`` with the line stripped — never by
position (real descs embed the line: ``"Over 2.5"``, ``"Home (-0.5)"``, ``"Home (0:1)"``).
``SportyBetClient`` walks the tournament tree, the events of each tournament and event details.

Outcomes carry SportyBet's fair ``probability`` and ``voidProbability`` (decimal strings, markets.md
§7) as ``Outcome.probability`` / ``Outcome.refund_probability``; one it cannot read is left out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import aiohttp

from streams.sources import mapping as reg
from streams.sources.http import JsonClient
from streams.sources.mapping import MarketEntry
from streams.sources.model import Bookmaker, Outcome, ParsedEvent, Quote, SourceError, Target

__all__ = [
    "BOOK",
    "BOOKMAKER",
    "DEFAULT_HEADERS",
    "EVENTS_PATH",
    "EVENT_PATH",
    "TOURNAMENTS_PATH",
    "SportyBetClient",
    "parse_event",
    "parse_events_page",
    "parse_hcp",
    "parse_probability",
    "parse_specifier",
    "parse_tournaments",
]

BOOKMAKER: Final = "sportybet"
IN_FLIGHT: Final = 50  # requests in flight at most
DELAY_S: Final = 0.0  # slept after each request, holding its slot
TOURNAMENTS_PATH: Final = "/api/ng/factsCenter/popularAndSportList"
EVENTS_PATH: Final = "/api/ng/factsCenter/pcEvents"
EVENT_PATH: Final = "/api/ng/factsCenter/event"
FOOTBALL: Final = "sr:sport:1"
SR_PREFIX: Final = "sr:match:"
OK_CODE: Final = 10000
LIST_MARKETS: Final = "1,18,10,29,11,26,36,14"
_MAX_SPECIFIER: Final = 1000
_MAX_PROBABILITY_CHARS: Final = 64  # "0.1996510000", "0E-10": a few characters

DEFAULT_HEADERS: Final[Mapping[str, str]] = {
    "clientid": "web",
    "operid": "2",
    "platform": "web",
    "accept": "application/json",
    "accept-language": "en",
    "user-agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/144.0.0.0 Safari/537.36"
    ),
}

# Stable SportRadar outcome ids -> the registry's SportyBet desc (markets.md §2, confirmed from capture).
_OUTCOME_IDS: Final[Mapping[str, str]] = {
    "1": "Home",
    "2": "Draw",
    "3": "Away",
    "12": "Over",
    "13": "Under",
    "74": "Yes",
    "76": "No",
    "9": "Home or Draw",
    "10": "Home or Away",
    "11": "Draw or Away",
    "4": "Home",
    "5": "Away",
    "1714": "Home",
    "1715": "Away",
    "1711": "Home",
    "1712": "Draw",
    "1713": "Away",
    "70": "Odd",
    "72": "Even",
}
# A trailing line in a desc: "Over 2.5", "Under 2", "Home (-0.5)", "Away (+0.5)", "Draw (0:1)".
_TRAILING_LINE = re.compile(r"\s*(\([+-]?\d+(\.\d+)?(:\d+)?\)|[+-]?\d+(\.\d+)?)$")
_EP_EVENT: Final = "event"


def _fail(cause: str, endpoint: str = _EP_EVENT) -> SourceError:
    return SourceError(BOOKMAKER, endpoint, cause)


def unwrap(payload: object, endpoint: str) -> Any:
    """``data`` of a ``{"bizCode": 10000, "data": ...}`` envelope; anything else is a SourceError."""
    if not isinstance(payload, Mapping):
        raise _fail("payload is not an object", endpoint)
    if payload.get("bizCode") != OK_CODE:
        raise _fail(f"bizCode {payload.get('bizCode')!r}: {payload.get('message')!r}", endpoint)
    if "data" not in payload:
        raise _fail("envelope without data", endpoint)
    return payload["data"]


def parse_specifier(raw: str) -> dict[str, str]:
    """``key=value|key=value`` with lower-cased keys; a malformed pair raises ValueError."""
    if len(raw) > _MAX_SPECIFIER:
        raise ValueError("specifier too long")
    out: dict[str, str] = {}
    for part in raw.split("|"):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"bad specifier part {part!r}")
        out[key.strip().lower()] = value.strip()
    return out


def parse_hcp(raw: str) -> float:
    """The home handicap: ``X:Y`` (European) is X - Y; a single number (Asian) is itself."""
    if ":" in raw:
        home, away = raw.split(":", 1)
        return float(int(home) - int(away))
    return float(raw)


def _line(entry: MarketEntry, sb_id: str, specifier: object) -> tuple[str | None, float | None]:
    """(failure reason or None, line) for one market object."""
    if specifier is None or specifier == "":
        return None, None
    if not isinstance(specifier, str):
        return reg.INVALID_SPECIFIER, None
    try:
        spec = parse_specifier(specifier)
        if sb_id in reg.SB_TOTAL_IDS and "total" in spec:
            return None, float(spec["total"])
        if sb_id in reg.SB_HANDICAP_IDS and "hcp" in spec:
            return None, parse_hcp(spec["hcp"])
    except (ValueError, OverflowError):
        return reg.INVALID_SPECIFIER, None
    if (sb_id in reg.SB_VARIANT_IDS and "variant" in spec) or sb_id in reg.SB_TIME_WINDOW_IDS:
        return None, None
    return reg.UNKNOWN_PARAM_MARKET, None


def _canonical_name(entry: MarketEntry, raw: Mapping[str, Any]) -> str | None:
    """The BetPawa name of one SportyBet outcome: by stable id, else by desc without its line."""
    descs = {o.sportybet.lower(): o.betpawa for o in entry.outcomes if o.sportybet is not None}
    by_id = _OUTCOME_IDS.get(str(raw.get("id", "")))
    if by_id is not None and by_id.lower() in descs:
        return descs[by_id.lower()]
    desc = raw.get("desc")
    if not isinstance(desc, str):
        return None
    text = desc.strip().lower()
    if text in descs:
        return descs[text]
    stripped = _TRAILING_LINE.sub("", text)
    return descs.get(stripped)


def _odds(raw: object) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def parse_probability(raw: object) -> float | None:
    """A probability as SportyBet sends it (``"0.1996510000"``, ``"0E-10"``): in [0, 1], else None.

    Read as an exact decimal (scientific notation occurs) and only then rounded to a float; a number
    is accepted too. Never raises.
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    if isinstance(raw, str) and len(raw) > _MAX_PROBABILITY_CHARS:
        return None
    try:
        value = Decimal(raw.strip() if isinstance(raw, str) else raw)
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite() or not 0 <= value <= 1:
        return None
    return float(value) + 0.0  # "-0E-10" is 0.0


def _with_chances(outcome: Outcome, raw: Mapping[str, Any]) -> Outcome:
    probability = parse_probability(raw.get("probability"))
    refund = parse_probability(raw.get("voidProbability"))
    if probability is None and refund is None:
        return outcome
    return dataclasses.replace(outcome, probability=probability, refund_probability=refund)


def _market_quote(market: object, unmapped: dict[str, int]) -> Quote | None:
    if not isinstance(market, Mapping):
        _count(unmapped, "market_not_object")
        return None
    sb_id = str(market.get("id", ""))
    entry = reg.by_sportybet(sb_id)
    if entry is None:
        _count(unmapped, reg.UNKNOWN_MARKET)
        return None
    if entry.betpawa_id is None:
        _count(unmapped, reg.UNSUPPORTED_PLATFORM)
        return None
    reason, line = _line(entry, sb_id, market.get("specifier"))
    if reason is not None:
        _count(unmapped, reason)
        return None
    raw_outcomes = market.get("outcomes")
    if not isinstance(raw_outcomes, list):
        _count(unmapped, reg.NO_MATCHING_OUTCOMES)
        return None
    outcomes: dict[str, Outcome] = {}
    dropped = False
    for raw in raw_outcomes:
        if not isinstance(raw, Mapping):
            dropped = True
            continue
        name = _canonical_name(entry, raw)
        if name is None:
            dropped = True  # a competitor outcome with no BetPawa equivalent (or unrecognised)
            continue
        odds = _odds(raw.get("odds"))
        if odds is None:
            _count(unmapped, reg.INVALID_ODDS)
            dropped = True
            continue
        if name not in outcomes:
            outcomes[name] = _with_chances(reg.outcome(name, odds, raw.get("isActive") == 1), raw)
    if not outcomes:
        _count(unmapped, reg.NO_MATCHING_OUTCOMES)
        return None
    complete = not dropped and entry.expected("sportybet") <= outcomes.keys()
    ordered = tuple(outcomes[n] for n in entry.betpawa_names() if n in outcomes)
    return Quote(entry.betpawa_id, reg.market_name(entry), line, ordered, complete)


def _count(unmapped: dict[str, int], reason: str) -> None:
    unmapped[reason] = unmapped.get(reason, 0) + 1


def sportradar_id(event_id: object) -> str:
    if not isinstance(event_id, str) or not event_id.startswith(SR_PREFIX):
        raise _fail(f"eventId {event_id!r} is not sr:match:<n>")
    digits = event_id[len(SR_PREFIX) :]
    if not digits.isdigit():
        raise _fail(f"eventId {event_id!r} is not sr:match:<n>")
    return digits


def _kickoff(value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _fail(f"bad estimateStartTime {value!r}")
    try:
        return datetime.fromtimestamp(float(value) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise _fail(f"bad estimateStartTime {value!r}") from exc


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{key} missing")
    return value.strip()


def _tournament(data: Mapping[str, Any]) -> str:
    sport = data.get("sport")
    category = sport.get("category") if isinstance(sport, Mapping) else None
    tournament = category.get("tournament") if isinstance(category, Mapping) else None
    name = tournament.get("name") if isinstance(tournament, Mapping) else None
    return name if isinstance(name, str) else ""


def _country(data: Mapping[str, Any]) -> str:
    sport = data.get("sport")
    category = sport.get("category") if isinstance(sport, Mapping) else None
    name = category.get("name") if isinstance(category, Mapping) else None
    return name if isinstance(name, str) else ""


def parse_event(payload: Mapping[str, Any]) -> ParsedEvent:
    """Parse one ``factsCenter/event`` answer (the whole envelope).

    Raises ``SourceError("sportybet", "event", cause)`` for a bad envelope or an event without
    an SR id, teams or kickoff; markets that cannot be mapped are counted in ``unmapped`` by reason.
    """
    data = unwrap(payload, _EP_EVENT)
    if not isinstance(data, Mapping):
        raise _fail("data is not an object")
    event_id = data.get("eventId")
    sr_id = sportradar_id(event_id)
    if "estimateStartTime" not in data:
        raise _fail("estimateStartTime missing")
    kickoff = _kickoff(data["estimateStartTime"])
    markets = data.get("markets", [])
    if not isinstance(markets, list):
        raise _fail("markets is not a list")
    unmapped: dict[str, int] = {}
    quotes = [q for m in markets if (q := _market_quote(m, unmapped)) is not None]
    return ParsedEvent(
        bookmaker=BOOKMAKER,
        sportradar_id=sr_id,
        bookmaker_event_id=str(event_id),
        home_team=_text(data, "homeTeamName"),
        away_team=_text(data, "awayTeamName"),
        tournament=_tournament(data),
        kickoff_at=kickoff,
        markets=reg.merge_quotes(quotes),
        unmapped=unmapped,
        country=_country(data),
    )


def parse_tournaments(payload: object) -> list[str]:
    """Football tournament ids (``sr:tournament:<n>``) of ``popularAndSportList``."""
    data = unwrap(payload, "tournaments")
    sports = data.get("sportList") if isinstance(data, Mapping) else None
    if not isinstance(sports, list):
        raise _fail("data.sportList missing", "tournaments")
    ids: list[str] = []
    for sport in sports:
        if not isinstance(sport, Mapping) or sport.get("id") != FOOTBALL:
            continue
        for category in sport.get("categories") or []:
            for tournament in (category.get("tournaments") or []) if isinstance(category, Mapping) else []:
                if isinstance(tournament, Mapping) and isinstance(tournament.get("id"), str):
                    ids.append(tournament["id"])
    return ids


def parse_events_page(payload: object) -> list[tuple[str, datetime]]:
    """(``sr:match:<n>``, kickoff) of every event in a ``pcEvents`` answer (``data[].events[]``)."""
    data = unwrap(payload, "events")
    if not isinstance(data, list):
        raise _fail("data is not a list", "events")
    out: list[tuple[str, datetime]] = []
    for block in data:
        events = block.get("events") if isinstance(block, Mapping) else None
        if not isinstance(events, list):
            raise _fail("data[].events is not a list", "events")
        for item in events:
            if not isinstance(item, Mapping):
                raise _fail("event item is not an object", "events")
            event_id = item.get("eventId")
            sportradar_id(event_id)
            out.append((str(event_id), _kickoff(item.get("estimateStartTime"))))
    return out


class SportyBetClient:
    """SportyBet over HTTP: tournament tree, events per tournament (POST), event details.

    The retry and failure rules are ``JsonClient``'s; a 2xx without a ``bizCode`` JSON body (the
    202-empty soft block) is retried as "blocked", never read as "no events".
    """

    def __init__(self, base_url: str, session: aiohttp.ClientSession, **options: Any) -> None:
        options.setdefault("concurrency", IN_FLIGHT)
        self.http = JsonClient(BOOKMAKER, base_url, session, headers=DEFAULT_HEADERS, **options)

    async def discover(self, errors: list[SourceError]) -> list[Target]:
        """Every football event (``sr:match:<n>``, kickoff) of the tournament tree, tournaments fetched in
        parallel; a tournament that fails is appended to ``errors``."""
        tree = await self.http.get_json("tournaments", TOURNAMENTS_PATH, self._params(sportId=FOOTBALL))

        async def one(tournament_id: str) -> list[tuple[str, datetime]]:
            body = [{"sportId": FOOTBALL, "marketId": LIST_MARKETS, "tournamentId": [[tournament_id]]}]
            return parse_events_page(await self.http.post_json("events", EVENTS_PATH, body))

        targets: dict[str, Target] = {}
        for result in await asyncio.gather(*(one(t) for t in parse_tournaments(tree)), return_exceptions=True):
            if isinstance(result, SourceError):
                errors.append(result)
            elif isinstance(result, BaseException):
                raise result
            else:
                for event_id, kickoff in result:
                    targets.setdefault(event_id, Target(BOOKMAKER, event_id, sportradar_id(event_id), kickoff))
        return list(targets.values())

    async def fetch_event(self, event_id: str) -> dict[str, Any]:
        """The raw ``factsCenter/event`` envelope of ``sr:match:<n>`` (prematch product)."""
        sportradar_id(event_id)
        payload = await self.http.get_json(_EP_EVENT, EVENT_PATH, self._params(eventId=event_id))
        if not isinstance(payload, dict):
            raise _fail("response is not an object")
        return payload

    @staticmethod
    def _params(**extra: str) -> dict[str, str]:
        return {**extra, "productId": "3", "_t": str(int(time.time() * 1000))}


def _parse_listed(payload: Any, listed_sportradar_id: str | None) -> ParsedEvent:
    return parse_event(payload)  # the SportRadar id is the event id itself


BOOK: Final = Bookmaker(
    name=BOOKMAKER,
    live_url="https://www.sportybet.com",
    in_flight=IN_FLIGHT,
    delay_s=DELAY_S,
    client=SportyBetClient,
    parse_event=_parse_listed,
)
