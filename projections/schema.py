"""The projections' DDL as SQL, parametrised by schema, and the daily partitions of ``odds_history``.

The migrations (``projections/migrations``) create the live tables in ``public``; ``oddstream
replay`` creates the same tables, with the same constraint and index names, in a scratch schema
and moves them into ``public`` at the end. Keep the two in step: a migration that changes a table
changes ``table_ddl`` too (``tests/integration/test_projection_store.py`` compares them on a real server).
"""

from __future__ import annotations

from datetime import date, timedelta

__all__ = [
    "REBUILD_SCHEMA",
    "VIEW_DDL",
    "partition_ddl",
    "partition_name",
    "table_ddl",
]

REBUILD_SCHEMA = "odds_rebuild"

_TABLES: dict[str, str] = {
    # one row per changed quote; partitioned by day so retention drops partitions. The partition
    # key is part of every unique key; observed_at is a function of event_id, so the contract's
    # key (event_id, market_id, line) is unchanged. A null line equals a null line.
    "odds_history": """
CREATE TABLE {s}.odds_history (
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
CREATE INDEX odds_history_lookup ON {s}.odds_history (sportradar_id, market_id, line, bookmaker, observed_at);
""",
    # the current state of each quote, written from odds.changes; the newest change wins
    # (observed_at, then event_id), whatever order the changes arrive in
    "odds_quotes": """
CREATE TABLE {s}.odds_quotes (
    bookmaker text NOT NULL,
    sportradar_id text NOT NULL,
    market_id text NOT NULL,
    line numeric,
    outcomes jsonb NOT NULL,
    last_changed_at timestamptz NOT NULL,
    change_event_id uuid NOT NULL,
    CONSTRAINT odds_quotes_key UNIQUE NULLS NOT DISTINCT (bookmaker, sportradar_id, market_id, line)
);
""",
    # when each bookmaker's board of each event was last observed (from odds.observed)
    "board_confirmations": """
CREATE TABLE {s}.board_confirmations (
    sportradar_id text NOT NULL,
    bookmaker text NOT NULL,
    last_confirmed_at timestamptz NOT NULL,
    CONSTRAINT board_confirmations_pkey PRIMARY KEY (sportradar_id, bookmaker)
);
""",
    "sport_events": """
CREATE TABLE {s}.sport_events (
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
CREATE INDEX sport_events_kickoff ON {s}.sport_events (kickoff_at);
""",
    # folded with streams.run_rules.apply_run_event, exactly like the live runs table; the ids of
    # the events applied make a redelivered run event harmless
    "scrape_runs": """
CREATE TABLE {s}.scrape_runs (
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
CREATE INDEX scrape_runs_status ON {s}.scrape_runs (status);
""",
}

# The contract's odds_current: a quote with last_changed_at and last_confirmed_at. A quote still on
# the board is confirmed whenever its board is observed; confirming per board (3,900 rows a cycle)
# instead of per quote (660,000) keeps the observed path cheap and the result independent of the
# order in which odds.changes and odds.observed are consumed.
VIEW_DDL = """
CREATE VIEW {s}.odds_current AS
SELECT q.bookmaker, q.sportradar_id, q.market_id, q.line, q.outcomes,
       q.last_changed_at AS observed_at,
       q.last_changed_at,
       CASE WHEN jsonb_array_length(q.outcomes) > 0 AND b.last_confirmed_at > q.last_changed_at
            THEN b.last_confirmed_at ELSE q.last_changed_at END AS last_confirmed_at,
       q.change_event_id
FROM {s}.odds_quotes q
LEFT JOIN {s}.board_confirmations b ON b.sportradar_id = q.sportradar_id AND b.bookmaker = q.bookmaker;
"""


def table_ddl(table: str, schema: str = "public") -> str:
    return _TABLES[table].format(s=schema)


def partition_name(day: date) -> str:
    return f"odds_history_p{day:%Y%m%d}"


def partition_ddl(day: date, schema: str = "public") -> str:
    """The daily partition of ``odds_history`` holding ``day`` (UTC), created when missing."""
    start = f"{day.isoformat()} 00:00:00+00"
    end = f"{(day + timedelta(days=1)).isoformat()} 00:00:00+00"
    return (
        f"CREATE TABLE IF NOT EXISTS {schema}.{partition_name(day)} PARTITION OF {schema}.odds_history "
        f"FOR VALUES FROM ('{start}') TO ('{end}')"
    )
