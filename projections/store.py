"""The projections' write path on asyncpg: one transaction per batch, rows and progress together.

A batch is applied like this, in one transaction:

1. lock this projection's progress rows of the batch's partitions (``SELECT ... FOR UPDATE``), so
   two workers briefly owning the same partition during a rebalance take turns;
2. drop the records at or below the stored offset (already applied by an earlier commit, whatever
   Kafka's committed offsets say);
3. write the rows: ``COPY`` into a temporary staging table, then one ``INSERT ... SELECT ... ON
   CONFLICT`` per table (measured fastest, see bench/README.md);
4. store the batch's last offset per partition.

Redelivery, replays and retries of a batch that failed midway therefore leave the tables as they
were. ``odds_history`` ignores a key it holds; ``odds_quotes``, ``board_confirmations`` and
``sport_events`` keep the newest observation (``observed_at``, then event id); ``scrape_runs`` is
folded with ``agents.run_rules.apply_run_event`` and remembers the event ids it applied.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

import asyncpg
import structlog

from agents.run_rules import apply_run_event
from projections import rows as R
from projections.schema import partition_ddl
from projections.wire import ObservedHead
from streams.clock import parse_ts
from streams.events import OddsChanged, OddsObserved
from streams.retry import until_done
from streams.sequencing import plan

__all__ = [
    "Applied",
    "PartitionCache",
    "apply_changes",
    "apply_observed",
    "apply_runs",
    "connect_pool",
    "dsn_of",
    "ensure_partitions",
    "write_batch",
    "write_with_retry",
]

log = structlog.get_logger(__name__)

PARTITIONS_LOCK = 7434002

Applier = Callable[[asyncpg.Connection, list[R.Rec]], Awaitable[int]]
# (topic, partition, start, end) -> the valid records of offsets [start, end), read from the broker
Filler = Callable[[str, int, int, int], Awaitable[list[R.Rec]]]


@dataclass
class Applied:
    """What one batch did: records applied (not already recorded), rows written, per-partition offsets."""

    events: int = 0
    skipped: int = 0
    rows: int = 0
    offsets: dict[str, int] = field(default_factory=dict)
    gap_records: int = 0
    """Records read from the broker because the consumer had skipped past them."""


def dsn_of(database_url: str) -> str:
    """The plain libpq/asyncpg DSN of a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def connect_pool(database_url: str, *, size: int = 2) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn_of(database_url), min_size=1, max_size=size)
    assert pool is not None
    return pool


