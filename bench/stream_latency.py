"""Change on the topic -> SSE client, against a plain aiokafka consumer; and bytes per open browser.

Starts Apache Kafka (JVM), PostgreSQL, the simulator (the default world: 1,300 events on all three
bookmakers, default latencies and ticks) and one worker; fills the board with a first full cycle;
then, ``--repeats`` times, runs a full scrape cycle while three clients watch it:

- ``GET /odds/stream`` (one SSE client, no cursor: live only): for each ``OddsChanged`` the time
  from its record's timestamp (CreateTime, stamped by the worker's producer as it sends) to the
  message being read, and every byte the stream sent;
- the baseline, in the same run: a plain aiokafka consumer (every partition assigned, at the end)
  reading the same records, timed the same way;
- the old dashboard: the whole list (``GET /odds/events``, every page of 100) every 4 s, its body
  bytes; and, for comparison, one page of the default size every 4 s (the paged dashboard), against
  a second SSE client following only that page's events (``?sportradar_id=`` x 50).

Prints p50/p99 of both latencies, their ratio, and bytes per minute of the stream and of polling
(per cycle, then medians of the repeats); writes ``bench/results/stream_latency.json``.

    .venv/bin/python -m bench.stream_latency [--events 1300] [--repeats 3] [--latency default] [--tick 60]
    .venv/bin/python -m bench.stream_latency --events 100 --repeats 1 --latency 0 --tick 2   # smoke, ~1 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer

from oddstream.runtime.kafka_jvm import start_kafka
from oddstream.runtime.postgres import start_postgres
from oddstream.runtime.procs import ManagedProcess, free_port, wait_for_tcp
from streams.ends import topic_partitions
from streams.settings import Settings

POLL_EVERY_S = 4.0  # agents/static/dashboard.js EVENTS_EVERY_MS before the stream


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _wait(session: aiohttp.ClientSession, url: str, pred: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            async with session.get(url) as resp:
                if resp.status == 200:
                    body = await resp.json()
                    if pred(body):
                        return body
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    raise TimeoutError(url)


async def _cycle(session: aiohttp.ClientSession, base: str) -> float:
    """One full scrape, to completion; its seconds."""
    t0 = time.monotonic()
    async with session.post(f"{base}/scrape", json={}) as resp:
        run = str((await resp.json())["run_id"])
    await _wait(session, f"{base}/runs/{run}", lambda b: b.get("status") in ("completed", "failed"), 600)
    return time.monotonic() - t0


async def _baseline(settings: Settings, seen: dict[str, tuple[int, float]], stop: asyncio.Event) -> None:
    """A plain aiokafka consumer at the end of every partition: event_id -> (record ms, read at)."""
    tps = await topic_partitions(settings, [settings.topic("odds.changes")])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        while not stop.is_set():
            for messages in (await consumer.getmany(timeout_ms=200)).values():
                now = time.time()
                for msg in messages:
                    seen[json.loads(msg.value)["event_id"]] = (msg.timestamp, now)
    finally:
        await consumer.stop()


async def _sse(
    session: aiohttp.ClientSession,
    base: str,
    seen: dict[str, float],
    tally: dict[str, int],
    ready: asyncio.Event,
    only: list[str] | None = None,
) -> None:
    """One live SSE client (of ``only`` these events when given): event_id -> read at; every byte."""
    params = [("sportradar_id", sr) for sr in only or []]
    async with session.get(f"{base}/odds/stream", params=params, timeout=aiohttp.ClientTimeout(total=None)) as resp:
        resp.raise_for_status()
        ready.set()
        pending = b""
        async for chunk in resp.content.iter_any():  # lines may be longer than readline's limit
            now = time.time()
            tally["bytes"] += len(chunk)
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if line.startswith(b"data: "):
                    seen[json.loads(line[6:])["event_id"]] = now
                    tally["messages"] += 1


async def _poll(session: aiohttp.ClientSession, base: str, tally: dict[str, int], *, whole: bool) -> None:
    """A polling dashboard, every 4 s: the whole board (every page of 100: what the dashboard
    downloaded before the list had pages), or one page of the default size (the paged dashboard)."""
    while True:
        started = time.monotonic()
        page, pages = 1, 1
        while page <= pages:
            query = f"?page={page}&page_size=100" if whole else ""
            async with session.get(f"{base}/odds/events{query}") as resp:
                body = await resp.read()
            tally["bytes"] += len(body)
            tally["requests"] += 1
            if whole and page == 1:
                pages = -(-int(json.loads(body)["count"]) // 100)
            page += 1
        await asyncio.sleep(max(0.0, POLL_EVERY_S - (time.monotonic() - started)))


async def _one(session: aiohttp.ClientSession, settings: Settings, base: str) -> dict[str, Any]:
    on_topic: dict[str, tuple[int, float]] = {}
    by_sse: dict[str, float] = {}
    sse_tally = {"bytes": 0, "messages": 0}
    poll_tally = {"bytes": 0, "requests": 0}
    page_tally = {"bytes": 0, "requests": 0}
    page_tally_sse = {"bytes": 0, "messages": 0}
    stop, ready, page_ready = asyncio.Event(), asyncio.Event(), asyncio.Event()
    async with session.get(f"{base}/odds/events") as resp:  # the first page, as a paged dashboard shows it
        first_page = [e["sportradar_id"] for e in (await resp.json())["events"]]
    baseline = asyncio.create_task(_baseline(settings, on_topic, stop))
    sse = asyncio.create_task(_sse(session, base, by_sse, sse_tally, ready))
    page_sse = asyncio.create_task(_sse(session, base, {}, page_tally_sse, page_ready, only=first_page))
    await asyncio.wait_for(asyncio.gather(ready.wait(), page_ready.wait()), 30)
    await asyncio.sleep(2)  # both readers at the end before the cycle starts
    pollers = [
        asyncio.create_task(_poll(session, base, poll_tally, whole=True)),
        asyncio.create_task(_poll(session, base, page_tally, whole=False)),
    ]
    t0 = time.monotonic()
    cycle_s = await _cycle(session, base)
    # the last changes drain: the baseline settles, then the stream has all it saw (or 30 s pass)
    settled, deadline = -1, time.monotonic() + 30
    while time.monotonic() < deadline and (len(on_topic) != settled or not set(on_topic) <= set(by_sse)):
        settled = len(on_topic)
        await asyncio.sleep(1)
    window_s = time.monotonic() - t0
    for task in (*pollers, sse, page_sse):
        task.cancel()
    stop.set()
    await asyncio.gather(baseline, sse, page_sse, *pollers, return_exceptions=True)
    base_ms = [(read - ts / 1000) * 1000 for ts, read in on_topic.values()]
    sse_ms = [(by_sse[eid] - ts / 1000) * 1000 for eid, (ts, _) in on_topic.items() if eid in by_sse]
    if not sse_ms or not base_ms:
        raise RuntimeError(f"no change reached a reader ({len(on_topic)} on the topic): do prices move (--tick)?")
    minutes = window_s / 60
    return {
        "cycle_s": round(cycle_s, 1),
        "changes_on_topic": len(on_topic),
        "changes_by_sse": len(by_sse),
        "missing_from_sse": len(set(on_topic) - set(by_sse)),
        "sse_p50_ms": round(statistics.median(sse_ms), 1),
        "sse_p99_ms": round(_pct(sse_ms, 0.99), 1),
        "sse_max_ms": round(max(sse_ms), 1),
        "baseline_p50_ms": round(statistics.median(base_ms), 1),
        "baseline_p99_ms": round(_pct(base_ms, 0.99), 1),
        "baseline_max_ms": round(max(base_ms), 1),
        "sse_bytes_per_min": round(sse_tally["bytes"] / minutes),
        "poll_bytes_per_min": round(poll_tally["bytes"] / minutes),
        "poll_requests": poll_tally["requests"],
        "page_poll_bytes_per_min": round(page_tally["bytes"] / minutes),
        "page_sse_bytes_per_min": round(page_tally_sse["bytes"] / minutes),
        "page_sse_changes": page_tally_sse["messages"],
    }


async def _measure(settings: Settings, base: str, n_events: int, repeats: int) -> dict[str, Any]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        await _wait(session, f"{base}/health", lambda b: b.get("status") == "ok", 120)
        fill_s = await _cycle(session, base)  # the first cycle: every board is new
        await _wait(session, f"{base}/odds/events", lambda b: b["count"] >= n_events, 120)
        runs = []
        for i in range(repeats):
            run = await _one(session, settings, base)
            print(f"cycle {i + 1}: {json.dumps(run)}", flush=True)
            runs.append(run)
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    return {
        "fill_cycle_s": round(fill_s, 1),
        "runs": runs,
        "median": med,
        "ratio_sse_to_baseline_p50": round(med["sse_p50_ms"] / max(med["baseline_p50_ms"], 0.1), 2),
        "ratio_poll_to_sse_bytes": round(med["poll_bytes_per_min"] / max(med["sse_bytes_per_min"], 1), 1),
        "ratio_page_poll_to_sse_bytes": round(med["page_poll_bytes_per_min"] / max(med["sse_bytes_per_min"], 1), 2),
        "ratio_page_poll_to_page_sse_bytes": round(
            med["page_poll_bytes_per_min"] / max(med["page_sse_bytes_per_min"], 1), 1
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--latency", default="default", help="ODDSTREAM_SIMULATOR_LATENCY for the simulator")
    parser.add_argument("--tick", default="60", help="ODDSTREAM_SIMULATOR_TICK_S: how often prices move")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data) after a good run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oddstream-bench-"))
    finished = False
    kafka = start_kafka(work / "kafka")
    db = start_postgres(work / "pg")
    procs: list[ManagedProcess] = []
    try:
        port, web = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
        sim = ManagedProcess(
            [sys.executable, "-m", "oddstream.cli", "simulate", "--port", str(port), "--events", str(args.events)],
            log_path=work / "sim.log",
            env={**env, "ODDSTREAM_SIMULATOR_LATENCY": args.latency, "ODDSTREAM_SIMULATOR_TICK_S": args.tick},
        )
        procs.append(sim)
        wait_for_tcp("127.0.0.1", port, 30, sim)
        sim_url = f"http://127.0.0.1:{port}"
        settings = Settings.from_env(
            {
                "ODDSTREAM_KAFKA_URL": kafka.url,
                "ODDSTREAM_DATABASE_URL": db.url,
                "ODDSTREAM_DATA_DIR": str(work / "data"),
                "ODDSTREAM_WEB_PORT": str(web),
                "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
                "ODDSTREAM_BETPAWA_URL": sim_url,
                "ODDSTREAM_SPORTYBET_URL": sim_url,
                "ODDSTREAM_BET9JA_URL": sim_url,
                "ODDSTREAM_LOG_LEVEL": "WARNING",
            }
        )
        worker = ManagedProcess(
            [sys.executable, "-m", "oddstream.cli", "worker"],
            log_path=work / "worker.log",
            env={**env, **settings.to_child_env()},
        )
        procs.append(worker)
        base = f"http://127.0.0.1:{web}"
        result = asyncio.run(_measure(settings, base, args.events, args.repeats))
        result["setup"] = {
            "events": args.events,
            "repeats": args.repeats,
            "latency": args.latency,
            "tick_s": args.tick,
            "broker": f"apache-kafka {kafka.version}",
        }
        print(json.dumps(result, indent=2))
        out = Path(__file__).parent / "results" / "stream_latency.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        finished = True
        return 0
    finally:
        for p in reversed(procs):
            p.stop(20)
        db.stop()
        kafka.stop()
        if finished and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work dir kept: {work}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
