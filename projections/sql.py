"""The projections' SQL: what each projection writes to PostgreSQL for a batch, inside its transaction.

``COPY`` into a temporary staging table, then one ``INSERT ... SELECT ... ON CONFLICT`` per table
(measured fastest, see bench/README.md), or plain arrays for the small tables. ``odds_history``
ignores a key it holds; ``odds_quotes``, ``board_confirmations`` and ``sport_events`` keep the newest
observation (``observed_at``, then event id); ``scrape_runs`` is folded with
``streams.run_rules.apply_run_event`` and remembers the event ids it applied. The rows come from the
pure ``projections.rows``; ``projections.memory`` applies the same rows to its twin tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg
import structlog

from projections import rows as R
from projections.store import Target
from streams.events import OddsChanged, OddsObserved
from streams.wire import ObservedHead

__all__ = ["apply_changes", "apply_observed", "apply_runs", "count"]

log = structlog.get_logger(__name__)


def count(status: str) -> int:
    """Rows affected, from a command tag (``INSERT 0 12``, ``UPDATE 3``)."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


_STAGE_CHANGES = """
CREATE TEMP TABLE IF NOT EXISTS stage_changes (
    event_id uuid, market_id text, line numeric, sportradar_id text, bookmaker text,
    outcomes jsonb, previous_outcomes jsonb, observed_at timestamptz, caused_by uuid,
    in_history boolean, newest boolean
) ON COMMIT DELETE ROWS"""


async def _quietly(conn: asyncpg.Connection, sql: str) -> None:
    """Run DDL whose NOTICE ("already exists, skipping") is noise."""
    await conn.execute(f"SET LOCAL client_min_messages = warning; {sql}")


async def apply_changes(conn: asyncpg.Connection, recs: Sequence[R.Rec], target: Target) -> int:
    """``OddsChanged`` -> ``odds_history`` (DO NOTHING on its key) and ``odds_quotes`` (newest wins),
    both from one ``COPY`` of the batch's changes (``R.change_rows``)."""
    schema = target.schema
    events = [r.event for r in recs if isinstance(r.event, OddsChanged)]
    staged = R.change_rows(events, not_before=target.not_before)
    if not staged:
        return 0
    await _quietly(conn, _STAGE_CHANGES)
    await conn.copy_records_to_table("stage_changes", records=staged, columns=R.STAGE_COLUMNS)
    cols = ", ".join(R.HISTORY_COLUMNS)
    written = count(
        await conn.execute(
            f"INSERT INTO {schema}.odds_history ({cols}) SELECT {cols} FROM stage_changes WHERE in_history"
            " ON CONFLICT DO NOTHING"
        )
    )
    cols = ", ".join(R.CURRENT_COLUMNS)
    written += count(
        await conn.execute(
            f"INSERT INTO {schema}.odds_quotes AS q ({cols})"
            " SELECT bookmaker, sportradar_id, market_id, line, outcomes, observed_at, event_id"
            " FROM stage_changes WHERE newest"
            " ON CONFLICT (bookmaker, sportradar_id, market_id, line) DO UPDATE SET"
            " outcomes = excluded.outcomes, last_changed_at = excluded.last_changed_at,"
            " change_event_id = excluded.change_event_id"
            " WHERE (q.last_changed_at, q.change_event_id) < (excluded.last_changed_at, excluded.change_event_id)"
        )
    )
    return written


