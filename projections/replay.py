"""``oddstream replay``: rebuild projections from the topics.

From the beginning (the default), the chosen projections are rebuilt into fresh tables in the
``odds_rebuild`` schema while the workers keep serving and writing the live ones; at the end the
replay locks the live projections' progress rows (the agents wait on that lock, holding nothing
else), catches up to where the live projections had got, and swaps the fresh tables in, all in
one transaction; the agents then go on from the replay's offsets. ``--since`` (or ``--in-place``)
re-applies the events onto the live tables instead, which changes nothing already there: every
write is idempotent. The same write path as the agents is used (``projections.store``).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

import asyncpg
import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from projections import store, wire
from projections.rows import Rec, days_of
from projections.schema import PROJECTION_TABLES, REBUILD_SCHEMA, VIEW_DDL, table_ddl
from streams import topics
from streams.events import BaseEvent, InvalidEvent, OddsChanged
from streams.kafka import client_options
from streams.settings import Settings

__all__ = ["GROUPS", "ReplayBusy", "ReplayStats", "replay", "topic_partitions"]

log = structlog.get_logger(__name__)

# user-facing projection -> (progress name, topics) of the agents that feed it
GROUPS: dict[str, tuple[tuple[str, tuple[topics.TopicSpec, ...]], ...]] = {
    "odds": (("odds-changes", (topics.CHANGES,)), ("odds-observed", (topics.OBSERVED,))),
    "runs": (("runs", (topics.SCRAPE_REQUESTS, topics.RUNS)),),
}
BATCH = 10_000
REPLAY_LOCK = 7434004


class ReplayBusy(RuntimeError):
    """Another ``oddstream replay`` holds the replay lock of this database."""


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


def _applier(name: str, schema: str, not_before: datetime | None) -> store.Applier:
    if name == "odds-changes":
        return store.changes_applier(schema, not_before=not_before)
    if name == "odds-observed":
        return store.observed_applier(schema)
    return store.runs_applier(schema)


def _types(name: str) -> list[type[BaseEvent]]:
    from projections.agents import PROJECTIONS

    return list(PROJECTIONS[name][1])


async def topic_partitions(settings: Settings, names: Sequence[str]) -> list[TopicPartition]:
    """Every partition of these topics (missing topics have none)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(names))
    finally:
        await admin.close()
    return sorted(
        TopicPartition(d["topic"], p["partition"])
        for d in described
        if d.get("topic") in names and not d.get("error_code")
        for p in d.get("partitions", [])
    )


async def _create_rebuild_schema(pool: asyncpg.Pool, groups: Sequence[str]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DROP SCHEMA IF EXISTS {REBUILD_SCHEMA} CASCADE")
        await conn.execute(f"CREATE SCHEMA {REBUILD_SCHEMA}")
        for group in groups:
            for table in PROJECTION_TABLES[group]:
                await conn.execute(table_ddl(table, REBUILD_SCHEMA))


async def _swap(conn: asyncpg.Connection, groups: Sequence[str]) -> list[str]:
    """Move the rebuilt tables into ``public`` (inside the caller's transaction)."""
    moved = []
    await conn.execute("DROP VIEW IF EXISTS public.odds_current")
    for group in groups:
        for table in PROJECTION_TABLES[group]:
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
    schema = "public" if in_place else REBUILD_SCHEMA
    names = {name: [settings.topic(s.name) for s in specs] for g in groups for name, specs in GROUPS[g]}
    name_of_topic = {t: name for name, ts in names.items() for t in ts}
    replay_name = {name: f"{name}@replay" for name in names}
    if retention_days is None:
        from projections.retention import retention_days_of

        retention_days = retention_days_of(settings)
    not_before = store.retention_cutoff(retention_days)

    stats = ReplayStats()
    started = time.monotonic()
    pool = await store.connect_pool(settings.database_url, size=4)
    guard = await pool.acquire()  # holds the session lock: one replay at a time per database
    if not await guard.fetchval("select pg_try_advisory_lock($1)", REPLAY_LOCK):
        await pool.release(guard)
        await pool.close()
        raise ReplayBusy("another `oddstream replay` is running against this database")
    consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
    await consumer.start()
    cache = store.PartitionCache()
    try:
        async with pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM public.projection_progress WHERE projection = ANY($1::text[])", list(replay_name.values())
            )
        if not in_place:
            await _create_rebuild_schema(pool, groups)

        tps = await topic_partitions(settings, list(name_of_topic))
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if since is not None:
            found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
            starts = {tp: (found[tp].offset if found.get(tp) is not None else ends[tp]) for tp in tps}
        else:
            starts = await consumer.beginning_offsets(tps)
        for tp in tps:
            consumer.seek(tp, starts[tp])
        targets = dict(ends)
        bar = _Bar(sum(max(targets[tp] - starts[tp], 0) for tp in tps), out)

        async def apply(pending: dict[str, list[Rec]]) -> None:
            for name, recs in pending.items():
                if not recs:
                    continue
                if name == "odds-changes":
                    changed = [r.event for r in recs if isinstance(r.event, OddsChanged)]
                    await store.ensure_partitions(pool, days_of(changed, not_before=not_before), cache, schema)
                applier = _applier(name, schema, not_before)

                async def once(recs: list[Rec] = recs, applier: store.Applier = applier, name: str = name) -> Any:
                    return await store.write_batch(pool, replay_name[name], recs, applier, schema=schema)

                done = await store.write_with_retry(once, projection=replay_name[name], events=len(recs))
                stats.events_applied += done.events
                stats.rows_written += done.rows

        async def read_until_targets() -> None:
            while True:
                remaining = [tp for tp in tps if await consumer.position(tp) < targets[tp]]
                if not remaining:
                    return
                batches = await consumer.getmany(*remaining, timeout_ms=1000, max_records=BATCH)
                pending: dict[str, list[Rec]] = {name: [] for name in names}
                for tp, records in batches.items():
                    name = name_of_topic[tp.topic]
                    for record in records:
                        if record.offset >= targets[tp]:
                            continue
                        stats.events_read += 1
                        try:
                            ev = wire.read(record.value, _types(name))
                        except InvalidEvent:
                            stats.invalid += 1  # the worker dead-lettered it when it first came
                            continue
                        pending[name].append(Rec(tp.topic, tp.partition, record.offset, ev))
                await apply(pending)
                bar.update(stats.events_read)

        await read_until_targets()

        if not in_place:
            if before_swap is not None:
                await before_swap()
            # lock the live projections' progress: their agents wait on it, holding nothing else
            async with pool.acquire() as lock_conn, lock_conn.transaction():
                live_topics = [tp.topic for tp in tps]
                live_parts = [tp.partition for tp in tps]
                live_names = [name_of_topic[tp.topic] for tp in tps]
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
                for row in live:
                    tp = TopicPartition(row["topic"], row["partition"])
                    targets[tp] = max(targets[tp], int(row["offset"]) + 1)
                await read_until_targets()  # catch up with the live projections
                stats.swapped = await _swap(lock_conn, groups)
                await lock_conn.execute(
                    'UPDATE public.projection_progress AS g SET "offset" = greatest(g."offset", r."offset"),'
                    " updated_at = now() FROM public.projection_progress AS r"
                    " WHERE r.projection = g.projection || '@replay' AND r.topic = g.topic"
                    " AND r.partition = g.partition AND g.projection = ANY($1::text[])",
                    list(names),
                )
        async with pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM public.projection_progress WHERE projection = ANY($1::text[])", list(replay_name.values())
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
        "replay finished",
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
