"""Idempotent producers where the broker supports them: ``auto`` asks the broker for a producer id."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.kafka import client_options, ensure_topics, resolve_idempotence
from streams.settings import Settings
from tests.integration import conftest

pytestmark = pytest.mark.integration


async def test_auto_idempotence_follows_the_broker(broker: conftest.TestBroker, settings: Settings) -> None:
    resolved = await resolve_idempotence(settings)
    # Apache Kafka grants producer ids; Tansu 0.6.0 rejects aiokafka's InitProducerId (BROKERS.md)
    assert resolved.kafka_idempotence == ("on" if broker.true_kafka else "off")
    assert (await resolve_idempotence(settings.with_(kafka_idempotence="off"))).kafka_idempotence == "off"
    if resolved.kafka_idempotence != "on":
        return
    # and an idempotent producer built from these settings writes
    await ensure_topics(resolved)
    topic = resolved.topic("odds.run-checks")
    producer = AIOKafkaProducer(**client_options(resolved), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b"{}", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(**client_options(resolved), auto_offset_reset="earliest")
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        tp = TopicPartition(topic, meta.partition)
        consumer.assign([tp])
        records = (await consumer.getmany(tp, timeout_ms=10_000)).get(tp, [])
    finally:
        await consumer.stop()
    assert [r.value for r in records] == [b"{}"]
