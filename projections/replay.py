"""``oddstream replay``: rebuild projections from the topics.

From the beginning (the default), the chosen projections are rebuilt into fresh tables in the
``odds_rebuild`` schema while the workers keep serving and writing the live ones; at the end the
replay locks the live projections' progress rows (the agents wait on that lock, holding nothing
else), catches up to where the live projections had got, and swaps the fresh tables in, all in
one transaction; the agents then go on from the replay's offsets. ``--since`` (or ``--in-place``)
re-applies the events onto the live tables instead, which changes nothing already there: every
write is idempotent. The same write path as the agents is used (``projections.postgres.PgStore``),
for the projections of the registry (``projections.registry``) in the groups asked for.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TextIO

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.postgres import PgStore, connect_pool
from projections.registry import GROUPS, in_group, tables_of
from projections.rows import Rec
from projections.schema import REBUILD_SCHEMA, VIEW_DDL, table_ddl
from projections.store import Projection
from streams.ends import behind_live, log_ends, probe_ends, topic_partitions
from streams.events import InvalidEvent
from streams.kafka import client_options
from streams.retry import until_done
from streams.settings import Settings

__all__ = [
    "ReplayBusy",
    "ReplayRefused",
    "ReplayStats",
    "forget_lost_log",
    "replay",
]

log = structlog.get_logger(__name__)

BATCH = 10_000
STALL_S = 60.0
"""A replay that reads nothing new for this long while short of its targets refuses to go on."""
REPLAY_LOCK = 7434004
REPLAY_SUFFIX = "@replay"
"""A replay's progress rows are its projections' names with this suffix, beside the live ones."""


class ReplayBusy(RuntimeError):
    """Another ``oddstream replay`` holds the replay lock of this database."""


class ReplayRefused(RuntimeError):
    """The topics cannot reproduce what the live tables hold: nothing was swapped."""


def _refusal(behind: Sequence[tuple[str, str, int, int, int]]) -> str:
    name, topic, partition, applied, end = behind[0]
    more = f" (and {len(behind) - 1} more partitions)" if len(behind) > 1 else ""
    return (
        f"refusing to swap: the live projection {name} applied {topic}[{partition}] up to offset {applied}, "
        f"but the topic ends at {end}{more}; the event log no longer holds what the live tables were built "
        "from (a broker that keeps nothing across restarts?), so a rebuild would lose rows"
    )


@dataclass
class ReplayStats:
    events_read: int = 0
    events_applied: int = 0
    rows_written: int = 0
    invalid: int = 0
    seconds: float = 0.0
    swapped: list[str] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events_read / self.seconds if self.seconds > 0 else 0.0


class _Bar:
    """A one-line progress bar on a terminal; silent otherwise."""

    def __init__(self, total: int, out: TextIO | None) -> None:
        self.total = max(total, 1)
        self.out = out if out is not None and out.isatty() else None
        self.started = time.monotonic()
        self.last = 0.0

    def update(self, done: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.out is None or (not force and now - self.last < 0.2):
            return
        self.last = now
        frac = min(done / self.total, 1.0)
        rate = done / max(now - self.started, 1e-6)
        filled = int(frac * 30)
        bar = "#" * filled + "." * (30 - filled)
        self.out.write(f"\r  replay [{bar}] {frac:4.0%}  {done:,}/{self.total:,} events  {rate:,.0f}/s")
        self.out.flush()

    def close(self) -> None:
        if self.out is not None:
            self.out.write("\n")
            self.out.flush()


async def forget_lost_log(settings: Settings) -> list[tuple[str, str, int, int, int]]:
    """Empty every projection when its topics no longer hold what it applied; say what was behind.

    A memory-only broker (Tansu) starts each time with empty topics while the database keeps its
    tables and progress rows: the projections would skip the new records up to the old offsets,
    and a replay could never reproduce the tables. They derive from a log that is gone, so they
    start again with it. Nothing changes while every topic reaches what its projections applied.
    """
    assert settings.database_url is not None
    pool = await connect_pool(settings.database_url, size=1)
    try:
        rows = await pool.fetch(
            'SELECT projection, topic, partition, "offset" FROM public.projection_progress WHERE "offset" >= 0'
        )
        if not rows:
            return []
        tps = await topic_partitions(settings, sorted({r["topic"] for r in rows}))
        ends = await log_ends(client_options(settings), tps)
        applied = {(r["projection"], r["topic"], r["partition"]): int(r["offset"]) for r in rows}
        behind = behind_live(applied, {(tp.topic, tp.partition): end for tp, end in ends.items()})
        if behind:
            tables = ", ".join(f"public.{t}" for t in [*tables_of(list(GROUPS)), "projection_progress"])
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(f"TRUNCATE {tables}")
            log.warning("projections_emptied", reason="event_log_lost", partitions_behind=len(behind), first=behind[0])
        return behind
    finally:
        await pool.close()


async def _create_rebuild_schema(pool: asyncpg.Pool, groups: Sequence[str]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {REBUILD_SCHEMA} CASCADE")
        await conn.execute(f"CREATE SCHEMA {REBUILD_SCHEMA}")
        for table in tables_of(groups):
            await conn.execute(table_ddl(table, REBUILD_SCHEMA))


async def _swap(conn: asyncpg.Connection, groups: Sequence[str]) -> list[str]:
    """Move the rebuilt tables into ``public`` (inside the caller's transaction)."""
    moved = []
    await conn.execute("DROP VIEW IF EXISTS public.odds_current")
    for table in tables_of(groups):
        children = [
            r["relname"]
            for r in await conn.fetch(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                " WHERE i.inhparent = to_regclass($1)",
                f"{REBUILD_SCHEMA}.{table}",
            )
        ]
        await conn.execute(f"DROP TABLE IF EXISTS public.{table} CASCADE")
        await conn.execute(f"ALTER TABLE {REBUILD_SCHEMA}.{table} SET SCHEMA public")
        for child in children:
            await conn.execute(f"ALTER TABLE {REBUILD_SCHEMA}.{child} SET SCHEMA public")
        moved.append(table)
    await conn.execute(VIEW_DDL.format(s="public"))
    await conn.execute(f"DROP SCHEMA {REBUILD_SCHEMA} CASCADE")
    return moved


async def replay(
    settings: Settings,
    groups: Sequence[str] = tuple(GROUPS),
    *,
    since: datetime | None = None,
    in_place: bool = False,
    retention_days: int | None = None,
    out: TextIO | None = None,
    before_swap: Callable[[], Any] | None = None,
) -> ReplayStats:
    """Rebuild ``groups`` from the topics; see the module docstring."""
    assert settings.database_url is not None
    in_place = in_place or since is not None
    projections = in_group(groups)
    topics_of = {p.name: [settings.topic(spec.name) for spec in p.topics] for p in projections}
    readers: dict[str, list[Projection]] = {}
    for p in projections:
        for topic in topics_of[p.name]:
            readers.setdefault(topic, []).append(p)
    replay_names = [f"{p.name}{REPLAY_SUFFIX}" for p in projections]
    days = settings.history_retention_days if retention_days is None else retention_days

    stats = ReplayStats()
    started = time.monotonic()
    pool = await connect_pool(settings.database_url, size=4)
    guard = await pool.acquire()  # holds the session lock: one replay at a time per database
    if not await guard.fetchval("select pg_try_advisory_lock($1)", REPLAY_LOCK):
        await pool.release(guard)
        await pool.close()
        raise ReplayBusy("another `oddstream replay` is running against this database")
    store = PgStore(
        pool, schema="public" if in_place else REBUILD_SCHEMA, retention_days=days, progress_suffix=REPLAY_SUFFIX
    )
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM public.projection_progress WHERE projection = ANY($1::text[])", replay_names
            )
        if not in_place:
            await _create_rebuild_schema(pool, groups)

        tps = await topic_partitions(settings, sorted(readers))
        consumer.assign(tps)
        ends = await probe_ends(consumer, tps, await consumer.end_offsets(tps))
        if since is not None:
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
            starts = {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
        else:
            starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        targets = dict(ends)
        bar = _Bar(sum(max(targets[tp] - starts[tp], 0) for tp in tps), out)

        async def apply(pending: dict[str, tuple[Projection, list[Rec]]]) -> None:
            for projection, recs in pending.values():
                if recs:
                    done = await until_done(
                        "replay write",
                        partial(store.write, projection, recs),
                        projection=projection.name,
                        events=len(recs),
                    )
                    stats.events_applied += done.events
                    stats.rows_written += done.rows

        async def read_until_targets() -> None:
            last_read = time.monotonic()
            while True:
                remaining = [tp for tp in tps if await consumer.position(tp) < targets[tp]]
                if not remaining:
                    return
                batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
                if any(batches.values()):
                    last_read = time.monotonic()
                elif time.monotonic() - last_read > STALL_S:
                    short = [(tp.topic, tp.partition, await consumer.position(tp), targets[tp]) for tp in remaining]
                    raise ReplayRefused(
                        f"refusing to go on: nothing new read for {STALL_S:.0f} s while {short[0][0]}[{short[0][1]}]"
                        f" stands at {short[0][2]}, short of {short[0][3]}; nothing was swapped"
                    )
                pending: dict[str, tuple[Projection, list[Rec]]] = {p.name: (p, []) for p in projections}
                for tp, records in batches.items():
                    for record in records:
                        if record.offset >= targets[tp]:
                            # read past the target: come back for it when the target moves on
                            consumer.seek(tp, targets[tp])
                            break
                        stats.events_read += 1
                        invalid = False
                        for projection in readers[tp.topic]:
                            try:
                                ev = projection.read(record.value)
                            except InvalidEvent:
                                invalid = True  # the worker dead-lettered it when it first came
                                continue
                            pending[projection.name][1].append(Rec(tp.topic, tp.partition, record.offset, ev))
                        stats.invalid += invalid
                await apply(pending)
                bar.update(stats.events_read)

        await read_until_targets()

        if not in_place:
            if before_swap is not None:
                await before_swap()
            # lock the live projections' progress: their agents wait on it, holding nothing else
            live_keys = [
                (p.name, tp.topic, tp.partition) for p in projections for tp in tps if tp.topic in topics_of[p.name]
            ]
            live_names, live_topics, live_parts = ([k[i] for k in live_keys] for i in range(3))
            async with pool.acquire() as lock_conn, lock_conn.transaction():
                await lock_conn.execute(
                    'INSERT INTO public.projection_progress (projection, topic, partition, "offset")'
                    " SELECT * , -1 FROM unnest($1::text[], $2::text[], $3::int[]) ON CONFLICT DO NOTHING",
                    live_names,
                    live_topics,
                    live_parts,
                )
                live = await lock_conn.fetch(
                    'SELECT projection, topic, partition, "offset" FROM public.projection_progress'
                    " WHERE (projection, topic, partition) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::int[]))"
                    " ORDER BY projection, topic, partition FOR UPDATE",
                    live_names,
                    live_topics,
                    live_parts,
                )
                at = {tp: await consumer.position(tp) for tp in tps}
                now_ends = await probe_ends(consumer, tps, await consumer.end_offsets(tps))
                for tp, offset in at.items():
                    consumer.seek(tp, offset)
                applied = {(r["projection"], r["topic"], r["partition"]): int(r["offset"]) for r in live}
                behind = behind_live(applied, {(tp.topic, tp.partition): end for tp, end in now_ends.items()})
                if behind:
                    raise ReplayRefused(_refusal(behind))
                for row in live:
                    tp = TopicPartition(row["topic"], row["partition"])
                    targets[tp] = max(targets[tp], int(row["offset"]) + 1)
                await read_until_targets()  # catch up with the live projections
                stats.swapped = await _swap(lock_conn, groups)
                await lock_conn.execute(
                    'UPDATE public.projection_progress AS g SET "offset" = greatest(g."offset", r."offset"),'
                    " updated_at = now() FROM public.projection_progress AS r"
                    " WHERE r.projection = g.projection || $2 AND r.topic = g.topic"
                    " AND r.partition = g.partition AND g.projection = ANY($1::text[])",
                    [p.name for p in projections],
                    REPLAY_SUFFIX,
                )
        async with pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM public.projection_progress WHERE projection = ANY($1::text[])", replay_names
            )
        bar.update(stats.events_read, force=True)
        bar.close()
    finally:
        await consumer.stop()
        await guard.execute("select pg_advisory_unlock($1)", REPLAY_LOCK)
        await pool.release(guard)
        await pool.close()
    stats.seconds = time.monotonic() - started
    log.info(
        "replay_finished",
        projections=list(groups),
        in_place=in_place,
        events_read=stats.events_read,
        rows_written=stats.rows_written,
        events_per_s=round(stats.events_per_s),
        swapped=stats.swapped,
    )
    return stats


def run(settings: Settings, groups: Sequence[str], since: datetime | None, in_place: bool) -> ReplayStats:
    return asyncio.run(replay(settings, groups, since=since, in_place=in_place, out=sys.stderr))
