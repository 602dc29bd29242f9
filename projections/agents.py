"""The projection agents: odds.changes, odds.observed and the run topics into PostgreSQL.

Each agent batches with ``take_events`` and writes inside the loop body, so Faust acknowledges a
batch's offsets only after its transaction committed (BROKERS.md). Concurrency 1 per agent. A
database error is retried indefinitely with backoff (the stream waits); a record that is not a
valid event is dead-lettered; nothing else is ever skipped. One log line per batch.

Progress is tracked in ``projection_progress`` inside each batch's transaction (see
``projections.store``): after a crash or a rebalance, records at or below the stored offset are
skipped. A timer drops expired ``odds_history`` partitions on one worker at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import faust
import structlog
from faust.streams import Stream
from faust.types import EventT, StreamT

from agents import metrics
from agents.board_state import applied_offset
from projections import retention, store, wire
from projections.rows import Rec, days_of
from streams import topics
from streams.app import Runtime
from streams.events import (
    BaseEvent,
    InvalidEvent,
    OddsChanged,
    OddsObserved,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunStale,
    RunStarted,
    ScrapeRequested,
)
from streams.ranges import Gap, RawRecord, read_range
from streams.sequencing import PartitionWatch
from streams.settings import Settings

__all__ = ["BATCH_MAX", "BATCH_WITHIN_S", "PROJECTIONS", "Projector", "gap_reader", "register"]

log = structlog.get_logger(__name__)

BATCH_MAX = 10_000
BATCH_WITHIN_S = 0.5
KEEPER_INTERVAL_S = 10.0

RUN_TYPES: tuple[type[BaseEvent], ...] = (
    ScrapeRequested,
    RunStarted,
    RunHeartbeat,
    RunCompleted,
    RunFailed,
    RunStale,
)

# projection progress name -> (topics, accepted event types)
PROJECTIONS: dict[str, tuple[tuple[topics.TopicSpec, ...], tuple[type[BaseEvent], ...]]] = {
    "odds-changes": ((topics.CHANGES,), (OddsChanged,)),
    "odds-observed": ((topics.OBSERVED,), (OddsObserved,)),
    "runs": ((topics.SCRAPE_REQUESTS, topics.RUNS), RUN_TYPES),
}

# the projections that are the only consumer of their topic, so dead-letter its invalid records;
# odds.observed and the run topics are read (and their invalid records lettered) by the board and
# runs agents, and one DeadLettered per record is the contract
DEAD_LETTERS_OWNED = frozenset({"odds-changes"})


@dataclass
class Projector:
    """The asyncpg pool and partition cache one worker's projection agents share."""

    database_url: str
    retention_days: int
    pool: asyncpg.Pool | None = None
    fill: store.Filler | None = None
    """Reads the records of a gap after the stored offset (see ``store.write_batch``)."""
    partitions: store.PartitionCache = field(default_factory=store.PartitionCache)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get_pool(self) -> asyncpg.Pool:
        async with self._lock:
            if self.pool is None:
                self.pool = await store.connect_pool(self.database_url, size=4)
            return self.pool

    async def write(self, name: str, recs: Sequence[Rec]) -> store.Applied:
        try:
            return await self._write(name, recs)
        except Exception:
            # a replay may have swapped odds_history (and its partitions) under us: look again
            self.partitions.forget()
            raise

    async def _write(self, name: str, recs: Sequence[Rec]) -> store.Applied:
        pool = await self.get_pool()
        if name == "odds-changes":
            not_before = store.retention_cutoff(self.retention_days)
            changed = [r.event for r in recs if isinstance(r.event, OddsChanged)]
            await store.ensure_partitions(pool, days_of(changed, not_before=not_before), self.partitions)
            applier = store.changes_applier(not_before=not_before)
        elif name == "odds-observed":
            applier = store.observed_applier()
        else:
            applier = store.runs_applier()
        return await store.write_batch(pool, name, recs, applier, fill=self.fill)

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None


def gap_reader(
    settings: Settings, projector: Projector, letter: Callable[[RawRecord, str], Awaitable[None]]
) -> store.Filler:
    """The projections' ``store.Filler``: a gap's records read from the broker and decoded; its
    invalid records lettered (by the projection that owns them) and its days' partitions made."""
    types_by_topic = {
        settings.topic(spec.name): (name, types) for name, (specs, types) in PROJECTIONS.items() for spec in specs
    }

    async def fill(topic: str, partition: int, start: int, end: int) -> list[Rec]:
        name, types = types_by_topic[topic]
        out: list[Rec] = []
        for raw in await read_range(settings, Gap(topic, partition, start, end)):
            try:
                out.append(Rec(topic, partition, raw.offset, wire.read(raw.value or b"", types)))
            except InvalidEvent as exc:
                if name in DEAD_LETTERS_OWNED:
                    await letter(raw, exc.reason)
        if name == "odds-changes":  # the gap's days may lack their history partition
            changed = [r.event for r in out if isinstance(r.event, OddsChanged)]
            days = days_of(changed, not_before=store.retention_cutoff(projector.retention_days))
            await store.ensure_partitions(await projector.get_pool(), days, projector.partitions)
        return out

    return fill


