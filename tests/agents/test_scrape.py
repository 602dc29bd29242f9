"""The scrape agents over the three simulated bookmakers (real HTTP, in this process) with faults on.

The run must complete, report every failure, and publish exactly one ``OddsObserved`` per board the
simulator served intact; a second full request sent while the cycle runs is coalesced into it and says
so; a scoped request scrapes only what it names. The forwarding agent puts every valid command on the
one scrape queue and letters the rest.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agents import scrape
from oddstream.app import Edges, create_app
from projections.memory import MemoryStore
from streams.events import OddsObserved, RunCompleted, RunHeartbeat, RunStarted, ScrapeRequested, encode
from streams.settings import Settings
from streams.sources.cycle import Sources
from streams.sources.registry import NAMES
from streams.sources.simulator import RunningSimulator, parse_faults, parse_latency, run_simulator
from tests.agents.conftest import PARTITIONS, Harness, close_idle_consumer, until
from tests.doubles import Journal, Log, RecordingOutbox

N_EVENTS = 120
# every fault kind, and hangs longer than the clients' timeout (their timeout is short here)
FAULTS = "timeout=0.02,5xx=0.05,malformed=0.02,missing=0.02,hang_s=2.5"
LATENCY = "betpawa=20:40,sportybet=30:60,bet9ja=40:80"


@pytest.fixture
async def simulator() -> AsyncIterator[RunningSimulator]:
    sim = await run_simulator(
        n_events=N_EVENTS, tick_s=3600, latency=parse_latency(LATENCY), faults=parse_faults(FAULTS)
    )
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture
async def scraping(
    tmp_path: Path, simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    """The worker with real bookmaker clients pointed at the simulator (2 s timeouts)."""
    monkeypatch.setattr(scrape, "HEARTBEAT_EVERY_S", 0.5)
    settings = Settings.from_env(
        {
            "ODDSTREAM_KAFKA_URL": "kafka://127.0.0.1:9",
            "ODDSTREAM_DATA_DIR": str(tmp_path),
            "ODDSTREAM_TOPIC_PARTITIONS": str(PARTITIONS),
            "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
        }
    )
    journal = Journal()
    outbox = RecordingOutbox(journal)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
    sources = Sources({bm: simulator.url for bm in NAMES}, session, timeout_s=2.0)
    worker = create_app(
        settings, Edges(outbox=outbox, read_range=Log().read_range, store=MemoryStore(), sources=lambda: sources)
    )
    worker.app.finalize()
    worker.app.flow_control.resume()
    try:
        yield Harness(worker, outbox, journal, Log(), MemoryStore(), settings)
    finally:
        await session.close()
        close_idle_consumer(worker)


def command(h: Harness, run_id: str, **scope: Any) -> Any:
    cmd = ScrapeRequested(run_id=run_id, trigger="api", **scope)
    return h.log.append("odds.scrape-queue", "scrape", encode(cmd), partition=0)


def completed(h: Harness) -> dict[str, RunCompleted]:
    return {e.run_id: e for e in h.outbox.published if isinstance(e, RunCompleted)}


async def test_faulty_bookmakers_lose_no_fetched_observation(scraping: Harness, simulator: RunningSimulator) -> None:
    h = scraping
    async with h.running("scrape") as agent:
        await h.deliver(agent, [command(h, "first"), command(h, "second")])  # the second while the first runs
        await until(lambda: {"first", "second"} <= set(completed(h)), timeout_s=60)
        async with aiohttp.ClientSession() as session, session.get(f"{simulator.url}/_simulator/stats") as resp:
            stats = await resp.json()
        observed = [e for e in h.outbox.published if isinstance(e, OddsObserved)]
        runs = h.outbox.published

        leader, follower = "first", "second"
        outcome = completed(h)[leader]
        per_book = outcome.per_bookmaker
        assert set(per_book) == {"betpawa", "sportybet", "bet9ja"}
        # no second cycle, and the coalesced request says so
        assert outcome.coalesced_into is None
        assert completed(h)[follower].coalesced_into == leader
        assert completed(h)[follower].per_bookmaker == per_book
        started = [e for e in runs if isinstance(e, RunStarted) and e.run_id == follower]
        assert started and started[0].coalesced_into == leader
        assert {e.run_id for e in observed} == {leader}
        beats = [e for e in runs if isinstance(e, RunHeartbeat)]
        assert any(b.run_id == follower for b in beats)  # a coalesced run is kept alive too
        assert any(b.run_id == leader and b.per_bookmaker and (b.observed or 0) > 0 for b in beats)

        mine = Counter((e.bookmaker, e.bookmaker_event_id) for e in observed)
        assert all(n == 1 for n in mine.values()), [k for k, n in mine.items() if n > 1]
        total_faults = Counter[str]()
        for bm, sim_stats in stats["bookmakers"].items():
            served = set(sim_stats["served_events"])
            fetched_ok = {eid for (b, eid) in mine if b == bm}
            # every board the simulator served intact became exactly one OddsObserved
            assert fetched_ok == served, (bm, len(fetched_ok), len(served))
            counts = per_book[bm]
            assert counts["events"] == len(served)
            # every damaged answer is reported as a failure, and every listed event is accounted for
            assert counts["errors"] >= len(sim_stats["failed_events"])
            assert counts["events"] + counts["errors"] >= counts["listed"]
            assert counts["listed"] >= stats["listed"][bm] * 0.9
            assert counts["markets"] >= counts["events"] * 15
            total_faults.update(sim_stats["faults"])
            if bm == "bet9ja":
                # the client keeps 15 in flight; only a request it gave up on (timeout) can still hold the
                # server's slot, so a throttling 403 happens at most once per timeout, and is retried
                hung = sim_stats["faults"].get("timeout", 0)
                assert sim_stats["max_in_flight"] <= 15 + hung and sim_stats["throttled"] <= hung
        assert per_book["sportybet"]["unmapped"] >= per_book["sportybet"]["events"]
        assert per_book["bet9ja"]["unmapped"] >= per_book["bet9ja"]["events"]
        assert all(total_faults[k] > 0 for k in ("timeout", "5xx", "malformed", "missing")), total_faults
        assert outcome.failed == sum(c["errors"] for c in per_book.values()) > 0
        assert outcome.observed == len(observed)
        assert len(outcome.errors) >= min(outcome.failed, 20)
        assert any("bad JSON" in e for e in outcome.errors)

        # a scoped request scrapes only that bookmaker and those events, at once
        wanted = sorted({e.sportradar_id for e in observed if e.bookmaker == "sportybet"})[:3]
        await h.deliver(agent, [command(h, "scoped", bookmakers=["sportybet"], events=wanted)])
        await until(lambda: "scoped" in completed(h), timeout_s=30)
    again = [e for e in h.outbox.published if isinstance(e, OddsObserved) and e.run_id == "scoped"]
    per_book = completed(h)["scoped"].per_bookmaker
    assert set(per_book) == {"sportybet"} and per_book["sportybet"]["listed"] == 3
    assert {e.bookmaker for e in again} == {"sportybet"}
    assert {e.sportradar_id for e in again} <= set(wanted)
    assert len(again) + per_book["sportybet"]["errors"] == 3


async def test_every_valid_command_goes_to_the_one_scrape_queue(harness: Harness) -> None:
    h = harness
    good = [ScrapeRequested(run_id=f"run-{i}", trigger="cli") for i in range(3)]
    records = [h.log.append("odds.scrape-requests", c.run_id, encode(c)) for c in good]
    records.append(h.log.append("odds.scrape-requests", "x", json.dumps({"event_type": "ScrapeRequested"}).encode()))
    async with h.running("scrape-requests") as agent:
        await h.deliver(agent, records)
        await until(lambda: len(h.outbox.forwarded) == 3 and h.outbox.letters)
    assert {(topic, key) for topic, key, _ in h.outbox.forwarded} == {("odds.scrape-queue", b"scrape")}
    assert [json.loads(v)["run_id"] for _, _, v in h.outbox.forwarded] == ["run-0", "run-1", "run-2"]
    bad = records[-1]
    assert [(r.partition, r.offset, "schema_version" in e) for r, e in h.outbox.letters] == [
        (bad.partition, bad.offset, True)
    ]
