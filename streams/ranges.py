"""Reading a range of offsets of one partition, outside the consumer group.

A stateful agent (the board, a projection) stores the last offset it applied per partition next to
its state, and applies every partition strictly in sequence: when the group's consumer hands it a
record past the next expected offset (its committed offsets ran ahead of the state after a crash,
or Faust acknowledged records it never delivered during a rebalance), the agent reads the missing
range here first. The state never depends on Kafka's committed offsets being right.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka import client_options
from streams.settings import Settings

__all__ = ["Gap", "RangeReader", "RawRecord", "range_reader", "read_range"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One record as read from the broker: where it was, its key and its value bytes."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None

    @classmethod
    def of(cls, message: Any) -> RawRecord:
        """The record of a consumed message (Faust's or aiokafka's: topic, partition, offset,
        key, value); a key or value that is not bytes (already deserialized) is kept as None."""
        key, value = message.key, message.value
        return cls(
            message.topic,
            message.partition,
            message.offset,
            key if isinstance(key, bytes) else None,
            value if isinstance(value, bytes) else None,
        )


RangeReader = Callable[[str, int, int, int], Awaitable[list[RawRecord]]]
"""``(topic, partition, start, end)`` -> the records of offsets ``[start, end)`` that exist, read from the broker."""


@dataclass(frozen=True, slots=True)
class Gap:
    """The offsets ``[start, end)`` of a partition that were not applied."""

    topic: str
    partition: int
    start: int
    end: int


async def read_range(settings: Settings, gap: Gap, *, timeout_s: float = 30.0) -> list[RawRecord]:
    """The records of ``gap`` that exist (offsets may be missing: compaction, transaction markers).

    Records removed by retention cannot come back; the first offset still held is read and the
    loss is logged. Raises ``TimeoutError`` when the broker does not answer in ``timeout_s``.
    """
    tp = TopicPartition(gap.topic, gap.partition)
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 * 1024 * 1024,
        request_timeout_ms=int(timeout_s * 1000),
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        first = (await consumer.beginning_offsets([tp]))[tp]
        start = max(gap.start, first)
        if start > gap.start:
            log.error("records of a gap were removed by retention", **_fields(gap), first_held=first)
        if start >= gap.end:
            return []
        consumer.seek(tp, start)
        out: list[RawRecord] = []
        idle_left_s = timeout_s  # how long fetches may keep returning nothing
        while True:
            batch = await consumer.getmany(tp, timeout_ms=int(min(idle_left_s, 1.0) * 1000))
            for msg in batch.get(tp, []):
                if msg.offset >= gap.end:
                    return out
                out.append(RawRecord.of(msg))
            if await consumer.position(tp) >= gap.end:
                return out
            if not batch:
                idle_left_s -= 1.0
                if idle_left_s <= 0:
                    raise TimeoutError(f"reading {gap.topic}/{gap.partition} [{gap.start}, {gap.end})")
    finally:
        await consumer.stop()


def range_reader(settings: Settings) -> RangeReader:
    """``read_range`` as ``(topic, partition, start, end)`` -> records, for ``streams.sequencing.in_sequence``."""

    async def read(topic: str, partition: int, start: int, end: int) -> list[RawRecord]:
        return await read_range(settings, Gap(topic, partition, start, end))

    return read


def _fields(gap: Gap) -> dict[str, object]:
    return {"topic": gap.topic, "partition": gap.partition, "start": gap.start, "end": gap.end}
