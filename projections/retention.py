"""Retention of ``odds_history``: whole daily partitions dropped, never row-by-row deletes.

One worker at a time sweeps (``pg_try_advisory_lock``; the others skip that tick). A partition is
dropped when its whole day lies before the retention window of ``days`` UTC days (today included).
The writers leave out rows older than the window, so a replay does not bring a dropped day back.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import asyncpg
import structlog

from projections.postgres import PgStore
from streams.clock import utc_now

__all__ = [
    "CHECK_INTERVAL_S",
    "RETENTION_LOCK",
    "drop_expired",
    "expired",
    "sweep",
]

log = structlog.get_logger(__name__)

CHECK_INTERVAL_S = 3600.0
RETENTION_LOCK = 7434003


_NAME = re.compile(r"odds_history_p(\d{8})")


def expired(partitions: list[str], days: int, today: date) -> list[str]:
    """The partitions (by name) whose day is older than the last ``days`` days up to ``today``."""
    if days <= 0:
        return []
    first_kept = today - timedelta(days=days - 1)
    out = []
    for name in partitions:
        m = _NAME.fullmatch(name)
        if m and datetime.strptime(m.group(1), "%Y%m%d").replace(tzinfo=UTC).date() < first_kept:
            out.append(name)
    return sorted(out)


async def drop_expired(
    pool: asyncpg.Pool, days: int, *, now: datetime | None = None, schema: str = "public"
) -> list[str]:
    """Drop expired partitions if this worker wins the sweep lock; returns what was dropped."""
    today = (now or utc_now()).astimezone(UTC).date()
    async with pool.acquire() as conn:
        if not await conn.fetchval("select pg_try_advisory_lock($1)", RETENTION_LOCK):
            return []
        try:
            names = [
                row["relname"]
                for row in await conn.fetch(
                    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = to_regclass($1)",
                    f"{schema}.odds_history",
                )
            ]
            dropped = expired(names, days, today)
            for name in dropped:
                # detach first: dropping a detached table does not lock the parent for readers
                async with conn.transaction():
                    await conn.execute(f"ALTER TABLE {schema}.odds_history DETACH PARTITION {schema}.{name}")
                    await conn.execute(f"DROP TABLE {schema}.{name}")
                log.info("history partition dropped", partition=name, retention_days=days)
            return dropped
        finally:
            await conn.execute("select pg_advisory_unlock($1)", RETENTION_LOCK)


async def sweep(store: PgStore) -> None:
    """One retention pass of the live store (a timer's body): a failed sweep is retried at the next tick."""
    if not store.retention_days:
        return
    try:
        if await drop_expired(await store.pool(), store.retention_days, schema=store.schema):
            store.partitions.forget()
    except Exception:
        log.exception("history retention sweep failed")
