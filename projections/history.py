"""The ``odds_history`` projection: batches of ``OddsChanged`` written idempotently.

The write happens inside the loop body, so a batch's offsets are acknowledged only after its rows
are committed; a database error is retried with backoff, indefinitely (the stream waits), so no
accepted event is dropped. Rows already present are skipped by their key (ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import faust
import structlog
from faust.streams import Stream
from faust.types import StreamT

from projections.upsert import history_rows
from projections.writer import insert_history
from streams import topics
from streams.app import Runtime
from streams.events import InvalidEvent, OddsChanged, decode

__all__ = ["BATCH_MAX", "BATCH_WITHIN_S", "register", "write_with_retry"]

log = structlog.get_logger(__name__)

BATCH_MAX = 2000
BATCH_WITHIN_S = 1.0


async def write_with_retry(rt: Runtime, rows: list[dict[str, Any]], *, max_delay_s: float = 30.0) -> int:
    """Write until it succeeds; one log line per failed attempt; back-pressure by waiting."""
    attempt = 0
    while True:
        try:
            return await insert_history(rt.engine, rows)
        except Exception as exc:
            attempt += 1
            delay = min(max_delay_s, 0.2 * 2**attempt) * (0.5 + random.random() / 2)
            log.warning(
                "history write failed, retrying",
                attempt=attempt,
                rows=len(rows),
                error=repr(exc),
                retry_in_s=round(delay, 2),
            )
            await asyncio.sleep(delay)


def register(app: faust.App, rt: Runtime) -> None:
    @app.agent(rt.topic(topics.CHANGES), name="history-projection", concurrency=1)
    async def history(stream: StreamT[bytes]) -> None:
        async for batch in cast(Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S):
            changed: list[OddsChanged] = []
            for event in batch:
                try:
                    changed.append(decode(event.value, [OddsChanged]))
                except InvalidEvent as exc:
                    await rt.dead_letter(event, exc.reason)
            rows = history_rows(changed)
            written = await write_with_retry(rt, rows)
            last_offsets: dict[str, int] = {}
            for event in batch:
                last_offsets[f"{event.message.topic}/{event.message.partition}"] = event.message.offset
            log.info(
                "history batch written",
                offsets=last_offsets,
                events=len(batch),
                rows=len(rows),
                written=written,
            )
