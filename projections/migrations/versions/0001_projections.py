"""The projections: odds_history (daily partitions), odds_quotes + board_confirmations behind the
odds_current view, sport_events, scrape_runs and projection_progress.

A database made by the first slice (``create_schema``: one unpartitioned ``odds_history``) keeps its
history: the rows are copied into the partitioned table before the old one is dropped.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# frozen copy of projections.schema at this revision (a later change gets its own migration)
DDL = """
CREATE TABLE odds_history (
    event_id uuid NOT NULL,
    market_id text NOT NULL,
    line numeric,
    sportradar_id text NOT NULL,
    bookmaker text NOT NULL,
    outcomes jsonb NOT NULL,
    previous_outcomes jsonb,
    observed_at timestamptz NOT NULL,
    caused_by uuid NOT NULL,
    CONSTRAINT odds_history_key UNIQUE NULLS NOT DISTINCT (event_id, market_id, line, observed_at)
) PARTITION BY RANGE (observed_at);
CREATE INDEX odds_history_lookup ON odds_history (sportradar_id, market_id, line, bookmaker, observed_at);
CREATE TABLE odds_quotes (
    bookmaker text NOT NULL,
    sportradar_id text NOT NULL,
    market_id text NOT NULL,
    line numeric,
    outcomes jsonb NOT NULL,
    last_changed_at timestamptz NOT NULL,
    change_event_id uuid NOT NULL,
    CONSTRAINT odds_quotes_key UNIQUE NULLS NOT DISTINCT (bookmaker, sportradar_id, market_id, line)
);
CREATE TABLE board_confirmations (
    sportradar_id text NOT NULL,
    bookmaker text NOT NULL,
    last_confirmed_at timestamptz NOT NULL,
    CONSTRAINT board_confirmations_pkey PRIMARY KEY (sportradar_id, bookmaker)
);
CREATE TABLE sport_events (
    sportradar_id text NOT NULL,
    home_team text NOT NULL,
    away_team text NOT NULL,
    tournament text NOT NULL,
    kickoff_at timestamptz NOT NULL,
    bookmakers text[] NOT NULL,
    first_observed_at timestamptz NOT NULL,
    last_observed_at timestamptz NOT NULL,
    last_event_id uuid NOT NULL,
    CONSTRAINT sport_events_pkey PRIMARY KEY (sportradar_id)
);
CREATE INDEX sport_events_kickoff ON sport_events (kickoff_at);
CREATE TABLE scrape_runs (
    run_id text NOT NULL,
    status text NOT NULL,
    trigger text,
    requested_at timestamptz,
    started_at timestamptz,
    last_heartbeat_at timestamptz,
    finished_at timestamptz,
    stale_detected_at timestamptz,
    observed integer NOT NULL,
    failed integer NOT NULL,
    errors jsonb NOT NULL,
    state jsonb NOT NULL,
    applied_event_ids text[] NOT NULL,
    CONSTRAINT scrape_runs_pkey PRIMARY KEY (run_id)
);
CREATE INDEX scrape_runs_status ON scrape_runs (status);
CREATE TABLE projection_progress (
    projection text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    "offset" bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projection_progress_pkey PRIMARY KEY (projection, topic, partition)
);
CREATE VIEW odds_current AS
SELECT q.bookmaker, q.sportradar_id, q.market_id, q.line, q.outcomes,
       q.last_changed_at AS observed_at,
       q.last_changed_at,
       CASE WHEN jsonb_array_length(q.outcomes) > 0 AND b.last_confirmed_at > q.last_changed_at
            THEN b.last_confirmed_at ELSE q.last_changed_at END AS last_confirmed_at,
       q.change_event_id
FROM odds_quotes q
LEFT JOIN board_confirmations b ON b.sportradar_id = q.sportradar_id AND b.bookmaker = q.bookmaker;
"""


def _partition(day: date) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS odds_history_p{day:%Y%m%d} PARTITION OF odds_history "
        f"FOR VALUES FROM ('{day.isoformat()} 00:00:00+00') TO ('{day + timedelta(days=1)} 00:00:00+00')"
    )


def upgrade() -> None:
    bind = op.get_bind()
    legacy = bind.execute(
        sa.text("select relkind from pg_class where oid = to_regclass('public.odds_history')")
    ).scalar_one_or_none()
    if legacy is not None and legacy != "p":
        op.execute("ALTER TABLE odds_history RENAME TO odds_history_legacy")
        op.execute("ALTER INDEX IF EXISTS odds_history_key RENAME TO odds_history_legacy_key")
        op.execute("ALTER INDEX IF EXISTS odds_history_lookup RENAME TO odds_history_legacy_lookup")
    for statement in DDL.split(";\n"):
        if statement.strip():
            op.execute(statement)
    if legacy is not None and legacy != "p":
        days = bind.execute(
            sa.text("select distinct (observed_at at time zone 'UTC')::date from odds_history_legacy")
        ).scalars()
        for day in days:
            op.execute(_partition(day))
        op.execute(
            "INSERT INTO odds_history (event_id, market_id, line, sportradar_id, bookmaker, outcomes,"
            " previous_outcomes, observed_at, caused_by)"
            " SELECT event_id, market_id, line, sportradar_id, bookmaker, outcomes, previous_outcomes,"
            " observed_at, caused_by FROM odds_history_legacy ON CONFLICT DO NOTHING"
        )
        op.execute("DROP TABLE odds_history_legacy")


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS odds_current")
    for table in ("projection_progress", "scrape_runs", "sport_events", "board_confirmations", "odds_quotes"):
        op.execute(f"DROP TABLE IF EXISTS {table}")
    op.execute("DROP TABLE IF EXISTS odds_history CASCADE")
