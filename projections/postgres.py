"""The projection store on PostgreSQL (asyncpg): one transaction per batch, rows and progress together.

A batch of one projection is applied like this, in one transaction:

1. lock the projection's progress rows of the batch's partitions (``SELECT ... FOR UPDATE``), so two
   workers briefly owning the same partition during a rebalance take turns;
2. drop the records at or below the stored offset (already applied by an earlier commit, whatever
   Kafka's committed offsets say), and read any gap after it (``streams.sequencing.in_sequence``);
3. write the rows (``Projection.apply``, ``projections.sql``);
4. store the batch's last offset per partition.

The daily partitions of ``odds_history`` a batch needs are created before the rows are written, in
short transactions of their own serialised by an advisory lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date

import asyncpg
import structlog

from projections.rows import Rec
from projections.schema import partition_ddl
from projections.store import Applied, Filler, Projection, Target, retention_cutoff
from streams.sequencing import in_sequence

__all__ = ["PartitionCache", "PgStore", "connect_pool", "dsn_of", "ensure_partitions"]

log = structlog.get_logger(__name__)

PARTITIONS_LOCK = 7434002


def dsn_of(database_url: str) -> str:
    """The plain libpq/asyncpg DSN of a SQLAlchemy URL."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def connect_pool(database_url: str, *, size: int = 2) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn_of(database_url), min_size=1, max_size=size)
    assert pool is not None
    return pool


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


class PgStore:
    """``ProjectionStore`` on PostgreSQL.

    Over ``pool``, or over a pool of ``database_url`` opened on first use (a worker starts before
    the database answers; every write retries until it does). ``schema`` is where the projections'
    tables are (``public``, or replay's scratch schema); ``progress_suffix`` tells a replay's progress
    rows from the live agents' (``"@replay"``).
    """

    def __init__(
        self,
        pool: asyncpg.Pool | None = None,
        *,
        database_url: str | None = None,
        schema: str = "public",
        retention_days: int | None = None,
        progress_suffix: str = "",
    ) -> None:
        if pool is None and database_url is None:
            raise ValueError("a pool or a database URL")
        self._pool = pool
        self._database_url = database_url
        self._lock = asyncio.Lock()
        self.schema = schema
        self.retention_days = retention_days
        self.progress_suffix = progress_suffix
        self.partitions = PartitionCache()

    async def pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self._pool is None:
                assert self._database_url is not None
                self._pool = await connect_pool(self._database_url, size=4)
            return self._pool

    def target(self) -> Target:
        return Target(self.schema, retention_cutoff(self.retention_days))

    async def _prepare(self, projection: Projection, recs: Sequence[Rec], target: Target) -> None:
        days = projection.days(recs, target.not_before)
        if days:
            await ensure_partitions(await self.pool(), days, self.partitions, self.schema)

    async def write(self, projection: Projection, recs: Sequence[Rec], fill: Filler | None = None) -> Applied:
        try:
            return await self._write(projection, recs, fill)
        except Exception:
            # a replay may have swapped odds_history (and its partitions) under us: look again
            self.partitions.forget()
            raise

    async def _write(self, projection: Projection, recs: Sequence[Rec], fill: Filler | None) -> Applied:
        result = Applied()
        if not recs:
            return result
        name = projection.name + self.progress_suffix
        target = self.target()
        await self._prepare(projection, [r for r in recs if r.event is not None], target)
        last: dict[tuple[str, int], int] = {}
        for r in recs:
            last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)
        tps = sorted(last)
        topics = [t for t, _ in tps]
        parts = [p for _, p in tps]
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                'INSERT INTO public.projection_progress (projection, topic, partition, "offset")'
                " SELECT $1, t, p, -1 FROM unnest($2::text[], $3::int[]) AS u(t, p) ON CONFLICT DO NOTHING",
                name,
                topics,
                parts,
            )
            stored = await conn.fetch(
                'SELECT topic, partition, "offset" FROM public.projection_progress'
                " WHERE projection = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))"
                " ORDER BY topic, partition FOR UPDATE",
                name,
                topics,
                parts,
            )
            done = {(row["topic"], row["partition"]): int(row["offset"]) for row in stored}

            def applied(topic: str, partition: int) -> int | None:
                offset = done.get((topic, partition), -1)
                return offset if offset >= 0 else None

            ready = await in_sequence(recs, applied, fill, consumer=f"projection {projection.name}")
            result.skipped, result.gap_records = ready.skipped, ready.gap_records
            events = [r for r in ready.records if r.event is not None]
            if ready.gap_records:
                await self._prepare(projection, events, target)
            result.events = len(events)
            if events:
                result.rows = await projection.apply(conn, events, target)
            moved = [(t, p, o) for (t, p), o in last.items() if o > done.get((t, p), -1)]
            if moved:
                await conn.execute(
                    'UPDATE public.projection_progress AS g SET "offset" = u.o, updated_at = now()'
                    " FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, o)"
                    ' WHERE g.projection = $1 AND g.topic = u.t AND g.partition = u.p AND g."offset" < u.o',
                    name,
                    [m[0] for m in moved],
                    [m[1] for m in moved],
                    [m[2] for m in moved],
                )
        result.offsets = {f"{t}/{p}": o for (t, p), o in sorted(last.items())}
        return result

    async def applied(
        self, projection: Projection, partitions: Sequence[tuple[str, int]]
    ) -> Mapping[tuple[str, int], int | None]:
        rows = await (await self.pool()).fetch(
            'SELECT topic, partition, "offset" FROM public.projection_progress'
            " WHERE projection = $1 AND (topic, partition) IN (SELECT * FROM unnest($2::text[], $3::int[]))",
            projection.name + self.progress_suffix,
            [t for t, _ in partitions],
            [p for _, p in partitions],
        )
        stored = {(r["topic"], r["partition"]): int(r["offset"]) for r in rows}
        return {tp: (o if (o := stored.get(tp, -1)) >= 0 else None) for tp in partitions}

    async def close(self) -> None:
        """Close the pool when this store opened it."""
        if self._database_url is not None and self._pool is not None:
            await self._pool.close()
            self._pool = None
