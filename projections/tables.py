"""The PostgreSQL projections' schema (SQLAlchemy metadata). All timestamps are ``timestamptz``."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    MetaData,
    Numeric,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

__all__ = ["metadata", "odds_history"]

metadata = MetaData()

odds_history = Table(
    "odds_history",
    metadata,
    Column("event_id", UUID(as_uuid=False), nullable=False, doc="the OddsChanged this entry belongs to"),
    Column("market_id", Text, nullable=False),
    Column("line", Numeric, nullable=True, doc="null for markets without a line; still part of the key"),
    Column("sportradar_id", Text, nullable=False),
    Column("bookmaker", Text, nullable=False),
    Column("outcomes", JSONB, nullable=False),
    Column("previous_outcomes", JSONB, nullable=True),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("caused_by", UUID(as_uuid=False), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # the key of the contract: (event_id, market_id, line), with a null line equal to a null line
    Index(
        "odds_history_key",
        "event_id",
        "market_id",
        "line",
        unique=True,
        postgresql_nulls_not_distinct=True,
    ),
    Index("odds_history_lookup", "sportradar_id", "market_id", "line", "bookmaker", "observed_at"),
)
