"""Per-event cost of a Faust agent on this machine, as ratios against raw aiokafka in the same run.

Starts a broker (Apache Kafka 3.9.1 on the JDK, or Tansu), pre-produces N realistic ``OddsObserved``
records (~20 quotes per board, from ``streams.sources.world``) onto one 8-partition topic, then reads
them back in five scenarios, each repeated (fresh consumer group and, for Faust, a fresh app each
time), timing from the first event processed to the N-th (group join excluded):

1. ``raw``          aiokafka consumer, ``getmany`` + count (no Faust): the broker/consumer floor
2. ``bare``         Faust agent that iterates and counts
3. ``decode``       + ``streams.events.decode(value, [OddsObserved])``
4. ``table``        + one small table write per event (``confirmed[key] = observed_at``)
5. ``board``        + ``agents.odds_rules.apply_observation`` + table write of the whole board

Prints medians (events/s, µs/event, ratio to ``raw``), writes ``bench/results/agent_cost-<broker>.json``.

    .venv/bin/python -m bench.agent_cost [--broker kafka|tansu|both] [--events 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import platform
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiokafka
import faust
import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.board_state import board_record
from agents.odds_rules import apply_observation, stored_quotes
from oddstream.runtime.procs import EmbeddedBroker
from streams.clock import format_ts
from streams.events import OddsObserved, decode, derive_id, encode
from streams.sources.registry import NAMES
from streams.sources.world import build_world
from streams.wire import ObservedBoard

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PARTITIONS = 8
BOOKMAKERS = NAMES
SCENARIOS = ("raw", "bare", "decode", "table", "board")
DESCRIPTIONS = {
    "raw": "aiokafka consumer, getmany + count (no Faust)",
    "bare": "Faust agent: iterate and count",
    "decode": "Faust agent + decode(OddsObserved)",
    "table": "Faust agent + decode + 1 small table write/event",
    "board": "Faust agent + decode + apply_observation + board table write/event",
}
log = structlog.get_logger(__name__)
_STARTED: list[EmbeddedBroker] = []  # every broker started, stopped again by main() whatever happens


# -- data --------------------------------------------------------------------------------------------


def build_records(n: int, world_events: int = 1300) -> list[tuple[bytes, bytes]]:
    """``n`` (key, value) ``OddsObserved`` records: a world's boards per bookmaker, ticking every cycle."""
    now = datetime.now(UTC).replace(microsecond=0)
    world = build_world(n_events=world_events, now=now)
    out: list[tuple[bytes, bytes]] = []
    cycle = 0
    while len(out) < n:
        observed_at = now + timedelta(minutes=5 * cycle)
        for ev in world.events:
            for bookmaker in BOOKMAKERS:
                obs = OddsObserved(
                    event_id=derive_id("bench-observed", ev.sportradar_id, bookmaker, cycle),
                    occurred_at=observed_at,
                    run_id=derive_id("bench-run", cycle),
                    bookmaker=bookmaker,
                    sportradar_id=ev.sportradar_id,
                    bookmaker_event_id=ev.betpawa_id,
                    home_team=ev.home_team,
                    away_team=ev.away_team,
                    tournament=ev.tournament,
                    kickoff_at=ev.kickoff_at,
                    observed_at=observed_at,
                    markets=[q.to_json() for q in ev.quotes],
                )
                out.append((ev.sportradar_id.encode(), encode(obs)))
                if len(out) == n:
                    return out
        cycle += 1
        world = world.tick(cycle)
    return out