async def apply_observed(conn: asyncpg.Connection, recs: Sequence[R.Rec], target: Target) -> int:
    """``OddsObserved`` -> ``board_confirmations`` (latest wins) and ``sport_events`` (newest names,
    union of bookmakers, first and last observation). A few thousand rows a cycle: plain arrays."""
    schema = target.schema
    events = [r.event for r in recs if isinstance(r.event, OddsObserved | ObservedHead)]
    confirmations = R.confirmation_rows(events)
    sport = R.sport_event_rows(events)
    written = 0
    if confirmations:
        written += count(
            await conn.execute(
                f"INSERT INTO {schema}.board_confirmations AS b (sportradar_id, bookmaker, last_confirmed_at)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])"
                " ON CONFLICT (sportradar_id, bookmaker) DO UPDATE SET last_confirmed_at = excluded.last_confirmed_at"
                " WHERE b.last_confirmed_at < excluded.last_confirmed_at",
                [c[0] for c in confirmations],
                [c[1] for c in confirmations],
                [c[2] for c in confirmations],
            )
        )
    if sport:
        cols = list(zip(*sport, strict=True))
        newer = "(s.last_observed_at, s.last_event_id) < (excluded.last_observed_at, excluded.last_event_id)"
        written += count(
            await conn.execute(
                f"INSERT INTO {schema}.sport_events AS s (sportradar_id, home_team, away_team, tournament,"
                " kickoff_at, bookmakers, first_observed_at, last_observed_at, last_event_id)"
                " SELECT u.sr, u.home, u.away, u.tour, u.ko, string_to_array(u.bms, ','), u.first, u.last, u.eid"
                " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],"
                " $7::timestamptz[], $8::timestamptz[], $9::uuid[])"
                " AS u(sr, home, away, tour, ko, bms, first, last, eid)"
                " ON CONFLICT (sportradar_id) DO UPDATE SET"
                f" home_team = CASE WHEN {newer} THEN excluded.home_team ELSE s.home_team END,"
                f" away_team = CASE WHEN {newer} THEN excluded.away_team ELSE s.away_team END,"
                f" tournament = CASE WHEN {newer} THEN excluded.tournament ELSE s.tournament END,"
                f" kickoff_at = CASE WHEN {newer} THEN excluded.kickoff_at ELSE s.kickoff_at END,"
                f" last_event_id = CASE WHEN {newer} THEN excluded.last_event_id ELSE s.last_event_id END,"
                " last_observed_at = greatest(s.last_observed_at, excluded.last_observed_at),"
                " first_observed_at = least(s.first_observed_at, excluded.first_observed_at),"
                " bookmakers = ARRAY(SELECT DISTINCT b FROM unnest(s.bookmakers || excluded.bookmakers) b ORDER BY b)"
                " WHERE s.bookmakers @> excluded.bookmakers IS NOT TRUE"
                f" OR {newer} OR s.first_observed_at > excluded.first_observed_at",
                list(cols[0]),
                list(cols[1]),
                list(cols[2]),
                list(cols[3]),
                list(cols[4]),
                [",".join(b) for b in cols[5]],
                list(cols[6]),
                list(cols[7]),
                list(cols[8]),
            )
        )
    return written


async def apply_runs(conn: asyncpg.Connection, recs: Sequence[R.Rec], target: Target) -> int:
    """Run events -> ``scrape_runs``, folded in record order with the live table's own rules."""
    schema = target.schema
    held = await conn.fetch(
        f"SELECT run_id, state, applied_event_ids FROM {schema}.scrape_runs WHERE run_id = ANY($1::text[])"
        " ORDER BY run_id FOR UPDATE",
        R.run_ids(recs),
    )
    rows = R.run_rows({row["run_id"]: (json.loads(row["state"]), list(row["applied_event_ids"])) for row in held}, recs)
    if not rows:
        return 0
    await conn.executemany(
        f"INSERT INTO {schema}.scrape_runs AS r (run_id, status, trigger, requested_at, started_at,"
        " last_heartbeat_at, finished_at, stale_detected_at, observed, failed, errors, state, applied_event_ids)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::jsonb, $13)"
        " ON CONFLICT (run_id) DO UPDATE SET status = excluded.status, trigger = excluded.trigger,"
        " requested_at = excluded.requested_at, started_at = excluded.started_at,"
        " last_heartbeat_at = excluded.last_heartbeat_at, finished_at = excluded.finished_at,"
        " stale_detected_at = excluded.stale_detected_at, observed = excluded.observed, failed = excluded.failed,"
        " errors = excluded.errors, state = excluded.state, applied_event_ids = excluded.applied_event_ids",
        rows,
    )
    return len(rows)
