"""Following every partition of one topic from a cursor, outside any consumer group.

``GET /odds/stream`` holds one ``Tail`` per open connection: an aiokafka consumer with every
partition of ``odds.changes`` assigned by hand (no group, so no rebalance and no commits; any
worker can serve any client), each partition seeked to where ``streams.cursor.resume`` puts the
client's cursor, and stopped when the connection ends. The log's ends are the true ends
(``streams.ends``: ``ListOffsets`` is short on Tansu), so "live only" starts exactly at the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from streams.cursor import Resume, resume
from streams.ends import probe_ends, topic_partitions
from streams.kafka import client_options
from streams.ranges import RawRecord
from streams.settings import Settings

__all__ = ["Overtaken", "Tail", "TailUnavailable", "open_tail"]

OPEN_TIMEOUT_S = 10.0
FETCH_MAX_WAIT_MS = 250
"""How long the broker holds an empty fetch: bounds how often an idle stream asks, not the latency
of a record (a fetch returns as soon as one arrives)."""


class TailUnavailable(RuntimeError):
    """The topic has no partitions, or the broker did not answer in time."""


class Overtaken(Exception):
    """Records the reader had not read yet are gone (retention overtook it, or the topic was
    recreated): those partitions go on from their earliest offsets, ``positions``."""

    def __init__(self, positions: dict[int, int]) -> None:
        super().__init__(positions)
        self.positions = positions


class Tail:
    """The records of every partition of a topic, in offset order within each partition."""

    def __init__(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], started: Resume) -> None:
        self._consumer = consumer
        self._tps = tps
        self.started = started
        """Where each partition started, and whether the client's cursor could be resumed exactly."""

    async def read(self, timeout_s: float) -> list[RawRecord]:
        """What arrived, waiting at most ``timeout_s`` for the first record.

        Raises ``Overtaken`` (once, the positions already moved) when a partition's next record is
        gone: never a silent jump over what the client did not get.
        """
        consumer = self._consumer
        try:
            batches: Mapping[Any, list[Any]] = await consumer.getmany(*self._tps, timeout_ms=int(timeout_s * 1000))
        except OffsetOutOfRangeError as exc:
            named = exc.args[0] if exc.args and isinstance(exc.args[0], Mapping) else {}
            tps = [tp for tp in self._tps if tp in named] or self._tps
            starts = await consumer.beginning_offsets(tps)
            for tp in tps:
                consumer.seek(tp, starts[tp])
            raise Overtaken({tp.partition: starts[tp] for tp in tps}) from exc
        return [RawRecord.of(msg) for messages in batches.values() for msg in messages]


@asynccontextmanager
async def open_tail(
    settings: Settings, topic: str, cursor: Mapping[int, int] | None, *, timeout_s: float = OPEN_TIMEOUT_S
) -> AsyncIterator[Tail]:
    """A ``Tail`` of ``topic`` at ``cursor`` (None: at the end), stopped on leaving the block.

    Raises ``TailUnavailable`` before yielding when the topic has no partitions or the broker does
    not answer within ``timeout_s``.
    """
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="none",  # a reader overtaken by retention must say so (``Overtaken``)
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
        request_timeout_ms=int(timeout_s * 1000),
    )
    try:
        async with asyncio.timeout(timeout_s):
            tps = await topic_partitions(settings, [topic])
            if not tps:
                raise TailUnavailable(f"topic {topic} has no partitions")
            await consumer.start()
            consumer.assign(tps)
            starts = await consumer.beginning_offsets(tps)
            ends = await probe_ends(consumer, tps, await consumer.end_offsets(tps), timeout_s=timeout_s)
    except (TimeoutError, OSError, KafkaError) as exc:
        await consumer.stop()
        raise TailUnavailable(f"{topic}: the broker did not answer: {exc!r}") from exc
    except BaseException:
        await consumer.stop()
        raise
    try:
        started = resume(
            cursor,
            [tp.partition for tp in tps],
            {tp.partition: starts[tp] for tp in tps},
            {tp.partition: ends[tp] for tp in tps},
        )
        for tp in tps:
            consumer.seek(tp, started.positions[tp.partition])
        yield Tail(consumer, tps, started)
    finally:
        await consumer.stop()
