"""The live board: the latest board per event and bookmaker, and change detection against it.

Tables are keyed ``"<sportradar_id>:<bookmaker>"`` and written from the agent consuming
``odds.observed`` (keyed by SportRadar id), so every changelog write lands on the partition of the
event it came from. ``boards`` is written only when a quote changed; ``confirmed`` (one small
timestamp) moves on every observation.

The board is a tracked state, like the projections: each batch ends by writing the last offset it
applied for each source partition under ``@applied:<partition>`` in both tables, on the same
changelog partition as the boards it wrote, so after any crash the recovered tables say exactly
which observations they hold. A batch is applied in this order:

1. per partition, skip what the tables already hold and read any gap before the delivered records
   (``streams.sequencing``, ``streams.ranges``): the board never depends on Kafka's committed
   offsets, which a SIGKILL or a rebalance can leave ahead of the tables;
2. compare each observation with the board as the batch left it (``apply_observation``);
3. publish the batch's ``OddsChanged`` (and dead letters) and wait until the broker holds them;
4. write the tables, then the markers.

A crash before 4 repeats 2-3 on restart: the same ``OddsChanged`` ids again, which the projection
and any consumer keyed by event id ignore. Nothing published can go missing behind the tables.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

import faust
import structlog
from faust.streams import Stream
from faust.types import EventT, StreamT, TableT

from agents.odds_rules import apply_observation
from projections.wire import read_board
from streams import topics
from streams.app import Runtime
from streams.clock import format_ts
from streams.events import InvalidEvent, OddsChanged, OddsObserved, derive_id
from streams.ranges import Gap, RawRecord, read_range
from streams.sequencing import plan

__all__ = ["MARK_PREFIX", "BoardBatch", "board_items", "changed_event", "is_mark", "register"]

log = structlog.get_logger(__name__)


def changed_event(obs: OddsObserved, changes: list[dict[str, Any]]) -> OddsChanged:
    """The ``OddsChanged`` caused by ``obs``; its id derives from the cause."""
    return OddsChanged(
        event_id=derive_id("changed", obs.event_id),
        occurred_at=obs.observed_at,
        sportradar_id=obs.sportradar_id,
        bookmaker=obs.bookmaker,
        observed_at=obs.observed_at,
        caused_by=obs.event_id,
        run_id=obs.run_id,
        changes=changes,
    )


# a batch is what arrived within this window, at most this many observations (a cycle of 3,900)
BATCH_MAX = 1_000
BATCH_WITHIN_S = 0.05

MARK_PREFIX = "@applied:"


def mark_key(partition: int) -> str:
    return f"{MARK_PREFIX}{partition}"


def is_mark(key: object) -> bool:
    return str(key).startswith(MARK_PREFIX)


def board_items(table: Mapping[Any, Any]) -> Iterator[tuple[str, Any]]:
    """The ``(key, value)`` pairs of ``boards`` or ``confirmed`` without the offset markers."""
    for key, value in list(table.items()):
        if not is_mark(key):
            yield str(key), value


def put(table: TableT[Any, Any], partition: int, key: str, value: Any) -> None:
    """``table[key] = value`` with the changelog record on ``partition`` (the source partition of
    the observation), as Faust does for the current event; a batch spans partitions."""
    table.send_changelog(partition, key, value)
    table.data[key] = value


class BoardBatch:
    """One batch's view of the tables: what it read, and what it will write, per source partition."""

    def __init__(self, boards: Mapping[str, Any], confirmed: Mapping[str, Any]) -> None:
        self.boards_table = boards
        self.confirmed_table = confirmed
        self.boards: dict[str, tuple[int, dict[str, Any]]] = {}
        self.confirmed: dict[str, tuple[int, str]] = {}
        self.changes: list[OddsChanged] = []
        self.stale = 0

    def board(self, key: str) -> Any:
        mine = self.boards.get(key)
        return mine[1] if mine is not None else self.boards_table.get(key)

    def confirmation(self, key: str) -> Any:
        mine = self.confirmed.get(key)
        return mine[1] if mine is not None else self.confirmed_table.get(key)

    def apply(self, partition: int, obs: OddsObserved) -> None:
        key = f"{obs.sportradar_id}:{obs.bookmaker}"
        previous = self.board(key)
        observed_at = format_ts(obs.observed_at)
        update = apply_observation(
            previous["quotes"] if previous else None, self.confirmation(key), obs.markets, observed_at
        )
        if update.stale:
            self.stale += 1
            return
        if update.changes:
            self.changes.append(changed_event(obs, update.changes))
        if update.changes or previous is None:
            self.boards[key] = (
                partition,
                {
                    "sportradar_id": obs.sportradar_id,
                    "bookmaker": obs.bookmaker,
                    "bookmaker_event_id": obs.bookmaker_event_id,
                    "home_team": obs.home_team,
                    "away_team": obs.away_team,
                    "tournament": obs.tournament,
                    "kickoff_at": format_ts(obs.kickoff_at),
                    "quotes": update.quotes,
                },
            )
        self.confirmed[key] = (partition, observed_at)


