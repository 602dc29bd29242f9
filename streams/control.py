"""Every worker reads all of ``odds.control``: the run-time settings it folds, kept across restarts.

Not a consumer group: each worker assigns itself every partition, reads the topic from the
beginning (compaction keeps the latest record of each setting), says when it has caught up with
the end it found at start, and then follows what comes. A broker that goes away is waited for, and
the topic read again from the beginning: folding the same records again gives the same settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from streams.ends import probe_ends, topic_partitions
from streams.events import BaseEvent, InvalidEvent, decode
from streams.kafka import client_options
from streams.ranges import RawRecord
from streams.settings import Settings
from streams.topics import CONTROL

__all__ = ["follow"]

log = structlog.get_logger(__name__)

RETRY_S = 2.0


async def _partitions(settings: Settings, topic: str) -> list[TopicPartition]:
    for _ in range(50):
        if tps := await topic_partitions(settings, [topic]):
            return tps
        await asyncio.sleep(0.2)
    raise KafkaError(f"topic {topic} has no partitions")


async def follow(
    settings: Settings,
    types: Sequence[type[BaseEvent]],
    on_event: Callable[[BaseEvent], None],
    on_invalid: Callable[[RawRecord, str], Awaitable[None]],
    loaded: asyncio.Event,
) -> None:
    """Fold every record of ``odds.control`` with ``on_event`` until cancelled; ``loaded`` is set once
    the records there at start are folded. Records that are not one of ``types`` go to ``on_invalid``."""
    topic = settings.topic(CONTROL.name)

    async def read() -> None:
        consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False, fetch_max_wait_ms=250)
        await consumer.start()
        try:
            tps = await _partitions(settings, topic)
            consumer.assign(tps)
            ends = await probe_ends(consumer, tps, await consumer.end_offsets(tps))
            await consumer.seek_to_beginning(*tps)
            read = 0
            while True:
                if not loaded.is_set() and all([await consumer.position(tp) >= ends[tp] for tp in tps]):
                    loaded.set()
                    log.info("control_loaded", topic=topic, records=read)
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for message in records:
                        read += 1
                        try:
                            on_event(decode(message.value, types))
                        except InvalidEvent as exc:
                            await on_invalid(RawRecord.of(message), exc.reason)
        finally:
            await consumer.stop()

    while True:
        try:
            await read()
        except (KafkaError, OSError) as exc:
            log.warning("control_reader_retrying", error=repr(exc), after_s=RETRY_S)
            await asyncio.sleep(RETRY_S)
