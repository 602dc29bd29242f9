"""The bookmakers oddstream scrapes, each a ``Bookmaker`` value, in one registry.

Everything that needs to know the books iterates this: the events' validation and schemas, the
settings (``ODDSTREAM_<NAME>_URL``, the live sites), the scrape cycle, the CLI and the tests. Adding a
book is a module of its own (parser, client, ``BOOK``) and one entry here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from streams.sources import bet9ja, betpawa, sportybet
from streams.sources.model import Bookmaker

__all__ = ["BOOKMAKERS", "HOME", "NAMES", "bookmaker", "configured"]

BOOKMAKERS: Final[tuple[Bookmaker, ...]] = (betpawa.BOOK, sportybet.BOOK, bet9ja.BOOK)
"""Every book, in the canonical order (the home book first)."""
NAMES: Final[tuple[str, ...]] = tuple(b.name for b in BOOKMAKERS)
HOME: Final = betpawa.BOOK.name
"""The book whose odds and margins every other is compared with."""

_BY_NAME: Final[Mapping[str, Bookmaker]] = {b.name: b for b in BOOKMAKERS}


def bookmaker(name: str) -> Bookmaker:
    """The book named ``name``; ``KeyError`` for an unknown one."""
    return _BY_NAME[name]


def configured(urls: Mapping[str, str]) -> list[Bookmaker]:
    """The books that have a base URL in ``urls``, in the canonical order."""
    return [b for b in BOOKMAKERS if b.name in urls]
