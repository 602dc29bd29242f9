"""Full scrapes with two worker processes on real Kafka: one worker runs the cycles, whatever partition
each request's run id hashes to, and every other full request is coalesced into the running one.

The scrape agent alone (faults, exactly one ``OddsObserved`` per board served intact, coalescing, scoped
requests) is tested at the agent level, ``tests/agents/test_scrape.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import pytest

from oddstream.runtime.procs import free_port, wait_for_tcp
from streams.settings import Settings
from streams.sources.registry import NAMES
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


async def test_two_workers_never_run_two_full_cycles_at_once(procs: Processes, settings: Settings) -> None:
    port = free_port()
    sim = procs.start("simulator", "simulate", "--port", str(port), "--events", "60", ODDSTREAM_SIMULATOR_TICK_S="3600")
    wait_for_tcp("127.0.0.1", port, 30.0, sim)  # default latencies: a cycle lasts a few seconds
    sim_url = f"http://127.0.0.1:{port}"
    settings = settings.with_(bookmaker_urls={bm: sim_url for bm in NAMES})
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
