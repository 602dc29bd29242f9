"""Engine and schema helpers the rest of oddstream uses (health checks, start-up migrations)."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

__all__ = ["DatabaseUnavailable", "check_database", "make_engine", "migrate"]

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


async def migrate(engine: AsyncEngine) -> None:
    """Apply the Alembic migrations up to head (advisory lock: safe with several workers)."""
    from projections.migrate import upgrade

    await upgrade(engine)
