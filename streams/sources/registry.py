"""Which bookmakers oddstream can scrape, and how: a client and a parser per bookmaker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from streams.sources import bet9ja, sportybet
from streams.sources.betpawa import BetPawaClient, parse_event
from streams.sources.model import ParsedEvent, SourceError

__all__ = ["PARSERS", "ScrapeResult", "available_bookmakers", "scrape_bookmaker"]

# The pure event-detail parser of each bookmaker (payload as the API answers it -> canonical board).
PARSERS: Final[Mapping[str, Callable[[Any], ParsedEvent]]] = {
    "betpawa": parse_event,
    "sportybet": sportybet.parse_event,
    "bet9ja": bet9ja.parse_event,
}


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    """One event's outcome: a parsed board, or the error that stopped it."""

    bookmaker: str
    event: ParsedEvent | None = None
    error: SourceError | None = None


_SCRAPERS = {"betpawa"}


def available_bookmakers(urls: Mapping[str, str]) -> list[str]:
    """The bookmakers that have both a scraper and a configured base URL."""
    return [bm for bm in ("betpawa", "sportybet", "bet9ja") if bm in _SCRAPERS and bm in urls]


async def scrape_bookmaker(
    bookmaker: str,
    base_url: str,
    session: aiohttp.ClientSession,
    sportradar_ids: Sequence[str] = (),
) -> AsyncIterator[ScrapeResult]:
    """Discover every event of ``bookmaker`` and yield each one's parsed board as it arrives.

    With ``sportradar_ids``, only those events are yielded. A discovery failure raises
    ``SourceError``; a failure of one event is yielded as a result and the scrape goes on.
    """
    if bookmaker != "betpawa":
        raise SourceError(bookmaker, "discovery", "no scraper for this bookmaker yet")
    import asyncio

    client = BetPawaClient(base_url, session)
    event_ids = await client.list_events()
    wanted = set(sportradar_ids)

    async def one(event_id: str) -> ScrapeResult:
        try:
            payload = await client.fetch_event(event_id)
            return ScrapeResult(bookmaker, event=parse_event(payload))
        except SourceError as exc:
            return ScrapeResult(bookmaker, error=exc)

    tasks = [asyncio.ensure_future(one(eid)) for eid in event_ids]
    try:
        for next_done in asyncio.as_completed(tasks):
            result = await next_done
            if wanted and result.event is not None and result.event.sportradar_id not in wanted:
                continue
            yield result
    finally:
        for task in tasks:
            task.cancel()
