"""The projections' write path on what only real PostgreSQL and a real broker can show.

Failures midway (an error after the rows, a connection killed), retention, the replay's DDL against
the migrations, the migrations under concurrency, and a gap read back from Apache Kafka. The delivery
scenarios both stores must pass are in ``tests/contract``; the end-to-end tests through a worker are
in ``test_projection_pipeline.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import create_async_engine

from projections.agents import Projector
from projections.migrate import upgrade
from projections.postgres import PartitionCache, PgStore, connect_pool, dsn_of, ensure_partitions
from projections.registry import ODDS_CHANGES
from projections.rows import Rec
from projections.store import Applied, SqlApplier
from streams.events import BaseEvent, OddsChanged, encode
from streams.kafka import ensure_topics
from streams.ranges import range_reader
from streams.settings import Settings
from tests.contract import test_projection_stores as contract
from tests.doubles import RecordingOutbox, as_records
from tests.projection_world import snapshot, world

pytestmark = pytest.mark.integration


def _dsn(url: str) -> str:
    return dsn_of(url)


async def _migrated(database_url: str) -> asyncpg.Pool:
    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return await connect_pool(database_url, size=3)


async def project(
    pool: asyncpg.Pool,
    recs: Sequence[Rec],
    *,
    batch: int = 17,
    wrap: Callable[[str, SqlApplier], SqlApplier] | None = None,
) -> list[Applied]:
    """``tests.contract``'s feed, into a ``PgStore`` over ``pool``."""
    return await contract.project(PgStore(pool), recs, batch=batch, wrap=wrap)


@pytest.fixture
def events() -> list[BaseEvent]:
    return world(n_events=6, cycles=3)


async def _reference(database_url: str, events: list[BaseEvent]) -> dict[str, Any]:
    pool = await _migrated(database_url)
    try:
        await project(pool, as_records(events))
    finally:
        await pool.close()
    return await snapshot(_dsn(database_url))


_EXTRA_DBS: list[tuple[str, str]] = []


