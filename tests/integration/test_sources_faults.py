"""A full scrape of the three simulated bookmakers over real HTTP with faults switched on.

Simulator and worker are real processes, the broker is real Kafka. The run must complete, report
every failure, and publish exactly one ``OddsObserved`` per board the simulator served intact; a
second full request sent while the cycle runs is coalesced into it and says so.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from typing import Any

import pytest

from oddstream.runtime.procs import free_port, wait_for_tcp
from streams.settings import Settings
from tests.integration.conftest import Processes, get_json, read_until_quiet

pytestmark = pytest.mark.integration

N_EVENTS = 120
FAULTS = "timeout=0.02,5xx=0.05,malformed=0.02,missing=0.02,hang_s=11"
LATENCY = "betpawa=20:40,sportybet=30:60,bet9ja=40:80"


def _post(url: str, body: object) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        result: dict[str, Any] = json.loads(resp.read())
        return result


async def _read_all(settings: Settings, name: str, *, quiet_s: float = 3.0) -> list[dict[str, Any]]:
    """Every record of a topic, read until nothing new arrived for ``quiet_s``."""
    return [json.loads(v) for v in await read_until_quiet(settings, name, quiet_s)]


def _wait_run(base: str, run_id: str, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            status, run = get_json(f"{base}/runs/{run_id}")
        except ValueError:  # a non-JSON 500 while the worker is still joining its group
            status, run = 500, {}
        if status == 200 and run.get("status") in ("completed", "failed", "stale"):
            return run
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish in {timeout_s} s: {run}")


async def test_faulty_bookmakers_lose_no_fetched_observation(procs: Processes, settings: Settings) -> None:
    port = free_port()
    sim = procs.start(
        "simulator",
        "simulate",
        "--port",
        str(port),
        "--events",
        str(N_EVENTS),
        ODDSTREAM_SIMULATOR_FAULTS=FAULTS,
        ODDSTREAM_SIMULATOR_LATENCY=LATENCY,
        ODDSTREAM_SIMULATOR_TICK_S="3600",
    )
    wait_for_tcp("127.0.0.1", port, 30.0, sim)
    sim_url = f"http://127.0.0.1:{port}"
    settings = settings.with_(bookmaker_urls={bm: sim_url for bm in ("betpawa", "sportybet", "bet9ja")})
    procs.settings = settings
    procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"
    deadline = time.monotonic() + 90
    while not get_json(f"{base}/health")[1].get("ready") and time.monotonic() < deadline:
        await asyncio.sleep(0.5)

    first = _post(f"{base}/scrape", {})["run_id"]
    second = _post(f"{base}/scrape", {})["run_id"]  # arrives while the first full cycle runs
    for run_id in (first, second):
        done = await asyncio.to_thread(_wait_run, base, run_id, 240)
        assert done["status"] == "completed", done

    status, stats = get_json(f"{sim_url}/_simulator/stats")
    assert status == 200
    runs = await _read_all(settings, "odds.runs")
    observed = await _read_all(settings, "odds.observed")

    completed = {e["run_id"]: e for e in runs if e["event_type"] == "RunCompleted"}
    # the two commands reach the scrape queue in either order: one runs, the other is coalesced into it
    leader, follower = (first, second) if completed[first].get("coalesced_into") is None else (second, first)
    outcome = completed[leader]
    per_book = outcome["per_bookmaker"]
    assert set(per_book) == {"betpawa", "sportybet", "bet9ja"}

    # no second cycle, and the coalesced request says so
    assert completed[follower]["coalesced_into"] == leader
    assert completed[follower]["per_bookmaker"] == per_book
    started = [e for e in runs if e["event_type"] == "RunStarted" and e["run_id"] == follower]
    assert started and started[0]["coalesced_into"] == leader
    assert {e["run_id"] for e in observed} == {leader}
    beats = [e for e in runs if e["event_type"] == "RunHeartbeat"]
    assert any(b["run_id"] == follower for b in beats)  # a coalesced run is kept alive too
    assert any(b["run_id"] == leader and b["per_bookmaker"] and b["observed"] > 0 for b in beats)

    mine = Counter((e["bookmaker"], e["bookmaker_event_id"]) for e in observed)
    assert all(n == 1 for n in mine.values()), [k for k, n in mine.items() if n > 1]
    total_faults = Counter[str]()
    for bm, sim_stats in stats["bookmakers"].items():
        served = set(sim_stats["served_events"])
        fetched_ok = {eid for (b, eid) in mine if b == bm}
        # every board the simulator served intact became exactly one OddsObserved on the topic
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
    assert outcome["failed"] == sum(c["errors"] for c in per_book.values()) > 0
    assert outcome["observed"] == len(observed)
    assert len(outcome["errors"]) >= min(outcome["failed"], 20)
    assert any("bad JSON" in e for e in outcome["errors"])

    # a scoped request scrapes only that bookmaker and those events
    wanted = sorted({e["sportradar_id"] for e in observed if e["bookmaker"] == "sportybet"})[:3]
    scoped = _post(f"{base}/scrape", {"bookmakers": ["sportybet"], "events": wanted})["run_id"]
    assert (await asyncio.to_thread(_wait_run, base, scoped, 120))["status"] == "completed"
    again = [e for e in await _read_all(settings, "odds.observed") if e["run_id"] == scoped]
    scoped_done = [e for e in await _read_all(settings, "odds.runs") if e["run_id"] == scoped]
    per_book = next(e for e in scoped_done if e["event_type"] == "RunCompleted")["per_bookmaker"]
    assert set(per_book) == {"sportybet"} and per_book["sportybet"]["listed"] == 3
    assert {e["bookmaker"] for e in again} == {"sportybet"}
    assert {e["sportradar_id"] for e in again} <= set(wanted)
    assert len(again) + per_book["sportybet"]["errors"] == 3


async def test_two_workers_never_run_two_full_cycles_at_once(procs: Processes, settings: Settings) -> None:
    port = free_port()
    sim = procs.start("simulator", "simulate", "--port", str(port), "--events", "60", ODDSTREAM_SIMULATOR_TICK_S="3600")
    wait_for_tcp("127.0.0.1", port, 30.0, sim)  # default latencies: a cycle lasts a few seconds
    sim_url = f"http://127.0.0.1:{port}"
    settings = settings.with_(bookmaker_urls={bm: sim_url for bm in ("betpawa", "sportybet", "bet9ja")})
    procs.settings = settings
    other = settings.with_(web_port=free_port())
    procs.worker(settings)
    procs.worker(other)
    bases = [f"http://127.0.0.1:{s.web_port}" for s in (settings, other)]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not all(get_json(f"{b}/health")[1].get("ready") for b in bases):
        await asyncio.sleep(0.5)

    # eight full requests through both workers: whatever partitions their run ids hash to, one runs
    run_ids = [_post(f"{bases[i % 2]}/scrape", {})["run_id"] for i in range(8)]
    for run_id in run_ids:
        assert (await asyncio.to_thread(_wait_run, bases[0], run_id, 180))["status"] == "completed"
    runs = await _read_all(settings, "odds.runs")
    completed = {e["run_id"]: e for e in runs if e["event_type"] == "RunCompleted" and e["run_id"] in run_ids}
    leaders = [r for r in run_ids if completed[r].get("coalesced_into") is None]
    assert len(leaders) == 1, {r: completed[r].get("coalesced_into") for r in run_ids}
    assert all(completed[r]["coalesced_into"] == leaders[0] for r in run_ids if r != leaders[0])
    observed = await _read_all(settings, "odds.observed")
    assert {e["run_id"] for e in observed} == set(leaders)
