"""Integration tests for oddstream.runtime: Tansu, Apache Kafka on the JDK, embedded PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

import asyncpg
import psutil
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from oddstream.runtime.kafka_jvm import java_and_maven_available, start_kafka
from oddstream.runtime.postgres import SERVER_SETTINGS, start_postgres
from oddstream.runtime.procs import EmbeddedBroker
from oddstream.runtime.tansu import start_tansu

pytestmark = pytest.mark.integration


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def _roundtrip(bootstrap: str) -> None:
    topic = f"runtime-rt-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        md = await producer.send_and_wait(topic, b'{"hello": "world"}', key=b"k1", headers=[("h", b"v")])
    finally:
        await producer.stop()
    tp = TopicPartition(topic, md.partition)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, md.offset)
        rec = await asyncio.wait_for(consumer.getone(), timeout=30)
    finally:
        await consumer.stop()
    assert (rec.key, rec.value, rec.offset) == (b"k1", b'{"hello": "world"}', md.offset)
    assert list(rec.headers) == [("h", b"v")]


async def _exercise_broker(broker: EmbeddedBroker) -> None:
    pid = broker.pid
    try:
        assert broker.url == f"kafka://{broker.bootstrap}"
        assert broker.bootstrap.startswith("127.0.0.1:")
        await _roundtrip(broker.bootstrap)
    finally:
        await asyncio.to_thread(broker.stop)
    assert _gone(pid)
    broker.stop()  # idempotent


async def test_tansu_produce_consume_stop(tmp_path: Path) -> None:
    t0 = time.monotonic()
    broker = await asyncio.to_thread(start_tansu, tmp_path)
    print(f"tansu {broker.version} started in {time.monotonic() - t0:.2f}s on {broker.bootstrap}")
    assert broker.kind == "tansu"
    await _exercise_broker(broker)


def _require_java() -> None:
    if not java_and_maven_available():
        reason = "no Java 17+ runtime (or no jar list and no mvn): cannot run Apache Kafka on the JVM"
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI requires true Kafka)")
        print(f"SKIP: {reason}")
        pytest.skip(reason)


async def test_apache_kafka_produce_consume_stop(tmp_path: Path) -> None:
    _require_java()
    t0 = time.monotonic()
    broker = await asyncio.to_thread(start_kafka, tmp_path / "kafka")
    print(f"apache kafka {broker.version} started in {time.monotonic() - t0:.2f}s on {broker.bootstrap}")
    assert broker.kind == "apache-kafka"
    await _exercise_broker(broker)


async def test_persistent_kafka_keeps_records_and_port_across_restart(tmp_path: Path) -> None:
    _require_java()
    work = tmp_path / "kafka-persistent"
    topic = f"runtime-persist-{uuid.uuid4().hex[:8]}"
    t0 = time.monotonic()
    broker = await asyncio.to_thread(start_kafka, work, persistent=True, heap_mb=512)
    started_s = time.monotonic() - t0
    try:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            md = await producer.send_and_wait(topic, b"kept", key=b"k", partition=0)
        finally:
            await producer.stop()
    finally:
        t0 = time.monotonic()
        await asyncio.to_thread(broker.stop)
        stop_s = time.monotonic() - t0
    assert _gone(broker.pid)
    assert (work / "kraft-logs" / ".kafka_cleanshutdown").is_file(), "SIGTERM should shut Kafka down cleanly"
    t0 = time.monotonic()
    again = await asyncio.to_thread(start_kafka, work, persistent=True, heap_mb=512)
    restarted_s = time.monotonic() - t0
    print(f"persistent kafka: start {started_s:.1f}s, stop {stop_s:.1f}s, restart {restarted_s:.1f}s")
    try:
        assert again.port == broker.port
        tp = TopicPartition(topic, 0)
        consumer = AIOKafkaConsumer(bootstrap_servers=again.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            consumer.seek(tp, md.offset)
            rec = await asyncio.wait_for(consumer.getone(), timeout=30)
        finally:
            await consumer.stop()
        assert (rec.offset, rec.key, rec.value) == (md.offset, b"k", b"kept")
    finally:
        await asyncio.to_thread(again.stop)


def _postgres_pids(pgid: int) -> list[int]:
    found = []
    for p in psutil.process_iter(["name"]):
        try:
            if p.info["name"] == "postgres" and os.getpgid(p.pid) == pgid and p.status() != "zombie":
                found.append(p.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return found


async def test_embedded_postgres_select_version_and_stop(tmp_path: Path) -> None:
    t0 = time.monotonic()
    db = await asyncio.to_thread(start_postgres, tmp_path)
    print(f"postgres started in {time.monotonic() - t0:.2f}s on {db.dsn}")
    pid = db.pid
    assert db.url.startswith("postgresql+asyncpg://postgres@127.0.0.1:")
    try:
        conn = await asyncpg.connect(db.dsn)
        try:
            version = await conn.fetchval("select version()")
            shown = {name: await conn.fetchval(f"show {name}") for name in SERVER_SETTINGS}
        finally:
            await conn.close()
        assert version.startswith("PostgreSQL 18")
        assert shown == SERVER_SETTINGS  # the workload's settings are the server's
        children = [c.pid for c in psutil.Process(pid).children(recursive=True)]
        assert children, "postmaster should have auxiliary processes"
    finally:
        await asyncio.to_thread(db.stop)
    assert _gone(pid)
    assert all(_gone(c) for c in children)
    assert _postgres_pids(pid) == []
    db.stop()  # idempotent
