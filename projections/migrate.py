"""Schema migrations (Alembic) applied at start, serialised across workers by an advisory lock."""

from __future__ import annotations

import logging
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["HEAD", "MIGRATIONS_LOCK", "alembic_config", "current_revision", "upgrade"]

log = structlog.get_logger(__name__)

MIGRATIONS_LOCK = 7434001
HEAD = "head"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, target: str) -> None:
    command.upgrade(alembic_config(connection), target)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, target: str = HEAD) -> None:
    """Bring the schema to ``target``. Several workers starting at once: one migrates, the others
    wait on the lock and then find nothing to do. The whole upgrade is one transaction."""
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line of our own instead of a dozen
    async with engine.begin() as conn:
        await conn.execute(text("select pg_advisory_xact_lock(:k)"), {"k": MIGRATIONS_LOCK})
        before = await conn.run_sync(_current)
        await conn.run_sync(_upgrade, target)
        after = await conn.run_sync(_current)
    if before != after:
        log.info("database schema migrated", from_revision=before, to_revision=after)