async def create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        await admin.close()


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    """Produce every record (batched, acks=all); return the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, max_request_size=8 * 1024 * 1024
    )
    await producer.start()
    t0 = time.perf_counter()
    try:
        chunk = 2000
        for i in range(0, len(records), chunk):
            futures = [await producer.send(topic, value=v, key=k) for k, v in records[i : i + chunk]]
            await asyncio.gather(*futures)
        await producer.flush()
    finally:
        await producer.stop()
    return time.perf_counter() - t0


# -- timing ------------------------------------------------------------------------------------------


@dataclass
class Clock:
    """Counts processed events; records the time of the first and of the N-th."""

    n: int
    count: int = 0
    first: float = 0.0
    last: float = 0.0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def tick(self) -> None:
        self.count += 1
        if self.count == 1:
            self.first = time.perf_counter()
        if self.count == self.n:
            self.last = time.perf_counter()
            self.done.set()

    @property
    def seconds(self) -> float:
        return self.last - self.first


@dataclass
class Run:
    scenario: str
    repeat: int
    events: int
    seconds: float  # first event processed -> N-th
    join_seconds: float  # start -> first event processed
    events_per_s: float
    us_per_event: float


def _run(scenario: str, repeat: int, clock: Clock, join_s: float) -> Run:
    per_event = clock.seconds / max(clock.n - 1, 1)
    return Run(scenario, repeat, clock.n, clock.seconds, join_s, 1 / per_event, per_event * 1e6)


async def _wait(clock: Clock, timeout_s: float) -> None:
    try:
        await asyncio.wait_for(clock.done.wait(), timeout_s)
    except TimeoutError as exc:
        raise RuntimeError(f"timed out after {timeout_s:.0f} s with {clock.count}/{clock.n} events") from exc


# -- scenarios ---------------------------------------------------------------------------------------


async def run_raw(bootstrap: str, topic: str, n: int, repeat: int, timeout_s: float) -> Run:
    clock = Clock(n)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    t_start = time.perf_counter()
    await consumer.start()

    async def loop() -> None:
        while not clock.done.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                for _record in records:
                    clock.tick()

    task = asyncio.create_task(loop())
    try:
        await _wait(clock, timeout_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await consumer.stop()
    return _run("raw", repeat, clock, clock.first - t_start)


def make_app(url: str, scenario: str) -> faust.App:
    app = faust.App(
        f"bench-{scenario}-{uuid.uuid4().hex[:8]}",
        broker=url,
        store="memory://",
        web_enabled=False,
        topic_partitions=PARTITIONS,
        topic_replication_factor=1,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
        broker_rebalance_timeout=20.0,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        producer_linger=0.005,
        table_standby_replicas=0,
        worker_redirect_stdouts=False,
    )
    return app


async def run_faust(url: str, topic_name: str, scenario: str, n: int, repeat: int, timeout_s: float) -> Run:
    clock = Clock(n)
    app = make_app(url, scenario)
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
    schema: faust.Schema[str, Any] = faust.Schema(key_serializer="json", value_serializer="json")
    table = app.Table("bench-table", default=None, schema=schema, partitions=PARTITIONS)

    async def bare(stream: Any) -> None:
        async for _value in stream:
            clock.tick()

    async def decoding(stream: Any) -> None:
        async for value in stream:
            decode(value, [OddsObserved])
            clock.tick()

    async def table_write(stream: Any) -> None:
        async for value in stream:
            obs = decode(value, [OddsObserved])
            table[f"{obs.sportradar_id}:{obs.bookmaker}"] = format_ts(obs.observed_at)
            clock.tick()

    async def board(stream: Any) -> None:
        async for value in stream:
            obs = ObservedBoard.of(decode(value, [OddsObserved]))
            head = obs.head
            key = f"{head.sportradar_id}:{head.bookmaker}"
            previous = table.get(key)
            update = apply_observation(
                stored_quotes(previous["quotes"]) if previous else None, None, obs.markets, format_ts(head.observed_at)
            )
            table[key] = board_record(head, update.quotes, 0, 0)
            clock.tick()

    bodies: dict[str, Callable[[Any], Awaitable[None]]] = {
        "bare": bare,
        "decode": decoding,
        "table": table_write,
        "board": board,
    }
    app.agent(topic, name=f"bench-{scenario}")(bodies[scenario])
    t_start = time.perf_counter()
    await app.start()
    try:
        await _wait(clock, timeout_s)
    finally:
        await app.stop()
    return _run(scenario, repeat, clock, clock.first - t_start)


# -- driver ------------------------------------------------------------------------------------------


def start_broker(kind: str, work_dir: Path) -> EmbeddedBroker:
    if kind == "kafka":
        from oddstream.runtime.kafka_jvm import start_kafka

        broker = start_kafka(work_dir / "kafka")
    else:
        from oddstream.runtime.tansu import start_tansu

        broker = start_tansu(work_dir / "tansu")
    _STARTED.append(broker)
    return broker


def summarise(runs: list[Run]) -> dict[str, dict[str, float]]:
    med: dict[str, dict[str, float]] = {}
    for scenario in SCENARIOS:
        rs = [r for r in runs if r.scenario == scenario]
        if rs:
            med[scenario] = {
                "events_per_s": statistics.median(r.events_per_s for r in rs),
                "us_per_event": statistics.median(r.us_per_event for r in rs),
                "join_s": statistics.median(r.join_seconds for r in rs),
            }
    base = med.get("raw", {}).get("events_per_s")
    for m in med.values():
        m["ratio_to_raw"] = m["events_per_s"] / base if base else float("nan")
    return med


def print_table(broker: EmbeddedBroker, med: dict[str, dict[str, float]], n: int, repeats: int) -> None:
    print(f"\n{broker.kind} {broker.version}: {n} events x {repeats} repeats, medians")
    print(f"{'scenario':<8} {'events/s':>10} {'µs/event':>9} {'vs raw':>7} {'join s':>7}  what")
    for scenario, m in med.items():
        print(
            f"{scenario:<8} {m['events_per_s']:>10,.0f} {m['us_per_event']:>9.1f} {m['ratio_to_raw']:>6.2f}x "
            f"{m['join_s']:>7.1f}  {DESCRIPTIONS[scenario]}"
        )
    raw = med.get("raw")
    if raw:
        prev = raw["us_per_event"]
        steps = []
        for scenario in SCENARIOS[1:]:
            if scenario in med:
                steps.append(f"{scenario} +{med[scenario]['us_per_event'] - prev:.1f}")
                prev = med[scenario]["us_per_event"]
        print("µs/event added by each step: " + ", ".join(steps))
    sys.stdout.flush()


async def bench_broker(kind: str, n: int, repeats: int, scenarios: list[str], timeout_s: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"oddstream-agent-cost-{kind}-") as tmp:
        t0 = time.perf_counter()
        broker = start_broker(kind, Path(tmp))  # blocking on purpose: an interrupt cannot orphan it
        try:
            broker_start_s = time.perf_counter() - t0
            topic = f"bench.observed-{uuid.uuid4().hex[:8]}"
            records = await asyncio.to_thread(build_records, n)
            await create_topic(broker.bootstrap, topic)
            produce_s = await produce(broker.bootstrap, topic, records)
            mean_bytes = sum(len(v) for _, v in records) / len(records)
            print(
                f"{broker.kind} {broker.version} up in {broker_start_s:.1f} s; produced {n} records "
                f"(mean {mean_bytes:,.0f} B) in {produce_s:.1f} s ({n / produce_s:,.0f}/s)",
                flush=True,
            )
            del records
            runs: list[Run] = []
            for repeat in range(1, repeats + 1):
                for scenario in scenarios:
                    # Runs share this process: collect what the previous app left and freeze the
                    # survivors, so a later run does not pay for scanning an earlier run's heap.
                    gc.collect()
                    gc.freeze()
                    if scenario == "raw":
                        run = await run_raw(broker.bootstrap, topic, n, repeat, timeout_s)
                    else:
                        run = await run_faust(broker.url, topic, scenario, n, repeat, timeout_s)
                    runs.append(run)
                    print(
                        f"  [{repeat}/{repeats}] {scenario:<7} {run.events_per_s:>9,.0f} ev/s "
                        f"{run.us_per_event:>7.1f} µs/ev  (join {run.join_seconds:.1f} s)",
                        flush=True,
                    )
            med = summarise(runs)
            print_table(broker, med, n, repeats)
            return {
                "broker": {"kind": broker.kind, "version": broker.version, "start_s": broker_start_s},
                "events": n,
                "mean_record_bytes": mean_bytes,
                "produce_s": produce_s,
                "repeats": repeats,
                "medians": med,
                "runs": [asdict(r) for r in runs],
            }
        finally:
            broker.stop()


def versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "faust": faust.__version__,
        "aiokafka": aiokafka.__version__,
    }


async def amain(args: argparse.Namespace) -> int:
    kinds = ["kafka", "tansu"] if args.broker == "both" else [args.broker]
    v = versions()
    print(f"faust-streaming {v['faust']}, aiokafka {v['aiokafka']}, CPython {v['python']}", flush=True)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    for kind in kinds:
        t0 = time.perf_counter()
        result = await bench_broker(kind, args.events, args.repeats, args.scenarios, args.timeout)
        result["versions"] = v
        result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        result["wall_s"] = time.perf_counter() - t0
        path = RESULTS_DIR / f"agent_cost-{kind}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{kind}: {result['wall_s']:.0f} s wall; results in {path}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.agent_cost", description=__doc__)
    parser.add_argument("--broker", choices=["kafka", "tansu", "both"], default="both")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per scenario run")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    structlog.configure(
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )

    # SIGTERM behaves like Ctrl-C: unwind through the finally blocks that stop the broker.
    def _on_term(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    try:
        return asyncio.run(amain(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for broker in _STARTED:
            broker.stop()


if __name__ == "__main__":
    raise SystemExit(main())
