"""A producer flush, which Faust runs before committing offsets, covers buffered table writes.

Table writes (``table[key] = value``) are queued in Faust's producer buffer with ``send_soon``; if
``flush`` returned while some were still queued, offsets could be committed ahead of the changelog
and a worker killed at that moment would restart from a table older than its offsets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition

from oddstream.app import create_app
from streams import topics
from streams.ends import log_ends
from streams.engine import DurableProducer
from streams.kafka import ensure_topics
from streams.settings import Settings

pytestmark = pytest.mark.integration

WRITES = 600
VALUE = b"x" * 30_000  # about one board


async def _on_broker(settings: Settings, name: str) -> int:
    parts = [TopicPartition(name, p) for p in range(settings.topic_partitions)]
    return sum((await log_ends(settings.kafka_bootstrap, parts)).values())


async def test_flush_returns_only_when_every_buffered_write_is_on_the_broker(settings: Settings) -> None:
    await ensure_topics(settings)
    worker = create_app(settings)
    app = worker.app
    assert isinstance(app.producer, DurableProducer)
    topic = worker.channels[topics.CHANGES.name]
    publish = topic.publish_message
    handed = 0

    async def slow_now_and_then(fut: Any, wait: bool = False) -> Any:
        # a loaded machine or a slow broker: now and then one hand-over takes longer than the
        # 0.1 s after which Faust's own buffer flush gives up waiting and returns
        nonlocal handed
        handed += 1
        if handed % 150 == 0:
            await asyncio.sleep(0.3)
        return await publish(fut, wait=wait)

    topic.publish_message = slow_now_and_then  # type: ignore[method-assign]
    await app.producer.start()
    try:
        for i in range(WRITES):
            topic.send_soon(key=str(i).encode(), value=VALUE)
        assert app.producer.buffer.size > 0  # queued, nothing sent yet: the case flush must cover
        await app.producer.flush()
        on_broker = await _on_broker(settings, settings.topic(topics.CHANGES.name))
    finally:
        await app.producer.stop()
    assert on_broker == WRITES
