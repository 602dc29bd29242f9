"""Retrying a step that must happen, however long that takes.

For writes that nothing may skip (a projection batch, a board's events and table records): the
caller waits meanwhile, which is the back-pressure on its stream. One log line per failed attempt.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog

__all__ = ["until_done"]

log = structlog.get_logger(__name__)

T = TypeVar("T")


async def until_done(
    what: str,
    step: Callable[[], Awaitable[T]],
    *,
    first_delay_s: float = 0.2,
    max_delay_s: float = 30.0,
    **context: Any,
) -> T:
    """``await step()`` until it returns; after each failure log ``"<what> failed, retrying"`` with
    ``context`` and wait, doubling from ``first_delay_s`` up to ``max_delay_s`` (+-25% jitter, so
    workers retrying the same outage spread out). Cancellation is never retried."""
    attempt = 0
    while True:
        try:
            return await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            attempt += 1
            delay = min(max_delay_s, first_delay_s * 2 ** (attempt - 1)) * (0.75 + random.random() / 2)
            log.warning(
                f"{what} failed, retrying", **context, attempt=attempt, error=repr(exc), retry_in_s=round(delay, 2)
            )
            await asyncio.sleep(delay)
