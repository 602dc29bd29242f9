"""The canonical board a source produces for one event: pure data, no I/O.

A ``Quote`` is one canonical market at one line with its outcomes; a ``ParsedEvent`` is one
bookmaker's whole board for one event, ready to become an ``OddsObserved``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["Outcome", "ParsedEvent", "Quote", "SourceError"]


class SourceError(Exception):
    """A bookmaker answered with something we cannot use (bad envelope, missing keys, bad JSON)."""

    def __init__(self, bookmaker: str, endpoint: str, cause: str) -> None:
        super().__init__(f"{bookmaker} {endpoint}: {cause}")
        self.bookmaker = bookmaker
        self.endpoint = endpoint
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    price: float | None  # decimal odds > 1, or None when not offered
    suspended: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "price": self.price, "suspended": self.suspended}


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
