"""One scrape cycle over the three bookmakers (no Faust, no broker): discover, match, fetch, parse.

``Sources`` holds one client per bookmaker for the life of a process, so every run shares the
bookmakers' limits (BetPawa 50, SportyBet 50, Bet9ja 15 in flight, Bet9ja 25 ms after each request).
``run_cycle`` discovers on the wanted bookmakers in parallel and fetches each event from every
bookmaker that lists it, most urgent kickoff first (ties broken by SportRadar id, so the three books
walk the same order). Each bookmaker starts fetching as soon as its own discovery is done and works
through its list with as many workers as its limit, so the slowest book (Bet9ja) is never idle and
the others are not held back by it. Events are matched across books by SportRadar id: the scope of a
request, the counts of the run and the key of every observation. Each parsed board
is handed to ``on_observed`` as soon as it is parsed; every failure is counted and reported with
its bookmaker, endpoint and cause, and the cycle goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import aiohttp
import structlog

from streams.sources import bet9ja, betpawa, sportybet
from streams.sources.bet9ja import Bet9jaClient
from streams.sources.betpawa import LIST_TAKE, BetPawaClient
from streams.sources.model import ParsedEvent, SourceError
from streams.sources.sportybet import SportyBetClient

__all__ = [
    "BOOKMAKERS",
    "LIMITS",
    "BookCounts",
    "CycleResult",
    "Sources",
    "Target",
    "match_targets",
    "run_cycle",
]

BOOKMAKERS: Final = ("betpawa", "sportybet", "bet9ja")
LIMITS: Final[Mapping[str, int]] = {"betpawa": 50, "sportybet": 50, "bet9ja": 15}
BET9JA_DELAY_S: Final = 0.025
_BETPAWA_PAGE_WAVE: Final = 4  # list pages fetched at once (the count is only known from a short page)
_FAR_FUTURE: Final = datetime.max.replace(tzinfo=UTC)

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Target:
    """One event as one bookmaker lists it: what to fetch."""

    bookmaker: str
    event_id: str  # the bookmaker's own id (SportyBet: sr:match:<n>)
    sportradar_id: str | None  # None: only the event detail will say (BetPawa list without widgets)
    kickoff_at: datetime | None


@dataclass(slots=True)
class BookCounts:
    listed: int = 0  # events discovered (in scope)
    events: int = 0  # boards observed
    markets: int = 0  # canonical quotes in those boards
    unmapped: int = 0  # markets the parser could not map, all reasons
    errors: int = 0  # failures: discovery pages and events

    def to_json(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "events": self.events,
            "markets": self.markets,
            "unmapped": self.unmapped,
            "errors": self.errors,
        }


@dataclass(slots=True)
class CycleResult:
    counts: dict[str, BookCounts]
    errors: list[SourceError] = field(default_factory=list)
    matched: dict[int, int] = field(default_factory=dict)  # number of books -> events listed on that many
    discovery_s: float = 0.0
    elapsed_s: float = 0.0

    @property
    def observed(self) -> int:
        return sum(c.events for c in self.counts.values())

    @property
    def failed(self) -> int:
        return sum(c.errors for c in self.counts.values())


class _Client(Protocol):
    async def fetch_event(self, event_id: str) -> dict[str, Any]: ...


class Sources:
    """The bookmaker clients of one process (one shared aiohttp session, per-bookmaker limits)."""

    def __init__(
        self,
        urls: Mapping[str, str],
        session: aiohttp.ClientSession,
        *,
        timeout_s: float = 10.0,
        attempts: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        self.urls = dict(urls)
        common: dict[str, Any] = {"timeout_s": timeout_s, "attempts": attempts, "backoff_s": backoff_s}
        self.clients: dict[str, Any] = {}
        if "betpawa" in urls:
            self.clients["betpawa"] = BetPawaClient(urls["betpawa"], session, concurrency=LIMITS["betpawa"], **common)
        if "sportybet" in urls:
            self.clients["sportybet"] = SportyBetClient(
                urls["sportybet"], session, concurrency=LIMITS["sportybet"], **common
            )
        if "bet9ja" in urls:
            self.clients["bet9ja"] = Bet9jaClient(
                urls["bet9ja"], session, concurrency=LIMITS["bet9ja"], delay_s=BET9JA_DELAY_S, **common
            )

    @property
    def bookmakers(self) -> list[str]:
        return [bm for bm in BOOKMAKERS if bm in self.clients]


# -- discovery ------------------------------------------------------------------------------------


async def _discover_betpawa(client: BetPawaClient, errors: list[SourceError]) -> list[Target]:
    targets: dict[str, Target] = {}
    page = 0
    while True:
        wave = range(page, page + _BETPAWA_PAGE_WAVE)
        results = await asyncio.gather(*(client.list_page(p * LIST_TAKE) for p in wave), return_exceptions=True)
        done = False
        for result in results:
            if isinstance(result, SourceError):
                errors.append(result)
                continue
            if isinstance(result, BaseException):
                raise result
            for event_id, sr_id, kickoff in result:
                targets.setdefault(event_id, Target("betpawa", event_id, sr_id, kickoff))
            done = done or len(result) < LIST_TAKE
        page += _BETPAWA_PAGE_WAVE
        if done or page >= 1000:
            return list(targets.values())


async def _gather_pages(calls: Sequence[Awaitable[Any]], errors: list[SourceError]) -> list[Any]:
    pages = []
    for result in await asyncio.gather(*calls, return_exceptions=True):
        if isinstance(result, SourceError):
            errors.append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            pages.append(result)
    return pages


async def _discover_sportybet(client: SportyBetClient, errors: list[SourceError]) -> list[Target]:
    http = client.http
    tree = await http.get_json("tournaments", sportybet.TOURNAMENTS_PATH, client._params(sportId=sportybet.FOOTBALL))

    async def one(tournament_id: str) -> list[tuple[str, datetime]]:
        body = [{"sportId": sportybet.FOOTBALL, "marketId": sportybet.LIST_MARKETS, "tournamentId": [[tournament_id]]}]
        return sportybet.parse_events_page(await http.post_json("events", sportybet.EVENTS_PATH, body))

    pages = await _gather_pages([one(t) for t in sportybet.parse_tournaments(tree)], errors)
    targets: dict[str, Target] = {}
    for page in pages:
        for event_id, kickoff in page:
            targets.setdefault(event_id, Target("sportybet", event_id, sportybet.sportradar_id(event_id), kickoff))
    return list(targets.values())


async def _discover_bet9ja(client: Bet9jaClient, errors: list[SourceError]) -> tuple[list[Target], int]:
    http, version = client.http, client._version
    sports = await http.get_json("sports", bet9ja.SPORTS_PATH, {"DISP": "0", "v_cache_version": version})

    async def one(group: str) -> tuple[list[tuple[str, str, datetime]], int]:
        params = {"GROUPID": group, "DISP": "0", "GROUPMARKETID": "1", "v_cache_version": version}
        payload = await http.get_json("events", bet9ja.EVENTS_PATH, params)
        events = bet9ja.parse_events_in_group(payload)
        return events, len(payload["D"]["E"]) - len(events)

    pages = await _gather_pages([one(g) for g in bet9ja.parse_sports(sports)], errors)
    targets: dict[str, Target] = {}
    without_sr = 0
    for events, skipped in pages:
        without_sr += skipped
        for event_id, sr_id, kickoff in events:
            targets.setdefault(event_id, Target("bet9ja", event_id, sr_id, kickoff))
    return list(targets.values()), without_sr


async def _discover(bm: str, client: Any, errors: list[SourceError]) -> list[Target]:
    if bm == "betpawa":
        return await _discover_betpawa(client, errors)
    if bm == "sportybet":
        return await _discover_sportybet(client, errors)
    targets, without_sr = await _discover_bet9ja(client, errors)
    if without_sr:
        log.info("scrape.unmatchable", bookmaker=bm, events_without_sportradar_id=without_sr)
    return targets


def match_targets(
    targets: Mapping[str, Sequence[Target]], sportradar_ids: Sequence[str] = ()
) -> tuple[dict[str, list[Target]], dict[int, int]]:
    """Each bookmaker's targets in scope, most urgent kickoff first, and how many books list each event.

    Events are matched by SportRadar id; with ``sportradar_ids`` only those are kept (a target whose
    SR id is not known yet is kept: its detail decides). Ties break by SR id, so the three books walk
    the same order.
    """
    wanted = set(sportradar_ids)
    kickoff: dict[str, datetime] = {}
    books: dict[str, set[str]] = {}
    for bm, ts in targets.items():
        for t in ts:
            if t.sportradar_id is None:
                continue
            books.setdefault(t.sportradar_id, set()).add(bm)
            if t.kickoff_at is not None:
                kickoff[t.sportradar_id] = min(kickoff.get(t.sportradar_id, _FAR_FUTURE), t.kickoff_at)

    def urgency(t: Target) -> tuple[datetime, str]:
        when = kickoff.get(t.sportradar_id or "", t.kickoff_at or _FAR_FUTURE)
        return when, t.sportradar_id or t.event_id

    ordered = {
        bm: sorted((t for t in ts if not wanted or t.sportradar_id is None or t.sportradar_id in wanted), key=urgency)
        for bm, ts in targets.items()
    }
    matched: dict[int, int] = {}
    for sr_id, on in books.items():
        if not wanted or sr_id in wanted:
            matched[len(on)] = matched.get(len(on), 0) + 1
    return ordered, matched


# -- fetching -------------------------------------------------------------------------------------


def _parse(bm: str, payload: Any, target: Target) -> ParsedEvent:
    try:
        if bm == "betpawa":
            return betpawa.parse_event(payload)
        if bm == "sportybet":
            return sportybet.parse_event(payload)
        return bet9ja.parse_event(payload, sportradar_id=target.sportradar_id)
    except SourceError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # a parser gap must not end the cycle
        raise SourceError(bm, "event", f"unparseable: {type(exc).__name__}: {exc}") from exc


async def run_cycle(
    sources: Sources,
    on_observed: Callable[[ParsedEvent], Awaitable[None]],
    *,
    bookmakers: Sequence[str] = (),
    sportradar_ids: Sequence[str] = (),
    on_start: Callable[[CycleResult], None] | None = None,
) -> CycleResult:
    """Scrape ``bookmakers`` (all configured when empty) for ``sportradar_ids`` (all when empty).

    ``on_start`` receives the result object at once; its counts grow while the cycle runs.
    """
    started = time.perf_counter()
    wanted = [bm for bm in (bookmakers or sources.bookmakers) if bm in sources.clients]
    result = CycleResult(counts={bm: BookCounts() for bm in wanted})
    if on_start is not None:
        on_start(result)
    wanted_ids = set(sportradar_ids)
    found: dict[str, list[Target]] = {}

    async def discover(bm: str) -> list[Target]:
        """This bookmaker's targets in scope, most urgent first: its fetching starts without waiting
        for the other books' discovery (kickoffs agree across books; the match is for the counts)."""
        errors: list[SourceError] = []
        try:
            targets = await _discover(bm, sources.clients[bm], errors)
        except SourceError as exc:
            errors.append(exc)
            targets = []
        found[bm] = targets
        ordered, _ = match_targets({bm: targets}, sportradar_ids)
        counts = result.counts[bm]
        counts.listed = len(ordered[bm])
        counts.errors += len(errors)
        result.errors.extend(errors)
        result.discovery_s = max(result.discovery_s, time.perf_counter() - started)
        log.info(
            "scrape.discovered",
            bookmaker=bm,
            listed=counts.listed,
            errors=len(errors),
            seconds=round(time.perf_counter() - started, 2),
        )
        if len(found) == len(wanted):
            _, result.matched = match_targets(found, sportradar_ids)
            log.info("scrape.matched", on_books=result.matched)
        return ordered[bm]

    async def worker(bm: str, queue: deque[Target]) -> None:
        client: _Client = sources.clients[bm]
        counts = result.counts[bm]
        while queue:
            target = queue.popleft()
            try:
                payload = await client.fetch_event(target.event_id)
                parsed = _parse(bm, payload, target)
            except SourceError as exc:
                counts.errors += 1
                result.errors.append(exc)
                continue
            if wanted_ids and parsed.sportradar_id not in wanted_ids:
                counts.listed -= 1
                continue
            await on_observed(parsed)
            counts.events += 1
            counts.markets += len(parsed.markets)
            counts.unmapped += sum(parsed.unmapped.values())

    async def book(bm: str) -> None:
        queue = deque(await discover(bm))
        await asyncio.gather(*(worker(bm, queue) for _ in range(min(LIMITS[bm], len(queue)))))

    await asyncio.gather(*(book(bm) for bm in wanted))
    result.elapsed_s = time.perf_counter() - started
    return result
