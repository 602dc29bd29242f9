"""One contract, two stores: PostgreSQL (``PgStore``) and its in-memory twin (``MemoryStore``).

Each scenario feeds a store records as Faust would hand them over (topic, partition, offset, event):
redelivered, out of order, from two writers at once, after a gap. The same class runs against both,
and ``test_the_twin_holds_what_postgres_holds`` compares their tables row by row, so the twin the agent
tests use cannot drift from the store the workers use.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from projections.agents import Projector
from projections.memory import MemoryStore
from projections.migrate import upgrade
from projections.postgres import PgStore, connect_pool
from projections.registry import ODDS_CHANGES, ODDS_OBSERVED, RUNS_PROJECTION
from projections.rows import Rec
from projections.store import Applied, Projection, ProjectionStore, SqlApplier
from streams.events import BaseEvent, OddsChanged, OddsObserved
from streams.retry import until_done
from tests.doubles import Log, RecordingOutbox, as_records
from tests.integration.conftest import create_database, drop_database
from tests.projection_world import SNAPSHOT_QUERIES, world

PROJECTION_OF: dict[str, Projection] = {
    "odds.changes": ODDS_CHANGES,
    "odds.observed": ODDS_OBSERVED,
    "odds.runs": RUNS_PROJECTION,
    "odds.scrape-requests": RUNS_PROJECTION,
}
Snapshot = dict[str, list[tuple[Any, ...]]]


async def project(
    store: ProjectionStore,
    recs: Sequence[Rec],
    *,
    batch: int = 17,
    wrap: Callable[[str, SqlApplier], SqlApplier] | None = None,
) -> list[Applied]:
    """Feed records to the projections in batches, per projection, as the agents would, retrying a
    batch until it commits; ``wrap`` stands between each projection and its SQL."""
    by_projection: dict[str, tuple[Projection, list[Rec]]] = {}
    for r in recs:
        projection = PROJECTION_OF[r.topic]
        by_projection.setdefault(projection.name, (projection, []))[1].append(r)
    results = []
    for projection, mine in by_projection.values():
        if wrap is not None:
            projection = replace(projection, apply=wrap(projection.name, projection.apply))
        for i in range(0, len(mine), batch):
            write = partial(store.write, projection, mine[i : i + batch])
            results.append(await until_done("projection write", write, first_delay_s=0.01))
    return results


@pytest.fixture
def events() -> list[BaseEvent]:
    return world(n_events=6, cycles=3)


class StoreContract(ABC):
    """The scenarios; a subclass gives ``make`` (a fixture: an async factory of fresh, empty stores)
    and ``snapshot`` (a store's tables as ``MemoryStore.snapshot`` lays them out)."""

    @abstractmethod
    async def snapshot(self, store: Any) -> Snapshot: ...

    async def reference(self, make: Callable[[], Awaitable[Any]], events: list[BaseEvent]) -> Snapshot:
        store = await make()
        await project(store, as_records(events))
        return await self.snapshot(store)

    async def test_reference_world_fills_every_table(self, make: Any, events: list[BaseEvent]) -> None:
        ref = await self.reference(make, events)
        n_changes = sum(len(e.changes) for e in events if isinstance(e, OddsChanged))
        assert len(ref["odds_history"]) == n_changes
        assert len(ref["odds_current"]) == 6 * 3 * 4
        assert len(ref["sport_events"]) == 6
        assert {r[5] == ["bet9ja", "betpawa", "sportybet"] for r in ref["sport_events"]} == {True}
        assert {r[3] for r in ref["sport_events"]} == {"Renamed League"}  # newest observation's names
        assert [r[1] for r in ref["scrape_runs"]] == ["completed"] * 3
        # a quote unchanged in the last cycle is confirmed at the last observation, changed earlier
        last_obs = max(e.observed_at for e in events if isinstance(e, OddsObserved))
        confirmed = {r[7] for r in ref["odds_current"] if r[4] != []}
        assert max(confirmed) == last_obs
        assert any(r[7] > r[6] for r in ref["odds_current"])
        gone = [r for r in ref["odds_current"] if r[4] == []]
        assert len(gone) == 3 and all(r[7] == r[6] for r in gone)

    async def test_duplicates_change_nothing(self, make: Any, events: list[BaseEvent]) -> None:
        ref = await self.reference(make, events)
        # every event delivered twice: redelivered records (same offsets) and re-produced ones (new offsets)
        store = await make()
        recs = as_records(events)
        await project(store, recs, batch=13)
        again = await project(store, recs, batch=29)  # a replay of the same offsets: all skipped
        assert sum(a.events for a in again) == 0 and sum(a.rows for a in again) == 0
        assert sum(a.skipped for a in again) == len(recs)
        await project(store, as_records(events + events)[len(events) :], batch=31)  # same events, new offsets
        doubled = [e for e in events for _ in range(2)]
        await project(store, as_records(doubled), batch=7)  # duplicates inside one batch
        assert await self.snapshot(store) == ref

    async def test_out_of_order_delivery_changes_nothing(self, make: Any, events: list[BaseEvent]) -> None:
        ref = await self.reference(make, events)
        rng = random.Random(3)
        # odds events in any order (partitions and topics interleave arbitrarily); run events keep
        # their per-run order, which Kafka guarantees for one key
        odds = [e for e in events if isinstance(e, OddsChanged | OddsObserved)]
        runs = [e for e in events if not isinstance(e, OddsChanged | OddsObserved)]
        rng.shuffle(odds)
        store = await make()
        await project(store, as_records(list(reversed(odds)) + runs), batch=5)
        assert await self.snapshot(store) == ref

    async def test_concurrent_writers_of_one_partition_apply_each_record_once(
        self, make: Any, events: list[BaseEvent]
    ) -> None:
        """Two workers both holding a partition for a moment (a rebalance): they take turns."""
        ref = await self.reference(make, events)
        store = await make()
        recs = as_records(events)
        await asyncio.gather(project(store, recs, batch=9), project(store, recs, batch=14))
        assert await self.snapshot(store) == ref

    async def test_one_event_id_observed_twice_is_kept_twice_in_any_batching(
        self, make: Any, events: list[BaseEvent]
    ) -> None:
        """A run re-scraped after a crash publishes a second observation under the same event id; both
        stay in the history, whether they share a batch (replay) or not (live)."""
        changed = [e for e in events if isinstance(e, OddsChanged)][:5]
        again = [replace(e, observed_at=e.observed_at + timedelta(seconds=30)) for e in changed]
        one_by_one_store = await make()
        await project(one_by_one_store, as_records(changed + again), batch=1)
        together_store = await make()
        await project(together_store, as_records(changed + again), batch=100)
        together = await self.snapshot(together_store)
        assert together == await self.snapshot(one_by_one_store)
        assert len(together["odds_history"]) == 2 * sum(len(e.changes) for e in changed)

    async def test_a_gap_after_the_stored_offset_is_read_and_its_invalid_records_lettered(
        self, make: Any, events: list[BaseEvent]
    ) -> None:
        """The consumer jumps past records (its committed offsets ran ahead of the stored ones): the
        store reads them through the projection's gap reader first, lettering the invalid one."""
        changes = [e for e in events if isinstance(e, OddsChanged)]
        log = Log()
        recs: list[Rec] = []
        for i, ev in enumerate(changes):
            if i == len(changes) // 2:  # an invalid record in the middle of a partition
                bad = log.append("odds.changes", ev.key, b'{"event_type": "OddsChanged"}')
            raw = log.append_event(ev)
            recs.append(Rec(raw.topic, raw.partition, raw.offset, ev))
        outbox = RecordingOutbox()
        reference_store = await make()
        reference = Projector(reference_store, outbox, log.read_range)
        await reference_store.write(ODDS_CHANGES, recs, reference.fill(ODDS_CHANGES))  # skips the bad offset too
        by_partition: dict[int, list[Rec]] = {}
        for r in recs:
            by_partition.setdefault(r.partition, []).append(r)
        assert bad.partition in by_partition and len(by_partition[bad.partition]) > 4
        head = [r for rs in by_partition.values() for r in rs[:2]]  # progress stored after these
        tail = [rs[-1] for rs in by_partition.values()]  # then the consumer jumps to the last record
        outbox.letters.clear()
        store = await make()
        projector = Projector(store, outbox, log.read_range)
        done = [await store.write(ODDS_CHANGES, b, projector.fill(ODDS_CHANGES)) for b in (head, tail)]
        assert await self.snapshot(store) == await self.snapshot(reference_store)
        assert done[1].gap_records == len(recs) + 1 - len(head) - len(tail)  # the invalid one read too
        assert [(r.partition, r.offset) for r, _ in outbox.letters] == [(bad.partition, bad.offset)]
        assert await store.applied(ODDS_CHANGES, [("odds.changes", p) for p in by_partition]) == {
            ("odds.changes", p): rs[-1].offset for p, rs in by_partition.items()
        }


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def make(self) -> Callable[[], Awaitable[MemoryStore]]:
        async def new() -> MemoryStore:
            return MemoryStore()

        return new

    async def snapshot(self, store: MemoryStore) -> Snapshot:
        return store.snapshot()


_JSON_COLUMNS = {"odds_history": (5, 6), "odds_current": (4,), "scrape_runs": (10, 11)}


def _plain(table: str, row: asyncpg.Record) -> tuple[Any, ...]:
    values = [str(v) if isinstance(v, uuid.UUID) else v for v in row]
    for i in _JSON_COLUMNS.get(table, ()):
        values[i] = None if values[i] is None else json.loads(values[i])
    return tuple(values)


@pytest.mark.integration
class TestPostgresStore(StoreContract):
    @pytest.fixture
    async def make(self, admin_dsn: str) -> AsyncIterator[Callable[[], Awaitable[PgStore]]]:
        made: list[tuple[str, asyncpg.Pool]] = []

        async def new() -> PgStore:
            url = await create_database(admin_dsn)
            engine = create_async_engine(url)
            try:
                await upgrade(engine)
            finally:
                await engine.dispose()
            pool = await connect_pool(url, size=3)
            made.append((url, pool))
            return PgStore(pool)

        yield new
        for url, pool in made:
            await pool.close()
            await drop_database(admin_dsn, url)

    async def snapshot(self, store: PgStore) -> Snapshot:
        pool = await store.pool()
        async with pool.acquire() as conn:
            return {name: [_plain(name, r) for r in await conn.fetch(q)] for name, q in SNAPSHOT_QUERIES.items()}

    async def test_the_twin_holds_what_postgres_holds(self, make: Any, events: list[BaseEvent]) -> None:
        twin = MemoryStore()
        rng = random.Random(11)
        odds = [e for e in events if isinstance(e, OddsChanged | OddsObserved)]
        runs = [e for e in events if not isinstance(e, OddsChanged | OddsObserved)]
        rng.shuffle(odds)
        recs = as_records(odds + runs + events)  # disorder and duplicates, the same for both
        await project(twin, recs, batch=7)
        real = await make()
        await project(real, recs, batch=7)
        expected = await self.snapshot(real)
        assert all(expected.values())  # every table has rows to compare
        assert twin.snapshot() == expected