def applied_offset(boards: Mapping[str, Any], confirmed: Mapping[str, Any], partition: int) -> int | None:
    """The last offset of ``partition`` whose effects both tables hold; None if never applied."""
    b = boards.get(mark_key(partition))
    c = confirmed.get(mark_key(partition))
    if b is None or c is None:
        return None
    return min(int(b), int(c))


def register(app: faust.App, rt: Runtime) -> None:
    schema: faust.Schema[str, Any] = faust.Schema(key_serializer="json", value_serializer="json")
    boards = app.Table(topics.TABLE_BOARDS, default=None, schema=schema, partitions=rt.settings.topic_partitions)
    confirmed = app.Table(topics.TABLE_CONFIRMED, default=None, schema=schema, partitions=rt.settings.topic_partitions)
    rt.tables = {"boards": boards, "confirmed": confirmed}
    observed_name = rt.settings.topic(topics.OBSERVED.name)

    async def in_sequence(partition: int, events: Sequence[EventT[Any]]) -> tuple[list[RawRecord], int, int]:
        """The records of ``partition`` to apply, in order, gaps read from the broker; and how many
        were skipped as already applied, and how many came from gaps."""
        offsets = [e.message.offset for e in events]
        steps = plan(applied_offset(boards, confirmed, partition), offsets)
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
                m = events[step].message
                out.append(
                    RawRecord(
                        observed_name,
                        partition,
                        m.offset,
                        m.key if isinstance(m.key, bytes) else None,
                        m.value if isinstance(m.value, bytes) else None,
                    )
                )
        return out, steps.skipped, filled

    async def deliver(changes: list[OddsChanged], letters: list[tuple[RawRecord, str]]) -> None:
        attempt = 0
        while True:
            try:
                pending = [await rt.dead_letter_raw(rec, why) for rec, why in letters]
                await rt.publish_delivered(list(changes))
                await asyncio.gather(*pending)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker is away: wait for it, never move the tables on
                attempt += 1
                delay = min(30.0, 0.2 * 2 ** (attempt - 1))
                log.warning(
                    "board publish failed, retrying",
                    attempt=attempt,
                    changes=len(changes),
                    error=repr(exc),
                    retry_in_s=delay,
                )
                await asyncio.sleep(delay)

    async def apply_batch(events: Sequence[EventT[Any]]) -> None:
        started = time.perf_counter()
        by_partition: dict[int, list[EventT[Any]]] = defaultdict(list)
        for event in events:
            by_partition[event.message.partition].append(event)
        batch = BoardBatch(boards, confirmed)
        letters: list[tuple[RawRecord, str]] = []
        last: dict[int, int] = {}
        skipped = filled = applied = 0
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
                    batch.apply(partition, obs)
                    applied += 1
                except Exception as exc:  # a bug on one board must not stop the others
                    log.exception("board update failed; record dead-lettered", partition=partition, offset=rec.offset)
                    letters.append((rec, f"board update failed: {exc!r}"))
        await deliver(batch.changes, letters)
        for key, (partition, value) in batch.boards.items():
            put(boards, partition, key, value)
        for key, (partition, at) in batch.confirmed.items():
            put(confirmed, partition, key, at)
        for partition, offset in last.items():
            put(boards, partition, mark_key(partition), offset)
            put(confirmed, partition, mark_key(partition), offset)
        log.info(
            "board batch applied",
            records=len(events),
            applied=applied,
            changed=len(batch.changes),
            stale=batch.stale,
            invalid=len(letters),
            already_applied=skipped,
            gap_records=filled,
            partitions=sorted(last),
            ms=round((time.perf_counter() - started) * 1000, 1),
        )

    @app.agent(rt.topic(topics.OBSERVED), name="board")
    async def board(stream: StreamT[bytes]) -> None:
        batches = cast(Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)
        async for events in batches:
            await apply_batch(events)
