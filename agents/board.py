"""The live board: the latest board per event and bookmaker, and change detection against it.

The ``boards`` table is keyed ``"<sportradar_id>:<bookmaker>"`` and written from the agent
consuming ``odds.observed`` (keyed by SportRadar id), so every changelog write lands on the
partition of the event it came from. A board holds its quotes, when it was last observed and the
offset of the last observation applied to it, in one record (``agents.board_state``).

The board is a tracked state, like the projections: each batch ends by writing the last offset it
applied for each source partition under ``@applied:<partition>``, on the same changelog partition
as the boards it wrote, so after any crash the recovered table says which observations it holds
(all up to the marker; per board, up to its own offset). A batch is applied in this order:

1. per partition, skip what the marker covers and read any gap before the delivered records
   (``streams.sequencing``, ``streams.ranges``): the board never depends on Kafka's committed
   offsets, which a SIGKILL or a rebalance can leave ahead of the table;
2. compare each observation with the board as the batch left it, skipping those a board already
   holds (``BoardBatch``);
3. publish the batch's ``OddsChanged`` (and dead letters) and wait until the broker holds them;
4. write the boards, then the markers.

A crash anywhere repeats 2-3 on restart from the same per-board state: the same ``OddsChanged``
with the same ids, which the projection and any consumer keyed by event id ignore. Nothing
published can go missing behind the table, and nothing is compared with a board it is not next to.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any, cast

import faust
import structlog
from faust.streams import Stream
from faust.tables.base import Collection
from faust.types import EventT, StreamT, TableT

from agents.board_state import BoardBatch, applied_offset, mark_key
from projections.wire import read_board
from streams import topics
from streams.app import Runtime
from streams.events import InvalidEvent, OddsChanged
from streams.ranges import Gap, RawRecord, read_range
from streams.retry import until_done
from streams.sequencing import plan

__all__ = ["register"]

log = structlog.get_logger(__name__)


# a batch is what arrived within this window, at most this many observations (a cycle of 3,900)
BATCH_MAX = 1_000
BATCH_WITHIN_S = 0.05


async def write_boards(table: TableT[Any, Any], writes: list[tuple[int, str, Any]]) -> None:
    """``table[key] = value`` for each ``(partition, key, value)``, its changelog record on
    ``partition`` (the source partition of the observation, as Faust does for the current event; a
    batch spans partitions).

    The records go straight to the producer, awaited here, not through Faust's table-write buffer:
    Faust's conductor stops delivering records to every stream of the worker while that buffer
    holds more than 100, and a batch writes up to 1,000 boards, so the projections stood still
    while the board's writes drained (bench/README.md). The table's contents change in one step,
    before the first send, as they did with the buffer; the batch's observations are acknowledged
    only after this returns, so a commit of their offsets waits for these records too
    (``streams.kafka.DurableProducer.flush``). A send the producer refuses is retried, never skipped.
    """
    coll = cast(Collection, table)  # the serializers and the changelog callback Faust itself uses
    topic = coll.changelog_topic
    futures = []
    for partition, key, value in writes:
        coll.data[key] = value
        futures.append(
            topic.as_future_message(
                key=key,
                value=value,
                partition=partition,
                key_serializer=coll.key_serializer,
                value_serializer=coll.value_serializer,
                callback=coll._on_changelog_sent,
                eager_partitioning=True,
            )
        )
    for fut in futures:
        await until_done("board write", partial(topic.publish_message, fut, wait=False))


def register(app: faust.App, rt: Runtime) -> None:
    schema: faust.Schema[str, Any] = faust.Schema(key_serializer="json", value_serializer="json")
    boards = app.Table(topics.TABLE_BOARDS, default=None, schema=schema, partitions=rt.settings.topic_partitions)
    rt.tables = {"boards": boards}
    observed_name = rt.settings.topic(topics.OBSERVED.name)

    async def in_sequence(partition: int, events: Sequence[EventT[Any]]) -> tuple[list[RawRecord], int, int]:
        """The records of ``partition`` to apply, in order, gaps read from the broker; and how many
        were skipped as already applied, and how many came from gaps."""
        offsets = [e.message.offset for e in events]
        steps = plan(applied_offset(boards, partition), offsets)
        out: list[RawRecord] = []
        filled = 0
        for step in steps.steps:
            if isinstance(step, tuple):
                gap = Gap(observed_name, partition, step[0], step[1])
                missing = await read_range(rt.settings, gap)
                log.warning(
                    "board read a gap the consumer skipped",
                    partition=partition,
                    start=step[0],
                    end=step[1],
                    records=len(missing),
                )
                filled += len(missing)
                out.extend(missing)
            else:
                out.append(RawRecord.of(events[step].message))
        return out, steps.skipped, filled

    async def deliver(changes: list[OddsChanged], letters: list[tuple[RawRecord, str]]) -> None:
        async def publish() -> None:
            pending = [await rt.dead_letter_raw(rec, why) for rec, why in letters]
            await rt.publish_delivered(list(changes), validated=True)
            await asyncio.gather(*pending)

        # the broker is away: wait for it, never move the tables on
        await until_done("board publish", publish, changes=len(changes))

    async def apply_batch(events: Sequence[EventT[Any]]) -> None:
        started = time.perf_counter()
        by_partition: dict[int, list[EventT[Any]]] = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event)
        batch = BoardBatch(boards)
        letters: list[tuple[RawRecord, str]] = []
        last: dict[int, int] = {}
        skipped = filled = 0
        for partition, part_events in sorted(by_partition.items()):
            recs, n_skipped, n_filled = await in_sequence(partition, part_events)
            skipped += n_skipped
            filled += n_filled
            for rec in recs:
                last[partition] = rec.offset
                try:
                    obs = read_board(rec.value or b"")  # decode's rules and result, checked in C
                except InvalidEvent as exc:
                    letters.append((rec, exc.reason))
                    continue
                try:
                    batch.apply(partition, rec.offset, obs)
                except Exception as exc:  # a bug on one board must not stop the others
                    log.exception("board update failed; record dead-lettered", partition=partition, offset=rec.offset)
                    letters.append((rec, f"board update failed: {exc!r}"))
        applied_at = time.perf_counter()
        await deliver(batch.changes, letters)
        delivered_at = time.perf_counter()
        writes: list[tuple[int, str, Any]] = [
            (partition, key, value) for key, (partition, value) in batch.boards.items()
        ]
        writes += [(partition, mark_key(partition), offset) for partition, offset in last.items()]
        await write_boards(boards, writes)
        written_at = time.perf_counter()
        log.info(
            "board batch applied",
            topic=observed_name,
            records=len(events),
            applied=batch.applied,
            changed=len(batch.changes),
            stale=batch.stale,
            invalid=len(letters),
            already_applied=skipped + batch.already,
            gap_records=filled,
            partitions=sorted(last),
            ms=round((time.perf_counter() - started) * 1000, 1),
            apply_ms=round((applied_at - started) * 1000, 1),
            publish_ms=round((delivered_at - applied_at) * 1000, 1),
            write_ms=round((written_at - delivered_at) * 1000, 1),
        )

    @app.agent(rt.topic(topics.OBSERVED), name="board")
    async def board(stream: StreamT[bytes]) -> None:
        batches = cast(Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
        async for events in batches:
            await apply_batch(events)
