"""What a source is and what it produces: a bookmaker as a value, and the canonical board. No I/O.

A ``Quote`` is one canonical market at one line with its outcomes; a ``ParsedEvent`` is one
bookmaker's whole board for one event, ready to become an ``OddsObserved``. A ``Target`` is one
event as a bookmaker lists it. A ``Bookmaker`` is everything the rest of oddstream knows of one
book: its name, live site, request limits, how to build its client (which discovers and fetches)
and how to parse an event; ``streams.sources.registry`` holds one per book.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import aiohttp

__all__ = ["BookClient", "Bookmaker", "ClientFactory", "Outcome", "ParsedEvent", "Quote", "SourceError", "Target"]


class SourceError(Exception):
    """A bookmaker answered with something we cannot use (bad envelope, missing keys, bad JSON)."""

    def __init__(self, bookmaker: str, endpoint: str, cause: str) -> None:
        super().__init__(f"{bookmaker} {endpoint}: {cause}")
        self.bookmaker = bookmaker
        self.endpoint = endpoint
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Outcome:
    """One selection of a quote: its price and, where the book publishes them, its fair chances.

    ``probability`` and ``refund_probability`` are the book's own margin-free numbers, as the book
    publishes them (markets.md §7): BetPawa's ``win`` is unconditional and ``refund`` is the chance
    the stake comes back (Draw No Bet: P(draw)); SportyBet renormalises to "no push" (its DNB
    ``probability`` is BetPawa's ``win / (1 - refund)``, its ``voidProbability`` ~0). Bet9ja has none.
    """

    name: str
    price: float | None  # decimal odds > 1, or None when not offered
    suspended: bool = False
    probability: float | None = None  # the book's fair probability that the outcome wins, 0..1
    refund_probability: float | None = None  # the book's probability that the stake is returned, 0..1

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "price": self.price, "suspended": self.suspended}
        if self.probability is not None:  # only when known, so boards without them keep their shape
            out["probability"] = self.probability
        if self.refund_probability is not None:
            out["refund_probability"] = self.refund_probability
        return out


@dataclass(frozen=True, slots=True)
class Quote:
    market_id: str  # canonical BetPawa market type id, e.g. "3743" for 1X2
    market_name: str
    line: float | None  # O/U total, or the home handicap; None for a market without lines
    outcomes: tuple[Outcome, ...]
    complete: bool = True  # False: an outcome was dropped or is missing, so no margin is comparable

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "market_id": self.market_id,
            "market_name": self.market_name,
            "line": self.line,
            "outcomes": [o.to_json() for o in self.outcomes],
        }
        if not self.complete:  # only when partial, so complete boards keep their established shape
            out["complete"] = False
        return out


@dataclass(frozen=True, slots=True)
class ParsedEvent:
    bookmaker: str
    sportradar_id: str  # digits only
    bookmaker_event_id: str
    home_team: str
    away_team: str
    tournament: str
    kickoff_at: datetime  # aware UTC
    markets: tuple[Quote, ...]
    unmapped: dict[str, int] = field(default_factory=dict)  # reason -> count
    country: str = ""  # the book's region or category of the tournament ("England"); "" when it gives none


@dataclass(frozen=True, slots=True)
class Target:
    """One event as one bookmaker lists it: what to fetch."""

    bookmaker: str
    event_id: str  # the bookmaker's own id (SportyBet: sr:match:<n>)
    sportradar_id: str | None  # None: only the event detail will say (BetPawa list without widgets)
    kickoff_at: datetime | None


class BookClient(Protocol):
    """One bookmaker's API for the cycle: discover what it lists, fetch one event's detail."""

    async def discover(self, errors: list[SourceError]) -> list[Target]:
        """Every event the book lists (de-duplicated by its id). A page that fails is appended to
        ``errors`` and the rest goes on; a failure nothing can be listed without is raised."""
        ...

    async def fetch_event(self, event_id: str) -> Any:
        """The raw event detail as the API answers it (``SourceError`` on any failure)."""
        ...


ClientFactory = Callable[..., BookClient]
"""``(base_url, session, *, concurrency, delay_s, timeout_s, attempts, backoff_s)`` -> a client."""


@dataclass(frozen=True, slots=True)
class Bookmaker:
    """One bookmaker, as everything that iterates the registry needs it."""

    name: str
    """The wire name: ``OddsObserved.bookmaker``, ``ODDSTREAM_<NAME>_URL``, the CLI's choices."""
    live_url: str
    """The real site's base URL (``ODDSTREAM_SOURCES=live``)."""
    in_flight: int
    """Requests in flight at most (the book throttles above it)."""
    delay_s: float
    """Slept after each request while holding its slot."""
    client: ClientFactory
    parse_event: Callable[[Any, str | None], ParsedEvent]
    """``(event detail payload, SportRadar id as listed or None)`` -> the canonical board."""

    def make_client(
        self, base_url: str, session: aiohttp.ClientSession, *, timeout_s: float, attempts: int, backoff_s: float
    ) -> BookClient:
        return self.client(
            base_url,
            session,
            concurrency=self.in_flight,
            delay_s=self.delay_s,
            timeout_s=timeout_s,
            attempts=attempts,
            backoff_s=backoff_s,
        )

    def parse(self, payload: Any, listed_sportradar_id: str | None = None) -> ParsedEvent:
        """The worker's parse of one event detail: the board, or ``SourceError`` with the cause.

        A parser gap (a key or type the parser did not expect) is a ``SourceError`` too, so one odd
        event never ends a cycle; ``oddstream parse`` and the hostile-parser tests call exactly this.
        """
        try:
            return self.parse_event(payload, listed_sportradar_id)
        except SourceError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SourceError(self.name, "event", f"unparseable: {type(exc).__name__}: {exc}") from exc
