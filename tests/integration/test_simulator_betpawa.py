"""The BetPawa simulator on a loopback port, scraped end to end with BetPawaClient + parse_event.

No broker needed: only aiohttp on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import quote

import aiohttp
import pytest
import structlog

from streams.sources.betpawa import DEFAULT_HEADERS, EVENT_PATH, LIST_PATH, BetPawaClient, build_list_query, parse_event
from streams.sources.model import ParsedEvent, SourceError
from streams.sources.simulator import PROTOBUF_CONTENT_TYPE, RunningSimulator, run_simulator

pytestmark = pytest.mark.integration

N_EVENTS = 1300
NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)
log = structlog.get_logger(__name__)


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    sim = await run_simulator("127.0.0.1", 0, n_events=N_EVENTS, tick_s=3600, now=NOW)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def small_simulator() -> AsyncIterator[RunningSimulator]:
    sim = await run_simulator("127.0.0.1", 0, n_events=150, tick_s=3600, now=NOW)
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def _scrape(client: BetPawaClient) -> list[ParsedEvent]:
    errors: list[SourceError] = []
    targets = await client.discover(errors)
    assert errors == []
    payloads = await asyncio.gather(*(client.fetch_event(t.event_id) for t in targets))
    return [parse_event(p) for p in payloads]


def _price_map(events: list[ParsedEvent]) -> dict[tuple[str, str, float | None, str], float | None]:
    return {
        (e.bookmaker_event_id, q.market_id, q.line, o.name): o.price
        for e in events
        for q in e.markets
        for o in q.outcomes
    }


async def test_full_scrape_and_tick(simulator: RunningSimulator, session: aiohttp.ClientSession) -> None:
    client = BetPawaClient(simulator.url, session, concurrency=50)
    started = time.perf_counter()
    first = await _scrape(client)
    elapsed = time.perf_counter() - started
    log.info("simulator.scrape", events=len(first), seconds=round(elapsed, 2))

    world = simulator.world.current()
    assert len(first) == N_EVENTS
    assert len({e.sportradar_id for e in first}) == N_EVENTS
    assert sum(len(e.markets) for e in first) == N_EVENTS * 20
    assert all(not e.unmapped for e in first)
    by_id = {e.bookmaker_event_id: e for e in first}
    for event in world.events:
        assert by_id[event.betpawa_id].markets == event.quotes
        assert by_id[event.betpawa_id].kickoff_at == event.kickoff_at

    simulator.world.advance()
    second = await _scrape(client)
    before, after = _price_map(first), _price_map(second)
    assert before.keys() == after.keys()
    changed = sum(before[k] != after[k] for k in before) / len(before)
    assert 0.02 <= changed <= 0.08, changed


async def test_time_based_tick(session: aiohttp.ClientSession) -> None:
    sim = await run_simulator("127.0.0.1", 0, n_events=30, tick_s=0.2, now=NOW)
    try:
        client = BetPawaClient(sim.url, session)
        first = _price_map(await _scrape(client))
        await asyncio.sleep(0.5)
        second = _price_map(await _scrape(client))
        assert sim.world.current().step >= 2
        assert first != second
    finally:
        await sim.stop()


async def test_unknown_event_is_gone(small_simulator: RunningSimulator, session: aiohttp.ClientSession) -> None:
    with pytest.raises(SourceError) as info:
        await BetPawaClient(small_simulator.url, session).fetch_event("99999999")
    assert info.value.cause == "gone"


def _list_url(base: str, query: object) -> str:
    return base + LIST_PATH + "?q=" + quote(json.dumps(query))


async def test_missing_brand_is_403(small_simulator: RunningSimulator, session: aiohttp.ClientSession) -> None:
    headers = {k: v for k, v in DEFAULT_HEADERS.items() if k != "x-pawa-brand"}
    event_id = small_simulator.world.current().events[0].betpawa_id
    for url in (
        _list_url(small_simulator.url, build_list_query()),
        small_simulator.url + EVENT_PATH.format(event_id=event_id),
    ):
        async with session.get(url, headers=headers) as response:
            assert response.status == 403


async def test_missing_accept_is_not_json(small_simulator: RunningSimulator, session: aiohttp.ClientSession) -> None:
    headers = {k: v for k, v in DEFAULT_HEADERS.items() if k != "accept"}
    headers["accept"] = "*/*"
    event_id = small_simulator.world.current().events[0].betpawa_id
    for url in (
        _list_url(small_simulator.url, build_list_query()),
        small_simulator.url + EVENT_PATH.format(event_id=event_id),
    ):
        async with session.get(url, headers=headers) as response:
            assert response.status == 200
            assert response.headers["content-type"] == PROTOBUF_CONTENT_TYPE
            body = await response.read()
            with pytest.raises(ValueError):
                json.loads(body)


@pytest.mark.parametrize("missing", ["zones", "view", "skip", "take"])
async def test_incomplete_list_query_is_400(
    small_simulator: RunningSimulator, session: aiohttp.ClientSession, missing: str
) -> None:
    query = build_list_query()
    if missing == "zones":
        del query["queries"][0]["query"]["zones"]
    else:
        del query["queries"][0][missing]
    async with session.get(_list_url(small_simulator.url, query), headers=dict(DEFAULT_HEADERS)) as response:
        assert response.status == 400


async def test_take_is_capped_and_competitions_filter(
    small_simulator: RunningSimulator, session: aiohttp.ClientSession
) -> None:
    query = build_list_query(take=500)
    async with session.get(_list_url(small_simulator.url, query), headers=dict(DEFAULT_HEADERS)) as response:
        assert len((await response.json())["responses"][0]["responses"]) == 100
    competition = small_simulator.world.current().events[0].competition_id
    query = build_list_query(take=100, competitions=[competition])
    async with session.get(_list_url(small_simulator.url, query), headers=dict(DEFAULT_HEADERS)) as response:
        items = (await response.json())["responses"][0]["responses"]
    assert items and all(i["competition"]["id"] == competition for i in items)
