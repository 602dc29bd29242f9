"""The projection agents: one per ``Projection`` of the registry, its topics into PostgreSQL.

Each agent batches with ``streams.engine.batches`` and writes inside the loop body, so Faust
acknowledges a batch's offsets only after its transaction committed (BROKERS.md). Concurrency 1 per
agent. A database error is retried indefinitely with backoff (the stream waits); a record that is not
a valid event is dead-lettered by the projection that owns its topic; nothing else is ever skipped.
One log line per batch.

Progress is tracked with the rows (``projections.store``): after a crash or a rebalance, records at
or below the stored offset are skipped, and a gap after it is read from the broker (``Projector.fill``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import structlog
from faust.types import EventT, StreamT

from projections.rows import Rec
from projections.store import Applied, Filler, Projection, ProjectionStore
from streams import engine, metrics
from streams.events import InvalidEvent
from streams.outbox import Outbox
from streams.ranges import RangeReader, RawRecord
from streams.retry import until_done
from streams.turns import in_turns

__all__ = ["BATCH_MAX", "BATCH_WITHIN_S", "Projector", "consume", "decoded", "project_batch"]

log = structlog.get_logger(__name__)

BATCH_MAX = 10_000
BATCH_WITHIN_S = 0.5


@dataclass(frozen=True, slots=True)
class Projector:
    """What the projection agents of one worker work with."""

    store: ProjectionStore
    outbox: Outbox
    read_range: RangeReader
    """``(topic, partition, start, end)`` -> the raw records of that range, read from the broker."""

    def fill(self, projection: Projection) -> Filler:
        """``projection``'s gap reader: a range's records read and decoded, its invalid ones lettered
        when the projection owns its topic."""
        return partial(_fill, self, projection)

    def applied(self, projection: Projection) -> engine.AppliedOffsets:
        """What ``projection`` applied per partition, for the keeper."""
        return partial(self.store.applied, projection)


async def decoded(projection: Projection, records: Sequence[RawRecord], outbox: Outbox) -> tuple[list[Rec], int]:
    """Every record as ``Rec``: an unreadable one with no event (it keeps its place in the partition),
    lettered when the projection owns its topic (the board or runs agent letters the others, once);
    and how many were unreadable."""
    recs: list[Rec] = []
    invalid = 0
    async for raw in in_turns(records):
        try:
            recs.append(Rec(raw.topic, raw.partition, raw.offset, projection.read(raw.value or b"")))
        except InvalidEvent as exc:
            invalid += 1
            recs.append(Rec(raw.topic, raw.partition, raw.offset, None))
            if projection.letters_invalid:
                try:
                    await outbox.dead_letter(raw, exc.reason)
                except Exception:  # the agent must not die; the record stays in its topic
                    log.exception("dead-letter failed", projection=projection.name)
    return recs, invalid


async def _fill(
    projector: Projector, projection: Projection, topic: str, partition: int, start: int, end: int
) -> list[Rec]:
    recs, _ = await decoded(projection, await projector.read_range(topic, partition, start, end), projector.outbox)
    return recs


async def project_batch(projector: Projector, projection: Projection, records: Sequence[RawRecord]) -> Applied:
    """Decode one delivered batch and write it, retrying until it commits."""
    started = time.perf_counter()
    recs, invalid = await decoded(projection, records, projector.outbox)
    fill = projector.fill(projection)
    done = await until_done(
        "projection write",
        lambda: projector.store.write(projection, recs, fill),
        projection=projection.name,
        events=len(recs),
    )
    metrics.observe_projection_batch(projection.name, len(records), done.events, time.perf_counter() - started)
    log.info(
        "projection batch committed",
        projection=projection.name,
        records=len(records),
        applied=done.events,
        already_applied=done.skipped,
        gap_records=done.gap_records,
        invalid=invalid,
        rows=done.rows,
        offsets=done.offsets,
        ms=round((time.perf_counter() - started) * 1000, 1),
    )
    return done


async def consume(stream: StreamT[bytes], projector: Projector, projection: Projection) -> None:
    """The agent of ``projection``: each batch of its topics projected, then acknowledged."""
    async for batch in engine.batches(stream, BATCH_MAX, BATCH_WITHIN_S):
        await project_batch(projector, projection, _raw(batch))


def _raw(batch: Sequence[EventT[bytes]]) -> list[RawRecord]:
    return [RawRecord.of(e.message) for e in batch]
