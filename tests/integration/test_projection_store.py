"""The projections' write path on real PostgreSQL: redelivery, disorder and failures change nothing.

These drive ``projections.store`` directly with records as Faust would hand them over (topic,
partition, offset, event), so each delivery pattern is exact and repeatable; the end-to-end tests
through a worker are in ``test_projection_pipeline.py``.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy.ext.asyncio import create_async_engine

from projections import store
from projections.agents import Projector, gap_reader
from projections.migrate import upgrade
from projections.rows import Rec, days_of
from streams.events import BaseEvent, OddsChanged, OddsObserved, encode
from streams.ranges import RawRecord
from streams.settings import Settings
from streams.topics import ensure_topics
from tests.integration.projection_helpers import snapshot, world

pytestmark = pytest.mark.integration

PARTITIONS = 4
PROJECTION_OF = {
    "odds.changes": "odds-changes",
    "odds.observed": "odds-observed",
    "odds.runs": "runs",
    "odds.scrape-requests": "runs",
}


def _dsn(url: str) -> str:
    return store.dsn_of(url)


async def _migrated(database_url: str) -> asyncpg.Pool:
    engine = create_async_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    return await store.connect_pool(database_url, size=3)


def as_records(events: Sequence[BaseEvent]) -> list[Rec]:
    """Records with the offsets a keyed producer would give them, in the given order."""
    next_offset: dict[tuple[str, int], int] = {}
    out = []
    for ev in events:
        part = zlib.crc32(ev.key.encode()) % PARTITIONS
        tp = (ev.topic, part)
        off = next_offset.get(tp, 0)
        next_offset[tp] = off + 1
        out.append(Rec(ev.topic, part, off, ev))
    return out


def _applier(name: str) -> store.Applier:
    return {
        "odds-changes": store.changes_applier(),
        "odds-observed": store.observed_applier(),
        "runs": store.runs_applier(),
    }[name]


async def project(
    pool: asyncpg.Pool,
    recs: Sequence[Rec],
    *,
    batch: int = 17,
    wrap: Callable[[str, store.Applier], store.Applier] | None = None,
) -> list[store.Applied]:
    """Feed records to the projections in batches, per projection, as the agents would."""
    cache = store.PartitionCache()
    results = []
    by_projection: dict[str, list[Rec]] = {}
    for r in recs:
        by_projection.setdefault(PROJECTION_OF[r.topic], []).append(r)
    for name, mine in by_projection.items():
        for i in range(0, len(mine), batch):
            chunk = mine[i : i + batch]
            changed = [r.event for r in chunk if isinstance(r.event, OddsChanged)]
            await store.ensure_partitions(pool, days_of(changed), cache)
            applier = _applier(name) if wrap is None else wrap(name, _applier(name))

            async def once(chunk: list[Rec] = chunk, applier: store.Applier = applier, name: str = name) -> Any:
                return await store.write_batch(pool, name, chunk, applier)

            results.append(await store.write_with_retry(once, projection=name, events=len(chunk), first_delay_s=0.01))
    return results


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


async def test_reference_world_fills_every_table(database_url: str, events: list[BaseEvent]) -> None:
    ref = await _reference(database_url, events)
    n_changes = sum(len(e.changes) for e in events if isinstance(e, OddsChanged))
    assert len(ref["odds_history"]) == n_changes
    assert len(ref["odds_current"]) == 6 * 3 * 4
    assert len(ref["sport_events"]) == 6
    assert {r[5] == ["bet9ja", "betpawa", "sportybet"] for r in ref["sport_events"]} == {True}
    assert {r[3] for r in ref["sport_events"]} == {"Renamed League"}  # newest observation's names
    assert [r[1] for r in ref["scrape_runs"]] == ["completed"] * 3
    # a quote unchanged in the last cycle is confirmed at the last observation, changed earlier
    last_obs = max(e.observed_at for e in events if isinstance(e, OddsObserved))
    confirmed = {r[7] for r in ref["odds_current"] if r[4] != "[]"}
    assert max(confirmed) == last_obs
    assert any(r[7] > r[6] for r in ref["odds_current"])
    gone = [r for r in ref["odds_current"] if r[4] == "[]"]
    assert len(gone) == 3 and all(r[7] == r[6] for r in gone)


async def test_duplicates_change_nothing(database_url: str, events: list[BaseEvent]) -> None:
    ref = await _reference(database_url, events)
    # every event delivered twice: redelivered records (same offsets) and re-produced ones (new offsets)
    url = await _fresh_db(database_url, "dup")
    pool = await _migrated(url)
    try:
        recs = as_records(events)
        await project(pool, recs, batch=13)
        again = await project(pool, recs, batch=29)  # a replay of the same offsets: all skipped
        assert sum(a.events for a in again) == 0 and sum(a.rows for a in again) == 0
        await project(pool, as_records(events + events)[len(events) :], batch=31)  # same events, new offsets
        doubled = [e for e in events for _ in range(2)]
        await project(pool, as_records(doubled), batch=7)  # duplicates inside one batch
    finally:
        await pool.close()
    assert await snapshot(_dsn(url)) == ref


async def test_out_of_order_delivery_changes_nothing(database_url: str, events: list[BaseEvent]) -> None:
    ref = await _reference(database_url, events)
    url = await _fresh_db(database_url, "ooo")
    rng = random.Random(3)
    # odds events in any order (partitions and topics interleave arbitrarily); run events keep
    # their per-run order, which Kafka guarantees for one key
    odds = [e for e in events if isinstance(e, OddsChanged | OddsObserved)]
    runs = [e for e in events if not isinstance(e, OddsChanged | OddsObserved)]
    rng.shuffle(odds)
    pool = await _migrated(url)
    try:
        await project(pool, as_records(list(reversed(odds)) + runs), batch=5)
    finally:
        await pool.close()
    assert await snapshot(_dsn(url)) == ref


async def test_batches_failing_midway_change_nothing(database_url: str, events: list[BaseEvent]) -> None:
    ref = await _reference(database_url, events)
    url = await _fresh_db(database_url, "fail")
    failures: dict[str, int] = {}

    def flaky(name: str, inner: store.Applier) -> store.Applier:
        async def apply(conn: asyncpg.Connection, recs: list[Rec]) -> int:
            written = await inner(conn, recs)  # the rows are in, the offsets not yet
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


async def test_concurrent_writers_of_one_partition_apply_each_record_once(
    database_url: str, events: list[BaseEvent]
) -> None:
    """Two workers both holding a partition for a moment (a rebalance): the progress lock serialises them."""
    ref = await _reference(database_url, events)
    url = await _fresh_db(database_url, "conc")
    pool = await _migrated(url)
    try:
        recs = as_records(events)
        await asyncio.gather(project(pool, recs, batch=9), project(pool, recs, batch=14))
    finally:
        await pool.close()
    assert await snapshot(_dsn(url)) == ref


async def test_one_event_id_observed_twice_is_kept_twice_in_any_batching(
    database_url: str, events: list[BaseEvent]
) -> None:
    """A run re-scraped after a crash publishes a second observation under the same event id; both
    stay in the history, whether they share a batch (replay) or not (live). Found by the kill test."""
    from dataclasses import replace
    from datetime import timedelta

    changed = [e for e in events if isinstance(e, OddsChanged)][:5]
    again = [replace(e, observed_at=e.observed_at + timedelta(seconds=30)) for e in changed]
    pool = await _migrated(database_url)
    try:
        await project(pool, as_records(changed + again), batch=1)
    finally:
        await pool.close()
    one_by_one = await snapshot(_dsn(database_url))
    url = await _fresh_db(database_url, "twice")
    pool = await _migrated(url)
    try:
        await project(pool, as_records(changed + again), batch=100)
    finally:
        await pool.close()
    together = await snapshot(_dsn(url))
    assert together == one_by_one
    assert len(together["odds_history"]) == 2 * sum(len(e.changes) for e in changed)


async def test_retention_drops_whole_expired_days_once(database_url: str) -> None:
    from datetime import UTC, datetime, timedelta

    from projections.retention import drop_expired

    pool = await _migrated(database_url)
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    try:
        days = {(now - timedelta(days=n)).date() for n in range(0, 20)}
        await store.ensure_partitions(pool, days, store.PartitionCache())
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
    from projections.replay import _create_rebuild_schema
    from projections.schema import PROJECTION_TABLES, REBUILD_SCHEMA

    pool = await _migrated(database_url)
    try:
        await _create_rebuild_schema(pool, list(PROJECTION_TABLES))
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
    letters: list[tuple[int, int]] = []

    async def letter(record: RawRecord, why: str) -> None:
        letters.append((record.partition, record.offset))

    async def projected(url: str, batches: list[list[Rec]]) -> tuple[dict[str, Any], list[store.Applied]]:
        await (await _migrated(url)).close()
        projector = Projector(url, retention_days=0)
        projector.fill = gap_reader(settings, projector, letter)
        try:
            done = [await projector.write("odds-changes", b) for b in batches]
        finally:
            await projector.close()
        return await snapshot(_dsn(url)), done

    reference, _ = await projected(database_url, [recs])
    letters.clear()  # the reference's recs skip the invalid offset too, so it read and lettered it
    by_partition: dict[int, list[Rec]] = {}
    for r in recs:
        by_partition.setdefault(r.partition, []).append(r)
    assert bad.partition in by_partition and len(by_partition[bad.partition]) > 4
    head = [r for rs in by_partition.values() for r in rs[:2]]  # progress stored after these
    tail = [rs[-1] for rs in by_partition.values()]  # then the consumer jumps to the last record
    gapped, done = await projected(await _fresh_db(database_url, "gap"), [head, tail])

    assert gapped == reference
    assert done[1].gap_records == len(recs) - len(head) - len(tail)
    assert letters == [(bad.partition, bad.offset)]
