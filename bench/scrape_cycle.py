"""A full scrape cycle of the default world against the simulator, default latencies and limits.

Starts ``oddstream simulate`` as a child process (the bookmakers are remote to the scraper, so their
CPU is not the scraper's), then runs ``streams.sources.cycle.run_cycle`` in this process exactly as
the scrape agent does: every parsed board becomes an ``OddsObserved`` and is encoded to its wire
bytes (everything but the Kafka produce). Each repetition runs two scenarios:

1. ``bet9ja``  Bet9ja alone (15 in flight, 25 ms after each request): the measured floor
2. ``full``    all three bookmakers at once: the cycle

and prints, as medians, the cycle time next to the measured Bet9ja-alone floor, the computed floor
(Bet9ja events / 15 x its median latency) and the reference project's 508.6 s for 1,311 events,
with observations/s and the peak RSS of this (the scraping) process.

    .venv/bin/python -m bench.scrape_cycle [--events 1300] [--repeats 3] [--latency default]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from agents.scrape import observed_event
from oddstream.runtime.procs import ManagedProcess, free_port, wait_for_tcp
from streams.clock import utc_now
from streams.events import encode
from streams.sources.cycle import Sources, run_cycle
from streams.sources.model import ParsedEvent
from streams.sources.registry import NAMES, bookmaker
from streams.sources.simulator import parse_latency

REFERENCE_S = 508.6
REFERENCE_EVENTS = 1311
TARGET_S = 75.0
RESULTS = Path(__file__).resolve().parent / "results" / "scrape_cycle.json"


@dataclass
class Run:
    scenario: str
    seconds: float
    discovery_s: float
    observed: int
    failed: int
    bytes: int
    listed: dict[str, int]
    matched_events: int

    @property
    def per_s(self) -> float:
        return self.observed / self.seconds if self.seconds else 0.0


async def _cycle(url: str, scenario: str) -> Run:
    books = ["bet9ja"] if scenario == "bet9ja" else []
    sent = {"bytes": 0}

    async def observed(parsed: ParsedEvent) -> None:
        sent["bytes"] += len(encode(observed_event("bench", parsed, utc_now())))

    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector) as session:
        sources = Sources({bm: url for bm in NAMES}, session)
        started = time.perf_counter()
        result = await run_cycle(sources, observed, bookmakers=books)
        seconds = time.perf_counter() - started
    return Run(
        scenario=scenario,
        seconds=seconds,
        discovery_s=result.discovery_s,
        observed=result.observed,
        failed=result.failed,
        bytes=sent["bytes"],
        listed={bm: c.listed for bm, c in result.counts.items()},
        matched_events=sum(result.matched.values()),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.scrape_cycle", description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1300)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--latency", default="default", help="ODDSTREAM_SIMULATOR_LATENCY for the simulator")
    args = p.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    latency = parse_latency(args.latency)

    port = free_port()
    env = {**os.environ, "ODDSTREAM_SIMULATOR_LATENCY": args.latency, "ODDSTREAM_SIMULATOR_FAULTS": ""}
    env["ODDSTREAM_LOG_LEVEL"] = "WARNING"
    log_dir = Path(os.environ.get("TMPDIR", "/tmp"))
    sim = ManagedProcess(
        [sys.executable, "-m", "oddstream.cli", "simulate", "--port", str(port), "--events", str(args.events)],
        log_path=log_dir / f"bench-scrape-simulator-{port}.log",
        name="simulator",
        env=env,
    )
    runs: list[Run] = []
    try:
        wait_for_tcp("127.0.0.1", port, 60.0, sim)
        url = f"http://127.0.0.1:{port}"
        for i in range(args.repeats):
            for scenario in ("bet9ja", "full"):
                run = asyncio.run(_cycle(url, scenario))
                runs.append(run)
                print(
                    f"[{i + 1}/{args.repeats}] {scenario:6} {run.seconds:7.1f} s  discovery {run.discovery_s:4.1f} s  "
                    f"observed {run.observed:5}  failed {run.failed}  listed {run.listed}  "
                    f"{run.per_s:6.1f} obs/s",
                    flush=True,
                )
    finally:
        sim.stop(10.0)

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    full = [r for r in runs if r.scenario == "full"]
    alone = [r for r in runs if r.scenario == "bet9ja"]
    cycle_s = statistics.median(r.seconds for r in full)
    alone_s = statistics.median(r.seconds for r in alone)
    per_s = statistics.median(r.per_s for r in full)
    last = full[-1]
    bet9ja_events = last.listed.get("bet9ja", 0)
    b9 = latency["bet9ja"]
    bet9ja_in_flight = bookmaker("bet9ja").in_flight
    floor_s = bet9ja_events / bet9ja_in_flight * b9.median_ms / 1000
    ref_per_event = REFERENCE_S / REFERENCE_EVENTS
    ours_per_event = cycle_s / last.matched_events if last.matched_events else float("nan")
    print()
    print(f"world: {args.events} BetPawa events; {last.matched_events} matched events; listed {last.listed}")
    print(f"observations per cycle: {last.observed} ({last.bytes / max(last.observed, 1) / 1024:.1f} KiB each)")
    print(f"full cycle, median of {len(full)}:          {cycle_s:7.1f} s   (target <= {TARGET_S:.0f} s)")
    print(f"Bet9ja alone, median (measured floor): {alone_s:7.1f} s   cycle / Bet9ja alone = {cycle_s / alone_s:.2f}")
    if floor_s:
        print(
            f"Bet9ja floor, computed:                {floor_s:7.1f} s   "
            f"({bet9ja_events} events / {bet9ja_in_flight} x {b9.median_ms:.0f} ms)  "
            f"cycle / floor = {cycle_s / floor_s:.2f}"
        )
    else:
        print("Bet9ja floor, computed: n/a (no latency)")
    print(
        f"reference project:                     {REFERENCE_S:7.1f} s   for {REFERENCE_EVENTS} events  "
        f"({ref_per_event * 1000:.0f} ms/event vs {ours_per_event * 1000:.0f} ms/event here: "
        f"{ref_per_event / ours_per_event:.1f}x faster)"
    )
    print(f"observations/s, median:                {per_s:7.1f}")
    print(f"peak RSS of the scraping process:      {peak_rss_mb:7.0f} MB")
    RESULTS.parent.mkdir(exist_ok=True)
    summary: dict[str, Any] = {
        "events": args.events,
        "latency": args.latency,
        "runs": [asdict(r) | {"per_s": r.per_s} for r in runs],
        "median_cycle_s": cycle_s,
        "median_bet9ja_alone_s": alone_s,
        "bet9ja_floor_s": floor_s,
        "observations_per_s": per_s,
        "peak_rss_mb": peak_rss_mb,
        "reference_s": REFERENCE_S,
        "reference_events": REFERENCE_EVENTS,
    }
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if cycle_s <= TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
