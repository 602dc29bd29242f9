"""Long synchronous loops that give the event loop a turn now and then.

A worker's web views share one event loop with its agents. A board batch of 1,000 observations is
about 300 ms of Python with no ``await`` in it; every request that arrives meanwhile waits for all of
it (``bench.board_latency``: ``GET /health`` at a p99 of 171 ms while the worker ingests). A loop
over ``in_turns(items)`` lets whatever is ready run every ``every`` items instead, a few ms apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from typing import Final, TypeVar

__all__ = ["TURN_EVERY", "in_turns"]

T = TypeVar("T")

TURN_EVERY: Final = 8
"""Items between two turns: about 2-3 ms of a board batch's work on this machine. A turn with nothing
ready costs tens of microseconds, well under 1 % of the batch."""


async def in_turns(items: Iterable[T], every: int = TURN_EVERY) -> AsyncIterator[T]:
    """Each of ``items`` in order; after every ``every`` of them the loop runs what is ready."""
    if every < 1:
        raise ValueError(f"every must be at least 1, not {every}")
    for i, item in enumerate(items, 1):
        yield item
        if i % every == 0:
            await asyncio.sleep(0)
