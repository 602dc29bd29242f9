"""The schedule under the trader's control: changed on one worker, followed by every worker, kept
across restarts, and the leader's ticker requesting runs only while it runs."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from oddstream.runtime.procs import free_port
from streams.settings import Settings
from tests.integration.conftest import Processes, get_json

pytestmark = pytest.mark.integration


def _post(base: str, body: Any) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{base}/schedule", data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _scheduled(base: str) -> list[dict[str, Any]]:
    status, body = get_json(f"{base}/runs")
    assert status == 200, body
    return [r for r in body["runs"] if r["trigger"] == "schedule"]


async def _until(check: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if got := check():
            return got
        await asyncio.sleep(0.25)
    raise AssertionError(f"not within {timeout_s} s: {what}")


async def test_a_schedule_change_reaches_every_worker_survives_a_restart_and_pausing_stops_runs(
    procs: Processes, settings: Settings
) -> None:
    sim = procs.simulator(events=5)
    settings = settings.with_(bookmaker_urls={"betpawa": sim})  # ODDSTREAM_SCRAPE_INTERVAL_S=0: paused
    other = settings.with_(web_port=free_port())
    procs.settings = settings
    a = procs.worker()
    base_a, base_b = f"http://127.0.0.1:{settings.web_port}", f"http://127.0.0.1:{other.web_port}"

    status, body = get_json(f"{base_a}/schedule")
    assert status == 200 and body["paused"] is True and body["next_run_at"] is None, body
    assert body["changed_at"] is None  # the environment's default, never changed
    assert _post(base_a, {"interval_s": 5})[0] == 400
    assert _post(base_a, {"paused": "no"})[0] == 400

    status, body = _post(base_a, {"paused": False, "interval_s": 10})
    assert status == 202 and body["paused"] is False and body["interval_s"] == 10, body
    assert body["next_run_at"] is not None and body["changed_by"] == "api"

    procs.worker(other)  # started after the change: reads it from odds.control
    status, body = get_json(f"{base_b}/schedule")
    assert status == 200 and (body["paused"], body["interval_s"]) == (False, 10), body

    # the leader requests a run when a 10 s slot begins (one run per slot, whichever worker leads)
    await _until(lambda: _scrape_done(base_a), 45, "a scheduled run that completed")

    status, body = _post(base_b, {"paused": True})
    assert status == 202 and body["paused"] is True
    await _until(lambda: get_json(f"{base_a}/schedule")[1]["paused"], 5, "worker A follows the pause")
    await asyncio.sleep(1.0)  # a request published in the instant before the pause may still land
    runs_when_paused = {r["run_id"] for r in _scheduled(base_a)}
    await asyncio.sleep(12)  # more than one slot
    assert {r["run_id"] for r in _scheduled(base_a)} == runs_when_paused, "a paused schedule requested a run"
    slots = [r["run_id"] for r in _scheduled(base_a)]
    assert len(slots) == len(set(slots))

    procs.stop_all()
    procs.worker(settings)
    status, body = get_json(f"{base_a}/schedule")
    assert status == 200 and (body["paused"], body["interval_s"]) == (True, 10), body
    assert body["changed_at"] is not None
    assert a.returncode is not None


def _scrape_done(base: str) -> bool:
    return any(r["status"] == "completed" for r in _scheduled(base))
