"""The only database I/O of the projections: engine, schema creation and idempotent writes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from projections.tables import metadata, odds_history

__all__ = ["DatabaseUnavailable", "check_database", "create_schema", "insert_history", "make_engine"]

log = structlog.get_logger(__name__)


class DatabaseUnavailable(RuntimeError):
    """The configured PostgreSQL did not answer."""


def make_engine(database_url: str) -> AsyncEngine:
    return create_async_engine(database_url, pool_size=5, max_overflow=5, pool_pre_ping=True)


async def check_database(engine: AsyncEngine, *, timeout_s: float = 5.0) -> None:
    """Raise ``DatabaseUnavailable`` (with the host, never the password) unless ``select 1`` answers."""
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as conn:
            await conn.execute(text("select 1"))
    except Exception as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise DatabaseUnavailable(f"PostgreSQL at {where} is unreachable: {exc!r}") from exc


async def create_schema(engine: AsyncEngine) -> None:
    """Create the projection tables when missing (idempotent, safe with several workers)."""
    async with engine.begin() as conn:
        # serialise concurrent workers creating the schema at the same time
        await conn.execute(text("select pg_advisory_xact_lock(7434001)"))
        await conn.run_sync(metadata.create_all)


async def insert_history(engine: AsyncEngine, rows: Sequence[dict[str, Any]]) -> int:
    """Insert history rows; rows already present (same key) are left alone. Returns rows written."""
    if not rows:
        return 0
    stmt = insert(odds_history).on_conflict_do_nothing().returning(odds_history.c.event_id)
    async with engine.begin() as conn:
        result = await conn.execute(stmt, list(rows))
        return len(result.all())
