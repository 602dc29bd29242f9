"""Scrape runs and the stale watchdog on real parts: stale once across workers and rebalances, and the
watchdog's timer running in a worker (``scrape --wait`` sees the verdict).

The runs agent alone (instants compared across offsets, late events, naive timestamps, the verdict
announced before the table moves) is tested at the agent level, ``tests/agents/test_runs.py``.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from oddstream.runtime.procs import free_port
from streams.settings import Settings
from tests.integration.conftest import Processes, get_json, stale_counts

pytestmark = pytest.mark.integration

PLUS_ONE = timezone(timedelta(hours=1))


def _run_event(event_type: str, run_id: str, at: datetime | str, **fields: Any) -> bytes:
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": at if isinstance(at, str) else at.isoformat(),
            "run_id": run_id,
            **fields,
        }
    ).encode()


async def _produce(settings: Settings, topic: str, records: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(settings.topic(topic), value, key=key.encode())
    finally:
        await producer.stop()


async def _status(base: str, run_id: str) -> str | None:
    code, body = get_json(f"{base}/runs/{run_id}")
    return body["status"] if code == 200 else None


async def _until(predicate: Any, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(0.25)
    return False


def _fast_watchdog(settings: Settings, **extra: Any) -> Settings:
    return settings.with_(**{"stale_after_s": 3, "stale_check_interval_s": 0.5, **extra})


async def test_stale_exactly_once_with_two_workers_and_rebalances(procs: Processes, settings: Settings) -> None:
    settings = _fast_watchdog(settings, stale_after_s=6)
    procs.settings = settings
    first = procs.worker()
    run_ids = [f"run-{i}" for i in range(12)]
    now = datetime.now(UTC)
    await _produce(settings, "odds.runs", [(r, _run_event("RunStarted", r, now, trigger="schedule")) for r in run_ids])
    second_settings = settings.with_(web_port=free_port())
    second = procs.worker(second_settings)  # a rebalance while the runs age
    await asyncio.sleep(2)
    first.stop(20.0)  # and another one as the first worker leaves
    base = f"http://127.0.0.1:{second_settings.web_port}"

    async def all_stale() -> bool:
        return all([await _status(base, r) == "stale" for r in run_ids])

    if not await _until(all_stale, 60):
        statuses = {r: await _status(base, r) for r in run_ids}
        raise AssertionError(f"not all stale after 60 s: {statuses}\n{second.log_tail(80)}")
    await asyncio.sleep(3)
    counts = await stale_counts(settings, quiet_s=5.0)
    assert counts == Counter({r: 1 for r in run_ids})


def _black_hole() -> tuple[socket.socket, str]:
    """A server that accepts connections and never answers: a bookmaker that hangs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_scrape_wait_reports_a_stale_run(procs: Processes, settings: Settings) -> None:
    sock, url = _black_hole()
    try:
        settings = _fast_watchdog(settings, stale_after_s=2, bookmaker_urls={"betpawa": url})
        procs.settings = settings
        procs.worker()
        done = await asyncio.to_thread(procs.run, "scrape", "--wait", "--timeout", "60")
        assert done.returncode == 1
        assert "stale: no heartbeat since" in done.stderr
    finally:
        sock.close()
