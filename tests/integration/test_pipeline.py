"""The vertical slice end to end on real parts: simulator -> scrape -> board -> changes -> PostgreSQL.

The board agent alone (dead letters with their reasons, the board going on) is tested at the agent
level, ``tests/agents/test_board.py``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.events import OddsChanged, decode
from streams.settings import Settings
from tests.integration.conftest import Processes, get_json
from tests.openapi_check import check_live_answers

pytestmark = pytest.mark.integration

N_EVENTS = 40


def _dsn(settings: Settings) -> str:
    assert settings.database_url
    return settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _history_counts(settings: Settings) -> tuple[int, int]:
    conn = await asyncpg.connect(_dsn(settings))
    try:
        total = await conn.fetchval("select count(*) from odds_history")
        distinct = await conn.fetchval(
            "select count(*) from (select distinct event_id, market_id, line from odds_history) k"
        )
    finally:
        await conn.close()
    return int(total), int(distinct)


async def _read_topic(settings: Settings, name: str, *, timeout_s: float, want: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        settings.topic(name),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline and len(values) < want:
            batches = await consumer.getmany(timeout_ms=500)
            values.extend(r.value for rs in batches.values() for r in rs)
    finally:
        await consumer.stop()
    return values


async def _wait_for(predicate, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await predicate()
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.25)


async def test_scrape_fills_board_and_history_once(procs: Processes, settings: Settings) -> None:
    sim_url = procs.simulator(events=N_EVENTS)
    settings = settings.with_(bookmaker_urls={"betpawa": sim_url})
    procs.settings = settings
    procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"

    status, health = get_json(f"{base}/health")
    assert status == 200 and health["status"] == "ok"

    done = await asyncio.to_thread(procs.run, "scrape", "--wait", "--timeout", "90")
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    uuid.UUID(run_id)
    assert f"completed: {N_EVENTS} observed, 0 failed" in done.stderr

    async def board_full() -> bool:
        return get_json(f"{base}/odds/events")[1]["count"] == N_EVENTS

    assert await _wait_for(board_full), get_json(f"{base}/odds/events")[1]["count"]
    events = get_json(f"{base}/odds/events")[1]["events"]
    first = events[0]
    pawa = first["bookmakers"]["betpawa"]
    assert set(pawa["markets"]["1x2"]["prices"]) == {"1", "X", "2"}
    assert 0 < pawa["markets"]["1x2"]["margin"] < 0.2
    assert pawa["observed_at"].endswith("+00:00")

    status, detail = get_json(f"{base}/odds/events/{first['sportradar_id']}")
    assert status == 200 and len(detail["markets"]) >= 10
    assert get_json(f"{base}/odds/events/99999999")[0] == 404

    async def history_written() -> bool:
        total, _ = await _history_counts(settings)
        return total >= N_EVENTS * 10

    assert await _wait_for(history_written)
    await asyncio.sleep(2)  # let any batch still in flight land before counting
    total, distinct = await _history_counts(settings)
    assert total == distinct

    # a redelivered OddsChanged (same bytes, same event_id) writes nothing new
    changes = await _read_topic(settings, "odds.changes", timeout_s=20, want=N_EVENTS)
    assert len(changes) == N_EVENTS
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        for raw in changes[:5]:
            ev = decode(raw, [OddsChanged])
            await producer.send_and_wait(settings.topic("odds.changes"), raw, key=ev.key.encode())
    finally:
        await producer.stop()
    await asyncio.sleep(3)
    assert await _history_counts(settings) == (total, distinct)

    # the same scrape again: the simulator's world did not move, so nothing changed
    again = await asyncio.to_thread(procs.run, "scrape", "--wait", "--timeout", "90")
    assert again.returncode == 0, again.stderr
    await asyncio.sleep(3)
    assert await _history_counts(settings) == (total, distinct)

    # the line movement of the first event's 1X2: one point per outcome (the world did not move),
    # at the board's prices, confirmed until the last scrape
    sr = first["sportradar_id"]
    status, moved = get_json(f"{base}/odds/events/{sr}/history?market_id=3743&bookmaker=betpawa")
    assert status == 200, moved
    by_outcome = {s["outcome"]: s for s in moved["series"]}
    assert {n: [p["price"] for p in s["points"]] for n, s in by_outcome.items()} == {
        n: [p] for n, p in pawa["markets"]["1x2"]["prices"].items()
    }
    assert all(s["confirmed_until"] > s["points"][0]["at"] for s in moved["series"]), moved
    assert [len(m["points"]) for m in moved["margins"]] == [1]
    assert abs(moved["margins"][0]["points"][0]["margin"] - pawa["markets"]["1x2"]["margin"]) < 1e-6
    status, listed = get_json(f"{base}/odds/events/{sr}/history/markets")
    assert status == 200 and {"market_id": "3743", "line": None} in [
        {"market_id": m["market_id"], "line": m["line"]} for m in listed["markets"]
    ]

    # every route of GET /openapi.json, asked on this worker: real answers match their schemas
    ids = {"sportradar_id": first["sportradar_id"], "run_id": run_id}
    bodies = {("/scrape", "post"): {"bookmakers": ["betpawa"]}, ("/schedule", "post"): {"paused": True}}
    history = "/odds/events/{sportradar_id}/history"
    queries = {
        history: ["?market_id=3743", "?market_id=5000&line=2.5&format=csv", "?market_id=3743&line=x"],
        "/odds/events": ["?page=2&page_size=5&sort=tournament", "?format=csv", "?page_size=500"],
    }
    asked = await asyncio.to_thread(check_live_answers, base, ids, bodies, queries)
    assert asked.statuses(history) == {200, 400, 404}
    assert asked.statuses("/odds/events") == {200, 400}
    assert asked.statuses("/scrape", "post") == {202, 400}
    assert asked.statuses("/odds/events/{sportradar_id}") == {200, 404}


def _without_age(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**e, "bookmakers": {b: {**v, "age_s": None} for b, v in e["bookmakers"].items()}} for e in events]


@pytest.mark.true_kafka
async def test_board_is_recovered_from_its_changelog_after_a_restart(procs: Processes, settings: Settings) -> None:
    sim_url = procs.simulator(events=20)
    settings = settings.with_(bookmaker_urls={"betpawa": sim_url})
    procs.settings = settings
    worker = procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"
    done = await asyncio.to_thread(procs.run, "scrape", "--wait", "--timeout", "90")
    assert done.returncode == 0, done.stderr

    async def full() -> bool:
        return get_json(f"{base}/odds/events")[1]["count"] == 20

    assert await _wait_for(full)
    before = get_json(f"{base}/odds/events")[1]["events"]
    worker.stop(20.0)
    procs.worker()
    assert await _wait_for(full, 60)
    after = get_json(f"{base}/odds/events")[1]["events"]
    assert _without_age(after) == _without_age(before)
    # and no observation was replayed into a second OddsChanged
    changes = await _read_topic(settings, "odds.changes", timeout_s=10, want=21)
    assert len(changes) == 20


async def test_worker_with_an_unreachable_database_says_so(procs: Processes, settings: Settings) -> None:
    bad = settings.with_(database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none")
    done = await asyncio.to_thread(procs.run, "worker", settings=bad, timeout_s=60)
    assert done.returncode == 2
    assert "PostgreSQL at postgresql+asyncpg://postgres@127.0.0.1:1/none is unreachable" in done.stderr
