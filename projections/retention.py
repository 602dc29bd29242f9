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

from streams.settings import Settings

__all__ = [
    "CHECK_INTERVAL_S",
    "DEFAULT_RETENTION_DAYS",
    "RETENTION_LOCK",
    "drop_expired",
    "expired",
    "retention_days_of",
]

log = structlog.get_logger(__name__)

DEFAULT_RETENTION_DAYS = 14
"""Until ``Settings.history_retention_days`` (``ODDSTREAM_HISTORY_RETENTION_DAYS``) exists; 0 keeps all."""
CHECK_INTERVAL_S = 3600.0
RETENTION_LOCK = 7434003


def retention_days_of(settings: Settings) -> int:
    """``Settings.history_retention_days`` once it exists (``ODDSTREAM_HISTORY_RETENTION_DAYS``)."""
    value = getattr(settings, "history_retention_days", None)
    return DEFAULT_RETENTION_DAYS if value is None else int(value)


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
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
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