def register(app: faust.App, rt: Runtime) -> None:
    if not rt.settings.database_url:
        log.warning("no database URL: projection agents not started")
        return
    projector = Projector(rt.settings.database_url, retention.retention_days_of(rt.settings))

    async def letter(record: RawRecord, why: str) -> None:
        await (await rt.dead_letter_raw(record, why))

    projector.fill = gap_reader(rt.settings, projector, letter)

    def make_agent(name: str, specs: tuple[topics.TopicSpec, ...], types: tuple[type[BaseEvent], ...]) -> None:
        channel = app.topic(
            *(rt.settings.topic(spec.name) for spec in specs),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
        )

        async def project(stream: StreamT[bytes]) -> None:
            batches = cast(Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
            async for batch in batches:
                await _project_batch(name, types, batch)

        app.agent(channel, name=f"projection-{name}", concurrency=1)(project)

    async def _project_batch(name: str, types: tuple[type[BaseEvent], ...], batch: Sequence[EventT[Any]]) -> None:
        started = time.perf_counter()
        recs: list[Rec] = []
        invalid = 0
        for event in batch:
            msg = event.message
            try:
                ev = wire.read(event.value, types)
            except InvalidEvent as exc:
                invalid += 1
                if name not in DEAD_LETTERS_OWNED:
                    continue  # the board or runs agent letters the records of these topics, once
                try:
                    await rt.dead_letter(event, exc.reason)
                except Exception:  # the agent must not die; the record stays in its topic
                    log.exception("dead-letter failed", projection=name)
                continue
            recs.append(Rec(msg.topic, msg.partition, msg.offset, ev))
        done = await store.write_with_retry(lambda: projector.write(name, recs), projection=name, events=len(recs))
        metrics.observe_projection_batch(name, len(batch), done.events, time.perf_counter() - started)
        log.info(
            "projection batch committed",
            projection=name,
            records=len(batch),
            applied=done.events,
            already_applied=done.skipped,
            gap_records=done.gap_records,
            invalid=invalid,
            rows=done.rows,
            offsets=done.offsets,
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    for name, (specs, types) in PROJECTIONS.items():
        make_agent(name, specs, types)

    observed_name = rt.settings.topic(topics.OBSERVED.name)
    changes_name = rt.settings.topic(topics.CHANGES.name)
    # the consumers of each topic whose applied offsets are stored: (board marker?, projections)
    tracked: dict[str, tuple[bool, tuple[str, ...]]] = {
        observed_name: (True, ("odds-observed",)),
        changes_name: (False, ("odds-changes",)),
    }
    watch = PartitionWatch()
    ours: dict[Any, int] = {}  # the offsets this timer committed, per partition

    @app.timer(KEEPER_INTERVAL_S)
    async def keep_partitions_moving() -> None:
        """Where Faust's consumer stops short of what every consumer applied, move it on.

        Every consumer of ``odds.observed`` and ``odds.changes`` stores the offsets it applied (the
        board's markers, ``projection_progress``). Two Faust faults are told apart from them:

        - a commit stuck behind applied offsets (``streams.sequencing.lost_acks``): the offsets are
          marked done in Faust's gap set, and Faust commits them itself;
        - a partition whose records wait while nothing is applied (``stalled``): its records were
          dropped around a rebalance and are not fetched again; it is read again from the first
          offset not applied, what a restart would do (each consumer skips what it holds).

        And it commits the offsets every consumer applied, so the group's committed offsets follow
        the stored state even when Faust believes it committed them already.
        """
        consumer: Any = app.consumer
        tps = [tp for tp in consumer.assignment() if tp.topic in tracked]
        if not tps or app.rebalancing or getattr(app, "in_recovery", False):
            return
        try:
            pool = await projector.get_pool()
            rows = await pool.fetch(
                'SELECT projection, topic, partition, "offset" FROM public.projection_progress WHERE topic = ANY($1)',
                list(tracked),
            )
            ends = await consumer.highwaters(*tps)
        except Exception:  # the database or the broker is away: nothing to go by this time
            return
        progress = {(r["projection"], r["topic"], r["partition"]): int(r["offset"]) for r in rows}
        boards = rt.tables.get("boards")
        for tp in tps:
            with_board, names = tracked[tp.topic]
            applied: list[int | None] = [progress.get((n, tp.topic, tp.partition)) for n in names]
            if with_board:
                applied.append(None if boards is None else applied_offset(boards, tp.partition))
            done = None if None in applied else min(a for a in applied if a is not None)
            lost, again = watch.look(tp, applied=done, end=ends.get(tp), committed=consumer._committed_offset[tp])
            if lost is not None:
                gaps = consumer._gap[tp]
                gaps.addi(lost[0], lost[1] + 1)
                gaps.merge_overlaps()
                log.warning(
                    "offsets acknowledged for a stuck commit",
                    topic=tp.topic,
                    partition=tp.partition,
                    first=lost[0],
                    last=lost[1],
                )
            # commit what every consumer applied, whatever Faust's own bookkeeping says (it records
            # a commit the broker refused as made, and never makes it again)
            if done is not None and done + 1 > ours.get(tp, -1) and await consumer._commit({tp: done + 1}):
                ours[tp] = done + 1
                if (consumer._committed_offset[tp] or -1) < done + 1:
                    consumer._committed_offset[tp] = done + 1
            if again is not None:
                consumer._buffered_partitions.discard(tp)
                consumer.resume_partitions([tp])
                await consumer.seek(tp, again)
                log.warning(
                    "partition stalled with records waiting; reading it again",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=again,
                    end=ends.get(tp),
                )

    @app.timer(retention.CHECK_INTERVAL_S)
    async def history_retention() -> None:
        try:
            pool = await projector.get_pool()
            dropped = await retention.drop_expired(pool, projector.retention_days)
            if dropped:
                projector.partitions.forget()
        except Exception:  # a failed sweep is retried at the next tick
            log.exception("history retention sweep failed")

    @app.on_before_shutdown.connect
    async def _close_projector(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await projector.close()
