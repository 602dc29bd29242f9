"""The live board: the latest board per event and bookmaker, and change detection against it.

The ``boards`` table (``streams.topics.BOARDS``) is keyed ``"<sportradar_id>:<bookmaker>"`` and
written from the agent consuming ``odds.observed`` (keyed by SportRadar id), so every changelog
write lands on the partition of the event it came from. A board holds its quotes, when it was last
observed and the offset of the last observation applied to it, in one record (``agents.board_state``).

The board is a tracked state, like the projections: each batch ends by writing the last offset it
applied for each source partition under ``@applied:<partition>``, on the same changelog partition
as the boards it wrote, so after any crash the recovered table says which observations it holds
(all up to the marker; per board, up to its own offset). A batch is applied in this order:

1. per partition, skip what the marker covers and read any gap before the delivered records
   (``streams.sequencing.in_sequence``): the board never depends on Kafka's committed offsets,
   which a SIGKILL or a rebalance can leave ahead of the table;
2. compare each observation with the board as the batch left it, skipping those a board already
   holds (``BoardBatch``);
3. publish the batch's ``OddsChanged`` (and dead letters) and wait until the broker holds them;
4. write the boards, then the markers.

A crash anywhere repeats 2-3 on restart from the same per-board state: the same ``OddsChanged``
with the same ids, which the projection and any consumer keyed by event id ignore. Nothing
published can go missing behind the table, and nothing is compared with a board it is not next to.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from faust.types import StreamT

from agents.board_state import BoardBatch, applied_offset
from streams import engine
from streams.events import InvalidEvent
from streams.outbox import Letter, Outbox
from streams.ranges import RangeReader, RawRecord
from streams.retry import until_done
from streams.sequencing import in_sequence
from streams.topics import mark_key
from streams.turns import in_turns
from streams.wire import read_board

__all__ = ["BATCH_MAX", "BATCH_WITHIN_S", "Board", "applied", "apply_batch", "consume"]

log = structlog.get_logger(__name__)

# a batch is what arrived within this window, at most this many observations (a cycle of 3,900)
BATCH_MAX = 1_000
BATCH_WITHIN_S = 0.05

TableWriter = Callable[[Any, Sequence[engine.TableWrite]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Board:
    """What the board agent works with."""

    boards: Any
    """The ``boards`` table (a Faust table; a mapping is all this module reads of it)."""
    outbox: Outbox
    read_gap: RangeReader
    """``(topic, partition, start, end)`` -> the records of that range, read from the broker."""
    write: TableWriter = engine.write_through


async def consume(stream: StreamT[bytes], board: Board) -> None:
    """The agent: each batch of ``odds.observed`` applied as the module docstring says."""
    async for events in engine.batches(stream, BATCH_MAX, BATCH_WITHIN_S):
        await apply_batch(board, [RawRecord.of(e.message) for e in events])


def _applied(boards: Mapping[str, Any]) -> Callable[[str, int], int | None]:
    return lambda _topic, partition: applied_offset(boards, partition)


def applied(boards: Mapping[str, Any]) -> engine.AppliedOffsets:
    """What the board applied per partition of ``odds.observed`` (its markers), for the keeper."""

    async def ask(partitions: Sequence[tuple[str, int]]) -> Mapping[tuple[str, int], int | None]:
        return {(t, p): applied_offset(boards, p) for t, p in partitions}

    return ask


async def apply_batch(board: Board, delivered: Sequence[RawRecord]) -> None:
    started = time.perf_counter()
    ready = await in_sequence(delivered, _applied(board.boards), board.read_gap, consumer="board")
    batch = BoardBatch(board.boards)
    letters: list[Letter] = []
    last: dict[int, int] = {}
    async for rec in in_turns(ready.records):
        last[rec.partition] = rec.offset
        try:
            obs = read_board(rec.value or b"")  # decode's rules and result, checked in C
        except InvalidEvent as exc:
            letters.append((rec, exc.reason))
            continue
        try:
            batch.apply(rec.partition, rec.offset, obs)
        except Exception as exc:  # a bug on one board must not stop the others
            log.exception("board update failed; record dead-lettered", partition=rec.partition, offset=rec.offset)
            letters.append((rec, f"board update failed: {exc!r}"))
    applied_at = time.perf_counter()

    async def publish() -> None:
        await board.outbox.publish_acked(batch.changes, letters, validated=True)

    # the broker is away: wait for it, never move the table on
    await until_done("board publish", publish, changes=len(batch.changes))
    delivered_at = time.perf_counter()
    writes: list[engine.TableWrite] = [(partition, key, value) for key, (partition, value) in batch.boards.items()]
    writes += [(partition, mark_key(partition), offset) for partition, offset in last.items()]  # markers last
    await board.write(board.boards, writes)
    written_at = time.perf_counter()
    log.info(
        "board batch applied",
        records=len(delivered),
        applied=batch.applied,
        changed=len(batch.changes),
        stale=batch.stale,
        invalid=len(letters),
        already_applied=ready.skipped + batch.already,
        gap_records=ready.gap_records,
        partitions=sorted(last),
        ms=round((written_at - started) * 1000, 1),
        apply_ms=round((applied_at - started) * 1000, 1),
        publish_ms=round((delivered_at - applied_at) * 1000, 1),
        write_ms=round((written_at - delivered_at) * 1000, 1),
    )
