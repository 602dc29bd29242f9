"""Replay end to end: a worker projects a real scrape; ``oddstream replay`` rebuilds the same tables.

Also: a worker SIGKILLed mid-projection and started again ends with the tables a replay builds
(the tracked progress makes the records it redelivers harmless).
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from projections.postgres import dsn_of
from streams.settings import Settings
from tests.integration.conftest import Processes, caught_up
from tests.projection_world import snapshot, snapshot_diff

# end offsets decide when a replay is done and when the projections have caught up: Tansu's are wrong
pytestmark = [pytest.mark.integration, pytest.mark.true_kafka]

N_EVENTS = 30
TOPICS = {
    "odds-changes": ("odds.changes",),
    "odds-observed": ("odds.observed",),
    "runs": ("odds.scrape-requests", "odds.runs"),
}


async def _caught_up(settings: Settings, timeout_s: float = 60.0) -> None:
    await caught_up(settings, TOPICS, timeout_s)


async def _scrape(procs: Processes) -> None:
    done = await asyncio.to_thread(procs.run, "scrape", "--wait", "--timeout", "90")
    assert done.returncode == 0, done.stderr


async def _redeliver(settings: Settings, topic: str, n: int) -> None:
    """Produce the first ``n`` records of ``topic`` again (same bytes, same keys)."""
    consumer = AIOKafkaConsumer(
        settings.topic(topic),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        while len(records) < n:
            batches = await consumer.getmany(timeout_ms=2000)
            if not batches:
                break
            records.extend(r for rs in batches.values() for r in rs)
    finally:
        await consumer.stop()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for r in records[:n]:
            await producer.send_and_wait(settings.topic(topic), r.value, key=r.key)
    finally:
        await producer.stop()


def _replay(procs: Processes, *args: str) -> str:
    done = procs.run("replay", *args, timeout_s=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "events read: " in done.stdout and "rows written: " in done.stdout and "events/s: " in done.stdout
    return done.stdout


async def test_replay_reproduces_the_live_projection_row_by_row(procs: Processes, settings: Settings) -> None:
    sim_url = procs.simulator(events=N_EVENTS, tick_s=1.0)
    settings = settings.with_(bookmaker_urls={"betpawa": sim_url})
    procs.settings = settings
    procs.worker()
    await _scrape(procs)
    await asyncio.sleep(2.5)  # the simulated prices move
    await _scrape(procs)
    await _redeliver(settings, "odds.changes", 10)
    await _redeliver(settings, "odds.observed", 10)
    await _redeliver(settings, "odds.runs", 5)
    await _caught_up(settings)
    dsn = dsn_of(settings.database_url or "")
    live = await snapshot(dsn)
    assert len(live["odds_history"]) > N_EVENTS * 10
    assert len(live["sport_events"]) == N_EVENTS
    assert [r[1] for r in live["scrape_runs"]] == ["completed", "completed"]
    changed_twice = [r for r in live["odds_current"] if r[6] > min(x[6] for x in live["odds_current"])]
    assert changed_twice, "the second scrape changed nothing: the test would prove little"

    out = _replay(procs)  # from the beginning, into fresh tables swapped in, while the worker runs
    assert "events read: 0" not in out
    await _caught_up(settings)
    assert await snapshot(dsn) == live

    _replay(procs, "--projection", "odds", "--in-place")  # twice, in place: still the same
    _replay(procs, "--since", "2000-01-01T00:00:00Z")
    assert await snapshot(dsn) == live

    # the worker goes on projecting onto the swapped-in tables
    await asyncio.sleep(2.5)
    await _scrape(procs)
    await _caught_up(settings)
    after = await snapshot(dsn)
    assert len(after["scrape_runs"]) == 3 and len(after["odds_history"]) > len(live["odds_history"])
    _replay(procs)
    await _caught_up(settings)
    assert await snapshot(dsn) == after


async def _changes_committed(settings: Settings) -> int:
    conn = await asyncpg.connect(dsn_of(settings.database_url or ""))
    try:
        n = await conn.fetchval(
            "select coalesce(sum(\"offset\" + 1), 0) from projection_progress where projection = 'odds-changes'"
        )
    finally:
        await conn.close()
    return int(n)


async def test_worker_killed_mid_cycle_resumes_exactly(procs: Processes, settings: Settings) -> None:
    n_events = 200
    sim_url = procs.simulator(events=n_events, tick_s=1.0)
    # a run cut short goes stale within seconds here (heartbeats every 5 s keep a live one running)
    settings = settings.with_(bookmaker_urls={"betpawa": sim_url}, stale_after_s=12, stale_check_interval_s=0.5)
    procs.settings = settings
    worker = procs.worker()
    await _scrape(procs)
    await _caught_up(settings)
    first = await _changes_committed(settings)
    await asyncio.sleep(1.5)
    asked = await asyncio.to_thread(procs.run, "scrape")  # the command only: its run is watched below
    assert asked.returncode == 0, asked.stderr
    deadline = time.monotonic() + 60
    while await _changes_committed(settings) == first and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    os.kill(worker.pid, signal.SIGKILL)  # the second cycle's projection has begun, not ended
    worker.wait(10)
    killed_at = await _changes_committed(settings)
    assert first < killed_at < first + n_events
    # the command runs again only if its offset was not committed before the kill (at least once);
    # otherwise its run goes stale. Either way the tables end as a replay builds them.
    redelivered = await _queue_committed(settings) < 2  # the second command is the queue's offset 1
    print(f"command redelivered after the kill: {redelivered}")
    procs.worker()
    wanted = {"completed": 2} if redelivered else {"completed": 1, "stale": 1}
    deadline = time.monotonic() + 90
    while (statuses := await _run_statuses(settings)) != wanted and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert statuses == wanted, f"redelivered={redelivered}"
    await _caught_up(settings, timeout_s=90)
    dsn = dsn_of(settings.database_url or "")
    live = await snapshot(dsn)
    _replay(procs)
    await _caught_up(settings)
    rebuilt = await snapshot(dsn)
    assert rebuilt == live, snapshot_diff(live, rebuilt)


async def _queue_committed(settings: Settings) -> int:
    """The worker group's committed offset on the scrape queue (-1: none); one key, so one partition
    holds every command."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.app_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        topic = settings.topic("odds.scrape-queue")
        committed = [await consumer.committed(TopicPartition(topic, p)) for p in range(settings.topic_partitions)]
    finally:
        await consumer.stop()
    return max((int(c) for c in committed if c is not None), default=-1)


async def _run_statuses(settings: Settings) -> dict[str, int]:
    conn = await asyncpg.connect(dsn_of(settings.database_url or ""))
    try:
        rows = await conn.fetch("select status, count(*) as n from scrape_runs group by status")
    finally:
        await conn.close()
    return {r["status"]: int(r["n"]) for r in rows}