async def _fresh_db(database_url: str, tag: str) -> str:
    """Another empty database on the same server, dropped at the end of the test."""
    base, _, name = database_url.rpartition("/")
    other = f"{name}_{tag}"
    conn = await asyncpg.connect(_dsn(database_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{other}"')
        await conn.execute(f'CREATE DATABASE "{other}"')
    finally:
        await conn.close()
    _EXTRA_DBS.append((_dsn(database_url), other))
    return f"{base}/{other}"


@pytest.fixture(autouse=True)
async def _drop_extra_databases(admin_dsn: str) -> Any:
    yield
    while _EXTRA_DBS:
        _, name = _EXTRA_DBS.pop()
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


async def test_batches_failing_midway_change_nothing(database_url: str, events: list[BaseEvent]) -> None:
    ref = await _reference(database_url, events)
    url = await _fresh_db(database_url, "fail")
    failures: dict[str, int] = {}

    def flaky(name: str, inner: SqlApplier) -> SqlApplier:
        async def apply(conn: asyncpg.Connection, recs: Sequence[Rec], target: Any) -> int:
            written = await inner(conn, recs, target)  # the rows are in, the offsets not yet
            n = failures.get(name, 0)
            failures[name] = n + 1
            if n % 3 == 0:
                raise RuntimeError("write failed after the rows, before the commit")
            if n % 3 == 1:  # the connection dies mid-transaction
                await conn.execute("select pg_terminate_backend(pg_backend_pid())")
            return written

        return apply

    pool = await _migrated(url)
    try:
        await project(pool, as_records(events), batch=11, wrap=flaky)
    finally:
        await pool.close()
    assert sum(failures.values()) > 10
    assert await snapshot(_dsn(url)) == ref


async def test_retention_drops_whole_expired_days_once(database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from projections.retention import drop_expired

    pool = await _migrated(database_url)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    try:
        days = {(now - timedelta(days=n)).date() for n in range(0, 20)}
        await ensure_partitions(pool, days, PartitionCache())
        async with pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO odds_history (event_id, market_id, line, sportradar_id, bookmaker, outcomes, observed_at,"
                " caused_by) SELECT gen_random_uuid(), '1', null, '1', 'betpawa', '[]', $1::timestamptz - n * interval"
                " '1 day', gen_random_uuid() FROM generate_series(0, 19) n",
                now,
            )
        # two workers sweep at once: one drops, the other skips this tick
        first, second = await asyncio.gather(drop_expired(pool, 14, now=now), drop_expired(pool, 14, now=now))
        dropped = sorted(first + second)
        assert len(dropped) == 6 and len(set(dropped)) == 6
        assert await drop_expired(pool, 14, now=now) == []
        async with pool.acquire() as conn:
            oldest = await conn.fetchval("select min(observed_at) from odds_history")
            count = await conn.fetchval("select count(*) from odds_history")
        assert count == 14 and oldest == now - timedelta(days=13)
    finally:
        await pool.close()


async def test_replay_tables_match_the_migrated_ones(database_url: str) -> None:
    """projections.schema (used by replay) and the migrations describe the same tables and indexes."""
    from projections.registry import GROUPS
    from projections.replay import _create_rebuild_schema
    from projections.schema import REBUILD_SCHEMA

    pool = await _migrated(database_url)
    try:
        await _create_rebuild_schema(pool, list(GROUPS))
        async with pool.acquire() as conn:

            async def describe(schema: str) -> Any:
                columns = await conn.fetch(
                    "select table_name, column_name, data_type, is_nullable, column_default"
                    " from information_schema.columns where table_schema = $1 and table_name <> 'projection_progress'"
                    " and table_name <> 'alembic_version' and table_name <> 'odds_current'"
                    " and table_name not like 'odds_history_p%' order by 1, 2",
                    schema,
                )
                indexes = await conn.fetch(
                    "select indexname, replace(indexdef, $1 || '.', '') from pg_indexes where schemaname = $1"
                    " and tablename not in ('projection_progress', 'alembic_version') order by 1",
                    schema,
                )
                return [tuple(r) for r in columns], [tuple(r) for r in indexes]

            assert await describe(REBUILD_SCHEMA) == await describe("public")
    finally:
        await pool.close()


async def test_migrations_keep_the_first_slices_history_and_run_once_under_concurrency(database_url: str) -> None:
    """A database made by the first slice (unpartitioned odds_history) keeps every row (BUG-028),
    and three workers migrating at once leave one schema at head."""
    from projections.migrate import current_revision

    dsn = _dsn(database_url)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "create table odds_history (event_id uuid not null, market_id text not null, line numeric,"
            " sportradar_id text not null, bookmaker text not null, outcomes jsonb not null, previous_outcomes jsonb,"
            " observed_at timestamptz not null, caused_by uuid not null, recorded_at timestamptz default now());"
            " create unique index odds_history_key on odds_history (event_id, market_id, line) nulls not distinct;"
            " insert into odds_history values"
            " (gen_random_uuid(), '3743', null, '1', 'betpawa', '[]', null, now() - interval '2 days',"
            " gen_random_uuid()), (gen_random_uuid(), '5000', 2.5, '1', 'betpawa',"
            ' \'[{"name":"Over","price":1.9,"suspended":false}]\', \'[]\', now(), gen_random_uuid())'
        )
        before = await conn.fetch("select event_id, market_id, line, outcomes from odds_history order by market_id")
        engines = [create_async_engine(database_url) for _ in range(3)]
        try:
            await asyncio.gather(*(upgrade(e) for e in engines))
            assert await current_revision(engines[0]) == "0001"
        finally:
            for e in engines:
                await e.dispose()
        after = await conn.fetch("select event_id, market_id, line, outcomes from odds_history order by market_id")
        assert after == before
        assert await conn.fetchval("select relkind from pg_class where relname = 'odds_history'") == b"p"
        assert await conn.fetchval("select to_regclass('odds_history_legacy')") is None
    finally:
        await conn.close()


async def test_a_gap_after_the_stored_offset_is_read_back_from_the_broker(
    database_url: str, settings: Settings, events: list[BaseEvent]
) -> None:
    """Kafka's committed offsets ahead of ``projection_progress`` (a SIGKILL, a rebalance): the
    records in between arrive nowhere, so the projection reads them itself, invalid ones lettered."""
    await ensure_topics(settings)
    topic = settings.topic("odds.changes")
    changes = [e for e in events if isinstance(e, OddsChanged)]
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    recs: list[Rec] = []
    try:
        for i, ev in enumerate(changes):
            if i == len(changes) // 2:  # an invalid record in the middle of a partition
                bad = await (await producer.send(topic, b'{"event_type": "OddsChanged"}', key=ev.key.encode()))
            md = await (await producer.send(topic, encode(ev), key=ev.key.encode()))
            recs.append(Rec(topic, md.partition, md.offset, ev))
    finally:
        await producer.stop()
    outbox = RecordingOutbox()

    async def projected(url: str, batches: list[list[Rec]]) -> tuple[dict[str, Any], list[Applied]]:
        await (await _migrated(url)).close()
        store = PgStore(database_url=url, retention_days=0)
        projector = Projector(store, outbox, range_reader(settings))
        try:
            done = [await store.write(ODDS_CHANGES, b, projector.fill(ODDS_CHANGES)) for b in batches]
        finally:
            await store.close()
        return await snapshot(_dsn(url)), done

    reference, _ = await projected(database_url, [recs])
    outbox.letters.clear()  # the reference's recs skip the invalid offset too, so it read and lettered it
    by_partition: dict[int, list[Rec]] = {}
    for r in recs:
        by_partition.setdefault(r.partition, []).append(r)
    assert bad.partition in by_partition and len(by_partition[bad.partition]) > 4
    head = [r for rs in by_partition.values() for r in rs[:2]]  # progress stored after these
    tail = [rs[-1] for rs in by_partition.values()]  # then the consumer jumps to the last record
    gapped, done = await projected(await _fresh_db(database_url, "gap"), [head, tail])

    assert gapped == reference
    assert done[1].gap_records == len(recs) + 1 - len(head) - len(tail)  # the invalid one read too
    assert [(r.partition, r.offset) for r, _ in outbox.letters] == [(bad.partition, bad.offset)]