def _count(status: str) -> int:
    """Rows affected, from a command tag (``INSERT 0 12``, ``UPDATE 3``)."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


# -- daily partitions ------------------------------------------------------------------------------


class PartitionCache:
    """The daily partitions of ``odds_history`` this process knows exist (per schema)."""

    def __init__(self) -> None:
        self.known: set[tuple[str, date]] = set()

    def forget(self, schema: str | None = None) -> None:
        self.known = {k for k in self.known if schema is not None and k[0] != schema}


async def ensure_partitions(pool: asyncpg.Pool, days: set[date], cache: PartitionCache, schema: str = "public") -> None:
    """Create the missing daily partitions, in a short transaction of their own (serialised by an
    advisory lock, so concurrent workers never race on the same CREATE)."""
    missing = sorted(d for d in days if (schema, d) not in cache.known)
    if not missing:
        return
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", PARTITIONS_LOCK)
        for day in missing:
            await conn.execute(partition_ddl(day, schema))
    cache.known.update((schema, d) for d in missing)


# -- one batch, one transaction ----------------------------------------------------------------------


async def _fill_gaps(fresh: list[R.Rec], done: dict[tuple[str, int], int], fill: Filler) -> tuple[list[R.Rec], int]:
    """``fresh`` with the records of every gap after a stored offset read in where they belong."""
    by_tp: dict[tuple[str, int], list[int]] = {}
    for r in fresh:
        by_tp.setdefault((r.topic, r.partition), []).append(r.offset)
    before: dict[tuple[str, int, int], tuple[int, int]] = {}
    for (topic, partition), offsets in by_tp.items():
        stored = done.get((topic, partition), -1)
        steps = plan(stored if stored >= 0 else None, offsets).steps
        for i, step in enumerate(steps):
            if isinstance(step, tuple):
                before[(topic, partition, offsets[cast(int, steps[i + 1])])] = step
    if not before:
        return fresh, 0
    out: list[R.Rec] = []
    filled = 0
    for r in fresh:
        gap = before.get((r.topic, r.partition, r.offset))
        if gap is not None:
            missing = await fill(r.topic, r.partition, gap[0], gap[1])
            log.warning(
                "projection read a gap the consumer skipped",
                topic=r.topic,
                partition=r.partition,
                start=gap[0],
                end=gap[1],
                records=len(missing),
            )
            filled += len(missing)
            out.extend(missing)
        out.append(r)
    return out, filled


async def write_batch(
    pool: asyncpg.Pool,
    projection: str,
    recs: Sequence[R.Rec],
    apply: Applier,
    *,
    schema: str = "public",
    fill: Filler | None = None,
) -> Applied:
    """Apply the records above this projection's stored offsets and move the offsets, atomically.

    With ``fill``, a partition is applied strictly in sequence: records the consumer skipped past
    the stored offset (its committed offsets ran ahead of the table) are read with ``fill`` first.
    """
    result = Applied()
    if not recs:
        return result
    last: dict[tuple[str, int], int] = {}
    for r in recs:
        last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
    tps = sorted(last)
    topics = [t for t, _ in tps]
    parts = [p for _, p in tps]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            'INSERT INTO public.projection_progress (projection, topic, partition, "offset")'
            " SELECT $1, t, p, -1 FROM unnest($2::text[], $3::int[]) AS u(t, p) ON CONFLICT DO NOTHING",
            projection,
            topics,
            parts,
        )
        stored = await conn.fetch(
            'SELECT topic, partition, "offset" FROM public.projection_progress'
            " WHERE projection = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))"
            " ORDER BY topic, partition FOR UPDATE",
            projection,
            topics,
            parts,
        )
        done = {(row["topic"], row["partition"]): int(row["offset"]) for row in stored}
        fresh = [r for r in recs if r.offset > done.get((r.topic, r.partition), -1)]
        result.skipped = len(recs) - len(fresh)
        if fill is not None:
            fresh, result.gap_records = await _fill_gaps(fresh, done, fill)
        result.events = len(fresh)
        if fresh:
            result.rows = await apply(conn, fresh)
        moved = [(t, p, o) for (t, p), o in last.items() if o > done.get((t, p), -1)]
        if moved:
            await conn.execute(
                'UPDATE public.projection_progress AS g SET "offset" = u.o, updated_at = now()'
                " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o)"
                ' WHERE g.projection = $1 AND g.topic = u.t AND g.partition = u.p AND g."offset" < u.o',
                projection,
                [m[0] for m in moved],
                [m[1] for m in moved],
                [m[2] for m in moved],
            )
    result.offsets = {f"{t}/{p}": o for (t, p), o in sorted(last.items())}
    return result


async def write_with_retry(
    what: Callable[[], Awaitable[Applied]],
    *,
    projection: str,
    events: int,
    first_delay_s: float = 0.2,
    max_delay_s: float = 30.0,
) -> Applied:
    """Retry until the write commits, however long that takes: one log line per failed attempt,
    and the stream waits meanwhile (back-pressure). Nothing is ever dropped."""
    return await until_done(
        "projection write",
        what,
        first_delay_s=first_delay_s,
        max_delay_s=max_delay_s,
        projection=projection,
        events=events,
    )


# -- the appliers ----------------------------------------------------------------------------------

_STAGE_CHANGES = """
CREATE TEMP TABLE IF NOT EXISTS stage_changes (
    event_id uuid, market_id text, line numeric, sportradar_id text, bookmaker text,
    outcomes jsonb, previous_outcomes jsonb, observed_at timestamptz, caused_by uuid,
    in_history boolean, newest boolean
) ON COMMIT DELETE ROWS"""


async def _quietly(conn: asyncpg.Connection, sql: str) -> None:
    """Run DDL whose NOTICE ("already exists, skipping") is noise."""
    await conn.execute(f"SET LOCAL client_min_messages = warning; {sql}")


def retention_cutoff(days: int | None, now: datetime | None = None) -> datetime | None:
    """The start of the oldest UTC day kept, or None to keep everything."""
    if days is None or days <= 0:
        return None
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)


def changes_applier(schema: str = "public", *, not_before: datetime | None = None) -> Applier:
    async def apply(conn: asyncpg.Connection, recs: list[R.Rec]) -> int:
        return await apply_changes(conn, recs, schema=schema, not_before=not_before)

    return apply


async def apply_changes(
    conn: asyncpg.Connection, recs: list[R.Rec], *, schema: str = "public", not_before: datetime | None = None
) -> int:
    """``OddsChanged`` -> ``odds_history`` (DO NOTHING on its key) and ``odds_quotes`` (newest wins),
    both from one ``COPY`` of the batch's changes (``R.change_rows``)."""
    events = [r.event for r in recs if isinstance(r.event, OddsChanged)]
    staged = R.change_rows(events, not_before=not_before)
    if not staged:
        return 0
    await _quietly(conn, _STAGE_CHANGES)
    await conn.copy_records_to_table("stage_changes", records=staged, columns=R.STAGE_COLUMNS)
    cols = ", ".join(R.HISTORY_COLUMNS)
    written = _count(
        await conn.execute(
            f"INSERT INTO {schema}.odds_history ({cols}) SELECT {cols} FROM stage_changes WHERE in_history"
            " ON CONFLICT DO NOTHING"
        )
    )
    cols = ", ".join(R.CURRENT_COLUMNS)
    written += _count(
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


def observed_applier(schema: str = "public") -> Applier:
    async def apply(conn: asyncpg.Connection, recs: list[R.Rec]) -> int:
        return await apply_observed(conn, recs, schema=schema)

    return apply


async def apply_observed(conn: asyncpg.Connection, recs: list[R.Rec], *, schema: str = "public") -> int:
    """``OddsObserved`` -> ``board_confirmations`` (latest wins) and ``sport_events`` (newest names,
    union of bookmakers, first and last observation). A few thousand rows a cycle: plain arrays."""
    events = [r.event for r in recs if isinstance(r.event, OddsObserved | ObservedHead)]
    confirmations = R.confirmation_rows(events)
    sport = R.sport_event_rows(events)
    written = 0
    if confirmations:
        written += _count(
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
        written += _count(
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


def runs_applier(schema: str = "public") -> Applier:
    async def apply(conn: asyncpg.Connection, recs: list[R.Rec]) -> int:
        return await apply_runs(conn, recs, schema=schema)

    return apply


def _ts(value: Any) -> datetime | None:
    return None if value is None else parse_ts(str(value))


async def apply_runs(conn: asyncpg.Connection, recs: list[R.Rec], *, schema: str = "public") -> int:
    """Run events -> ``scrape_runs``, folded in record order with the live table's own rules."""
    run_ids = sorted({str(getattr(r.event, "run_id")) for r in recs})  # noqa: B009 - every run event has it
    held = await conn.fetch(
        f"SELECT run_id, state, applied_event_ids FROM {schema}.scrape_runs WHERE run_id = ANY($1::text[])"
        " ORDER BY run_id FOR UPDATE",
        run_ids,
    )
    states: dict[str, dict[str, Any] | None] = {row["run_id"]: json.loads(row["state"]) for row in held}
    applied: dict[str, list[str]] = {row["run_id"]: list(row["applied_event_ids"]) for row in held}
    touched: set[str] = set()
    for r in recs:
        ev = r.event
        if isinstance(ev, ObservedHead):  # not a run event; never on the run topics
            continue
        run_id = str(getattr(ev, "run_id"))  # noqa: B009
        seen = applied.setdefault(run_id, [])
        if ev.event_id in seen:
            continue
        state, note = apply_run_event(states.get(run_id), ev)
        if note:
            log.info("late run event", run_id=run_id, note=note)
        states[run_id] = state
        seen.append(ev.event_id)
        touched.add(run_id)
    if not touched:
        return 0
    rows = []
    for run_id in sorted(touched):
        s = states[run_id]
        assert s is not None
        rows.append(
            (
                run_id,
                s["status"],
                s["trigger"],
                _ts(s["requested_at"]),
                _ts(s["started_at"]),
                _ts(s["last_heartbeat_at"]),
                _ts(s["finished_at"]),
                _ts(s["stale_detected_at"]),
                int(s["observed"]),
                int(s["failed"]),
                R.json_text(s["errors"]),
                R.json_text(s),
                applied[run_id],
            )
        )
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
