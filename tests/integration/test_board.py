"""The live board through its routes: same answers from every worker; schedule and button alike."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import asyncpg
import pytest

from oddstream.runtime.procs import free_port
from streams.settings import Settings
from tests.integration.conftest import Processes, get_json

pytestmark = pytest.mark.integration


def _post(url: str, body: Any = None) -> tuple[int, Any]:
    data = b"" if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST", headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _dump(settings: Settings) -> Any:
    import subprocess
    import sys

    code = (
        "import asyncio\nfrom aiokafka import AIOKafkaConsumer\n"
        "async def m():\n"
        f"    c = AIOKafkaConsumer('{settings.topic('odds.scrape-requests')}', '{settings.topic('odds.runs')}',"
        f" bootstrap_servers='{settings.kafka_bootstrap}', auto_offset_reset='earliest', group_id='dump1')\n"
        "    await c.start()\n    b = await c.getmany(timeout_ms=3000)\n"
        "    print({str(tp): [(r.offset, r.value[:60]) for r in rs] for tp, rs in b.items()})\n"
        "    await c.stop()\nasyncio.run(m())\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout


def _timeless(value: Any) -> Any:
    """The body without request-time fields (ages are computed when asked)."""
    if isinstance(value, dict):
        skip = ("age_s", "checked_at", "worker", "partitions", "ready")
        return {k: _timeless(v) for k, v in value.items() if k not in skip}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


async def _until(predicate: Any, timeout_s: float) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.3)
    return False


async def test_every_route_answers_the_same_from_either_worker(procs: Processes, settings: Settings) -> None:
    sim = procs.simulator(events=60)
    settings = settings.with_(bookmaker_urls={"betpawa": sim})
    procs.settings = settings
    procs.worker()
    other = settings.with_(web_port=free_port())
    procs.worker(other)
    a, b = f"http://127.0.0.1:{settings.web_port}", f"http://127.0.0.1:{other.web_port}"

    # both workers own part of the partitions, so routing and gathering are really exercised; and
    # the group has settled (see the closing note: a record produced while a second worker was
    # still joining was, in some runs, not consumed until the next rebalance)
    def settled() -> bool:
        states = [get_json(f"{w}/health")[1] for w in (a, b)]
        return all(s["partitions"] and s["ready"] for s in states)

    assert await _until(settled, 60)
    await asyncio.sleep(1)
    assert await _until(settled, 30)
    owned_a, owned_b = (set(get_json(f"{w}/health")[1]["partitions"]) for w in (a, b))
    assert owned_a.isdisjoint(owned_b) and owned_a | owned_b == set(range(settings.topic_partitions))

    status, body = _post(f"{b}/scrape", {"bookmakers": ["betpawa"]})
    assert status == 202
    run_id = body["run_id"]
    assert await _until(lambda: get_json(f"{a}/runs/{run_id}")[1].get("status") == "completed", 60), (
        get_json(f"{a}/runs/{run_id}"),
        get_json(f"{b}/runs/{run_id}?scope=local"),
        _dump(settings),
    )
    assert await _until(lambda: get_json(f"{a}/odds/events")[1]["count"] == 60, 30)
    assert await _until(lambda: get_json(f"{b}/odds/events")[1]["count"] == 60, 30)

    events = get_json(f"{a}/odds/events")[1]["events"]
    paths = ["/odds/events", "/odds/events?q=united", "/runs", f"/runs/{run_id}", "/odds/events/99999999"]
    paths += [f"/odds/events/{e['sportradar_id']}" for e in events[:12]]
    for path in paths:
        code_a, from_a = get_json(a + path)
        code_b, from_b = get_json(b + path)
        assert code_a == code_b, path
        assert _timeless(from_a) == _timeless(from_b), path
        assert "partial" not in from_a and "partial" not in from_b, path
    detail = get_json(f"{b}/odds/events/{events[0]['sportradar_id']}")[1]
    one_x_two = next(m for m in detail["markets"] if m["market_id"] == "3743")
    assert set(one_x_two["best"]) == {"1", "X", "2"}
    assert one_x_two["betpawa_vs_best_competitor"] is None  # only BetPawa is simulated here

    assert _post(f"{a}/scrape", {"bookmakers": ["bet365"]})[0] == 400
    assert _post(f"{a}/scrape", ["betpawa"])[0] == 400
    status, retry = _post(f"{a}/runs/{run_id}/retry")
    assert status == 202 and retry["retry_of"] == run_id
    assert await _until(lambda: get_json(f"{b}/runs/{retry['run_id']}")[1].get("status") == "completed", 60)
    assert get_json(f"{b}/runs/{retry['run_id']}")[1]["trigger"] == "retry"


async def test_scheduled_and_on_demand_scrapes_take_the_same_path(procs: Processes, settings: Settings) -> None:
    sim = procs.simulator(events=30, tick_s=1.0)  # prices move every second
    settings = settings.with_(bookmaker_urls={"betpawa": sim}, scrape_interval_s=4)
    procs.settings = settings
    procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"

    def completed(trigger: str) -> list[dict[str, Any]]:
        runs = get_json(f"{base}/runs?status=completed")[1]["runs"]
        return [r for r in runs if r["trigger"] == trigger]

    assert await _until(lambda: len(completed("schedule")) >= 1, 40)
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)  # type: ignore[union-attr]

    async def history() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            return int(await conn.fetchval("select count(*) from odds_history"))
        finally:
            await conn.close()

    await asyncio.sleep(2)
    after_schedule = await history()
    assert after_schedule >= 30 * 20  # the first board of each event: every quote is new
    board_before = get_json(f"{base}/odds/events")[1]["events"]

    status, body = _post(f"{base}/scrape")
    assert status == 202
    assert await _until(lambda: get_json(f"{base}/runs/{body['run_id']}")[1].get("status") == "completed", 60)
    await asyncio.sleep(2)
    after_button = await history()
    assert after_button > after_schedule  # ticks moved prices; the button's scrape recorded them
    assert get_json(f"{base}/odds/events")[1]["events"] != board_before

    conn = await asyncpg.connect(dsn)
    try:
        unchanged = await conn.fetchval(
            "select count(*) from odds_history where previous_outcomes is not null and outcomes = previous_outcomes"
        )
        per_quote = await conn.fetchval(
            "select max(n) from (select count(*) n from odds_history"
            " group by sportradar_id, bookmaker, market_id, line) q"
        )
        runs = len(completed("schedule")) + len(completed("api"))
    finally:
        await conn.close()
    assert unchanged == 0  # a quote that did not change adds no history row
    assert per_quote <= runs
