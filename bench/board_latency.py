"""Latency of the live board's views while the pipeline ingests, and produce-to-served time.

Starts Apache Kafka (JVM), PostgreSQL, the simulator (zero latency) and one worker; fills the
board with a first full cycle; then, while a second full cycle is ingested, requests
``/odds/events`` (its first page), a page of the list (``page_size=100``, every page in turn, sorted
by kickoff or tournament, alternately filtered by country), and ``/odds/events/{id}`` back to back
and records their latency. In the same run ``GET /health`` (a view that reads no table) is measured as
the baseline, and the time from producing an ``OddsObserved`` to its price being served by
``/odds/events/{id}`` is sampled. ``--repeats`` measurement rounds (each while a new full cycle is
ingested) give each figure as the median of the rounds.

    .venv/bin/python -m bench.board_latency [--events 1300] [--samples 400] [--repeats 3]
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
from aiokafka import AIOKafkaProducer

from oddstream.runtime.kafka_jvm import start_kafka
from oddstream.runtime.postgres import start_postgres
from oddstream.runtime.procs import ManagedProcess, free_port, wait_for_tcp
from streams.clock import utc_now
from streams.events import OddsObserved, encode
from streams.settings import Settings


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, Any]:
    t0 = time.perf_counter()
    async with session.get(url) as resp:
        body = await resp.read()
        resp.raise_for_status()
    return (time.perf_counter() - t0) * 1000, body


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
        await asyncio.sleep(0.2)
    raise TimeoutError(url)


async def _scrape(session: aiohttp.ClientSession, base: str) -> str:
    async with session.post(f"{base}/scrape", json={}) as resp:
        return str((await resp.json())["run_id"])


def _page_urls(base: str, count: int) -> list[str]:
    """Every page of 100 of the list, sorted both ways, and a country-filtered page: the URLs a trader
    paging through the board asks for."""
    pages = max(1, -(-count // 100))
    urls = [f"{base}/odds/events?page={p}&page_size=100" for p in range(1, pages + 1)]
    urls += [f"{base}/odds/events?page={p}&page_size=100&sort=tournament" for p in range(1, pages + 1)]
    urls.append(f"{base}/odds/events?country=England&page_size=100")
    return urls


async def _round(session: aiohttp.ClientSession, base: str, ids: list[str], pages: list[str], samples: int) -> Any:
    results: dict[str, list[float]] = {"health": [], "list": [], "list_page": [], "detail": []}
    run = await _scrape(session, base)  # a full cycle is ingested while we measure
    t_ingest = time.monotonic()
    i = 0
    running = True
    # at least ``samples`` of each, and on until the cycle is ingested, so the whole ingest is measured
    while i < samples or (running and i < samples * 20):
        for name, url in (
            ("health", f"{base}/health"),
            ("list", f"{base}/odds/events"),
            # a URL of its own each time: never an answer from the 0.5 s response cache
            ("list_page", f"{pages[i % len(pages)]}&n={i}"),
            ("detail", f"{base}/odds/events/{ids[i % len(ids)]}"),
        ):
            ms, _ = await _timed_get(session, url)
            results[name].append(ms)
        i += 1
        if i % 25 == 0:
            async with session.get(f"{base}/runs/{run}") as resp:
                running = (await resp.json()).get("status") not in ("completed", "failed", "stale")
    measured_s = time.monotonic() - t_ingest
    await _wait(session, f"{base}/runs/{run}", lambda b: b.get("status") in ("completed", "failed", "stale"), 300)
    status = (await (await session.get(f"{base}/runs/{run}")).json())["status"]
    return results, round(measured_s, 1), status


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 2), "p99_ms": round(_pct(values, 0.99), 2)}


async def _measure(settings: Settings, base: str, n_events: int, samples: int, repeats: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        await _wait(session, f"{base}/health", lambda b: b.get("status") == "ok", 120)
        run = await _scrape(session, base)
        await _wait(session, f"{base}/runs/{run}", lambda b: b.get("status") == "completed", 300)
        first = await _wait(session, f"{base}/odds/events?page_size=100", lambda b: b["count"] >= n_events, 120)
        ids = [e["sportradar_id"] for e in first["events"]]
        pages = _page_urls(base, first["count"])

        rounds: list[dict[str, dict[str, float]]] = []
        ingest: list[dict[str, Any]] = []
        for _ in range(repeats):
            results, measured_s, status = await _round(session, base, ids, pages, samples)
            rounds.append({name: _summary(v) for name, v in results.items()})
            ingest.append({"seconds": measured_s, "samples": len(results["health"]), "run_status_after": status})

        # produce -> served: a hand-made observation of a known event with a unique price
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=0)
        await producer.start()
        served: list[float] = []
        try:
            for i in range(60):
                price = round(10 + i / 100 + 0.001, 3)
                now = utc_now()
                ev = OddsObserved(
                    run_id="bench",
                    bookmaker="sportybet",
                    sportradar_id=ids[0],
                    bookmaker_event_id=f"sr:match:{ids[0]}",
                    home_team="H",
                    away_team="A",
                    tournament="T",
                    kickoff_at=now,
                    observed_at=now,
                    markets=[
                        {
                            "market_id": "3743",
                            "market_name": "1X2",
                            "line": None,
                            "outcomes": [
                                {"name": "1", "price": price, "suspended": False},
                                {"name": "X", "price": 3.5, "suspended": False},
                                {"name": "2", "price": 4.0, "suspended": False},
                            ],
                        }
                    ],
                )
                t0 = time.perf_counter()
                await producer.send_and_wait(settings.topic("odds.observed"), encode(ev), key=ids[0].encode())
                while True:
                    async with session.get(f"{base}/odds/events/{ids[0]}") as resp:
                        body = await resp.json()
                    quote = next(m for m in body["markets"] if m["market_id"] == "3743")
                    sb = quote["bookmakers"].get("sportybet")
                    if sb and any(o["price"] == price for o in sb["outcomes"]):
                        break
                    if time.perf_counter() - t0 > 10:
                        raise TimeoutError("observation never served")
                    await asyncio.sleep(0.005)
                served.append((time.perf_counter() - t0) * 1000)
        finally:
            await producer.stop()

    def median_of(name: str, figure: str) -> float:
        return round(statistics.median(r[name][figure] for r in rounds), 2)

    out: dict[str, Any] = {
        name: {"p50_ms": median_of(name, "p50_ms"), "p99_ms": median_of(name, "p99_ms")} for name in rounds[0]
    }
    out["rounds"] = rounds
    out["produce_to_served"] = _summary(served)
    out["ingest_during_measurement"] = ingest
    base50 = out["health"]["p50_ms"]
    out["ratio_to_health_p50"] = {k: round(out[k]["p50_ms"] / base50, 1) for k in ("list", "list_page", "detail")}
    out["page_goal_met"] = out["list_page"]["p50_ms"] <= 5 and out["list_page"]["p99_ms"] <= 25
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1300)
    parser.add_argument("--samples", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3, help="measurement rounds; figures are their medians")
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
            env={**env, "ODDSTREAM_SIMULATOR_TICK_S": "2"},
        )
        procs.append(sim)
        wait_for_tcp("127.0.0.1", port, 30, sim)
        settings = Settings.from_env(
            {
                "ODDSTREAM_KAFKA_URL": kafka.url,
                "ODDSTREAM_DATABASE_URL": db.url,
                "ODDSTREAM_DATA_DIR": str(work / "data"),
                "ODDSTREAM_WEB_PORT": str(web),
                "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
                "ODDSTREAM_BETPAWA_URL": f"http://127.0.0.1:{port}",
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
        result = asyncio.run(_measure(settings, base, args.events, args.samples, args.repeats))
        result["setup"] = {
            "events": args.events,
            "samples": args.samples,
            "repeats": args.repeats,
            "broker": f"apache-kafka {kafka.version}",
        }
        print(json.dumps(result, indent=2))
        out = Path(__file__).parent / "results" / "board_latency.json"
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
