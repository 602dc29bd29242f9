"""Which bookmakers oddstream can scrape, and how: a parser per bookmaker (the cycle is ``cycle.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from streams.sources import bet9ja, sportybet
from streams.sources.betpawa import parse_event
from streams.sources.model import ParsedEvent

__all__ = ["PARSERS", "available_bookmakers"]

# The pure event-detail parser of each bookmaker (payload as the API answers it -> canonical board).
PARSERS: Final[Mapping[str, Callable[[Any], ParsedEvent]]] = {
    "betpawa": parse_event,
    "sportybet": sportybet.parse_event,
    "bet9ja": bet9ja.parse_event,
}


def available_bookmakers(urls: Mapping[str, str]) -> list[str]:
    """The bookmakers that have a configured base URL, in the canonical order."""
    return [bm for bm in PARSERS if bm in urls]
