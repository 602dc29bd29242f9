"""One scrape cycle over the configured bookmakers (no Faust, no broker): discover, match, fetch, parse.

``Sources`` holds one client per bookmaker of the registry that has a base URL, for the life of a
process, so every run shares each book's limits (``Bookmaker.in_flight``, ``Bookmaker.delay_s``).
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
from typing import Final

import aiohttp
import structlog

from streams.sources import registry
from streams.sources.model import BookClient, Bookmaker, ParsedEvent, SourceError, Target

__all__ = [
    "BookCounts",
    "CycleResult",
    "Sources",
    "Target",
    "match_targets",
    "run_cycle",
]

_FAR_FUTURE: Final = datetime.max.replace(tzinfo=UTC)

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class BookCounts:
    listed: int = 0  # events discovered (in scope)
    events: int = 0  # boards observed
    markets: int = 0  # canonical quotes in those boards
    unmapped: int = 0  # markets the parser could not map, all reasons
    errors: int = 0  # failures: discovery pages and events
    ms: int = 0  # how long the book took, discovery to its last board (0 while it runs)

    def to_json(self) -> dict[str, int]:
        return {
            "listed": self.listed,
            "events": self.events,
            "markets": self.markets,
            "unmapped": self.unmapped,
            "errors": self.errors,
            "ms": self.ms,
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


class Sources:
    """The bookmaker clients of one process (one shared aiohttp session, each book's limits)."""

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
        self.books: dict[str, Bookmaker] = {b.name: b for b in registry.configured(urls)}
        self.clients: dict[str, BookClient] = {
            name: book.make_client(urls[name], session, timeout_s=timeout_s, attempts=attempts, backoff_s=backoff_s)
            for name, book in self.books.items()
        }

    @property
    def bookmakers(self) -> list[str]:
        return list(self.books)


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
            targets = await sources.clients[bm].discover(errors)
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
        client, book = sources.clients[bm], sources.books[bm]
        counts = result.counts[bm]
        while queue:
            target = queue.popleft()
            try:
                payload = await client.fetch_event(target.event_id)
                parsed = book.parse(payload, target.sportradar_id)
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
        in_flight = sources.books[bm].in_flight
        await asyncio.gather(*(worker(bm, queue) for _ in range(min(in_flight, len(queue)))))
        result.counts[bm].ms = max(int((time.perf_counter() - started) * 1000), 1)

    await asyncio.gather(*(book(bm) for bm in wanted))
    result.elapsed_s = time.perf_counter() - started
    return result
