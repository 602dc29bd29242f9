"""Projection throughput: a cold start and three steady cycles through the board and the projection,
against the raw ceiling of this machine, plus a replay of the whole history and the storage cost.

Starts Apache Kafka (JVM), PostgreSQL and two workers (``--workers``; one per core here). Produces
the first cycle of the default world (1,300 events x 3 bookmakers = 3,900 boards of ~170 quotes,
every quote new: ~660,000 history rows) as ``OddsObserved``, then three steady cycles (~5% of
quotes changed). For each cycle it reports the history rows per second from the first observation
produced to the last row committed, and the time from the last ``OddsObserved`` produced to the
last row committed. In the same run:
the raw ceiling (aiokafka consuming ``odds.changes`` + asyncpg COPY of the same rows into a bare
table, no framework), ``oddstream replay`` of the whole history, and the bytes per history row.

    .venv/bin/python -m bench.projection_throughput [--events 1300] [--quotes 170] [--steady 3] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from oddstream.runtime.kafka_jvm import start_kafka
from oddstream.runtime.postgres import start_postgres
from oddstream.runtime.procs import ManagedProcess, free_port
from projections.replay import replay
from projections.rows import line_value
from streams.clock import utc_now
from streams.ends import probe_ends, topic_partitions
from streams.events import OddsObserved, derive_id, encode
from streams.settings import Settings
from streams.sources.registry import NAMES

BOOKMAKERS = NAMES
CYCLE_S = 300
WORKERS = 2


def _board(rng: random.Random, quotes: int) -> list[dict[str, Any]]:
    markets = []
    for k in range(quotes):
        names = ("1", "X", "2") if k % 3 == 0 else ("Over", "Under")
        markets.append(
            {
                "market_id": str(3700 + k // 10),
                "market_name": f"m{k // 10}",
                "line": None if k % 10 == 0 else (k % 10) * 0.5,
                "outcomes": [{"name": n, "price": round(rng.uniform(1.1, 9.0), 2), "suspended": False} for n in names],
            }
        )
    return markets


def _move(rng: random.Random, board: list[dict[str, Any]], share: float) -> int:
    changed = 0
    for m in board:
        if rng.random() < share:
            o = m["outcomes"][0]
            o["price"] = round(o["price"] + 0.01 if o["price"] < 8.9 else o["price"] - 0.01, 2)
            changed += 1
    return changed


def _records(boards: dict[tuple[str, str], list[dict[str, Any]]], cycle: int) -> list[tuple[bytes, bytes]]:
    """One cycle's ``OddsObserved`` as (key, value) records, encoded before the clock starts: the
    harness must not compete with the pipeline for the CPU while it is being measured."""
    base = utc_now() + timedelta(seconds=cycle * CYCLE_S)
    run_id = derive_id("bench-run", cycle)
    out = []
    for i, ((sr, bm), markets) in enumerate(boards.items()):
        at = base + timedelta(milliseconds=i)
        ev = OddsObserved(
            event_id=derive_id("bench-observed", run_id, bm, sr),
            run_id=run_id,
            bookmaker=bm,
            sportradar_id=sr,
            bookmaker_event_id=f"{bm}:{sr}",
            home_team=f"Home {sr}",
            away_team=f"Away {sr}",
            tournament="Bench League",
            kickoff_at=base + timedelta(days=1),
            occurred_at=at,
            observed_at=at,
            markets=markets,
        )
        out.append((sr.encode(), encode(ev)))
    return out


async def _produce(settings: Settings, records: list[tuple[bytes, bytes]], pace_s: float = 0.0) -> float:
    """Produce ``records`` at once, or spread evenly over ``pace_s`` seconds as a scrape cycle
    would; returns when the broker holds the last one."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, max_batch_size=1 << 20
    )
    await producer.start()
    topic = settings.topic("odds.observed")
    try:
        start = time.monotonic()
        futures = []
        for i, (key, value) in enumerate(records):
            if pace_s and (wait := start + pace_s * i / len(records) - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            futures.append(await producer.send(topic, value, key=key))
        await asyncio.gather(*futures)
        return time.monotonic()
    finally:
        await producer.stop()


async def _history_rows(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("select count(*) from odds_history"))


async def _changes_applied(conn: asyncpg.Connection) -> int:
    """``OddsChanged`` records the projection has committed: its stored offsets (+1) summed over the
    partitions of ``odds.changes`` (a fresh topic, so each partition starts at offset 0)."""
    return int(
        await conn.fetchval(
            'SELECT coalesce(sum("offset" + 1), 0) FROM projection_progress WHERE projection = $1',
            "odds-changes",
        )
    )


async def _wait_applied(conn: asyncpg.Connection, records: int, timeout_s: float) -> float:
    """When the projection has committed ``records`` ``OddsChanged``. Polls the progress table (a few
    rows) rather than counting history: ``count(*)`` over ~700,000 rows ten times a second kept
    PostgreSQL busy on most of a core and slowed the pipeline it was measuring."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await _changes_applied(conn) >= records:
            return time.monotonic()
        await asyncio.sleep(0.1)
    raise TimeoutError(f"odds-changes applied {await _changes_applied(conn)} records, want {records}")


async def _ceiling(settings: Settings, dsn: str) -> dict[str, float]:
    """aiokafka consume of odds.changes + asyncpg COPY of the same rows into a bare table."""
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "create table ceiling_history (event_id uuid, market_id text, line numeric, sportradar_id text,"
        " bookmaker text, outcomes jsonb, previous_outcomes jsonb, observed_at timestamptz, caused_by uuid)"
    )
    tps = await topic_partitions(settings, [settings.topic("odds.changes")])
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    rows_total = 0
    try:
        consumer.assign(tps)
        begins = await consumer.beginning_offsets(tps)
        ends = await probe_ends(consumer, tps, await consumer.end_offsets(tps))
        for tp in tps:
            consumer.seek(tp, begins[tp])
        remaining = sum(ends[tp] - begins[tp] for tp in tps)
        if not remaining:
            raise RuntimeError(f"nothing to read on {tps}: {begins} {ends}")
        t0 = time.monotonic()
        while remaining > 0:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            rows = []
            for records in batches.values():
                remaining -= len(records)
                for r in records:
                    ev = json.loads(r.value)
                    for c in ev["changes"]:
                        prev = c.get("previous_outcomes")
                        rows.append(
                            (
                                ev["event_id"],
                                c["market_id"],
                                line_value(c["line"]),
                                ev["sportradar_id"],
                                ev["bookmaker"],
                                json.dumps(c["outcomes"]),
                                None if prev is None else json.dumps(prev),
                                # asyncpg wants datetimes; parsing is part of the ceiling's work
                                _dt(ev["observed_at"]),
                                ev["caused_by"],
                            )
                        )
            if rows:
                await conn.copy_records_to_table("ceiling_history", records=rows)
                rows_total += len(rows)
        seconds = time.monotonic() - t0
    finally:
        await consumer.stop()
        await conn.close()
    return {"rows": rows_total, "seconds": round(seconds, 2), "rows_per_s": round(rows_total / seconds)}


def _dt(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


async def _storage(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("vacuum analyze")
        hist_bytes = await conn.fetchval(
            "select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) from pg_inherits i"
            " where i.inhparent = 'odds_history'::regclass"
        )
        hist_rows = await _history_rows(conn)
        quotes_bytes = await conn.fetchval("select pg_total_relation_size('odds_quotes')")
        quotes_rows = await conn.fetchval("select count(*) from odds_quotes")
        avg_outcomes = await conn.fetchval(
            "select avg(pg_column_size(outcomes) + coalesce(pg_column_size(previous_outcomes), 0)) from odds_history"
        )
    finally:
        await conn.close()
    return {
        "history_rows": hist_rows,
        "history_bytes_incl_indexes": int(hist_bytes),
        "bytes_per_history_row": round(hist_bytes / max(hist_rows, 1)),
        "avg_outcomes_bytes_per_row": round(float(avg_outcomes or 0)),
        "odds_quotes_rows": int(quotes_rows),
        "odds_quotes_bytes": int(quotes_bytes),
    }


async def _run(settings: Settings, args: argparse.Namespace, worker: ManagedProcess) -> dict[str, Any]:
    assert settings.database_url
    dsn = settings.database_url.replace("postgresql+asyncpg://", "postgresql://")
    rng = random.Random(11)
    boards = {(str(60000000 + e), bm): _board(rng, args.quotes) for e in range(args.events) for bm in BOOKMAKERS}
    conn = await asyncpg.connect(dsn)
    # wait for the worker: tables migrated and the projection agents subscribed
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if not worker.is_alive():
            raise RuntimeError(worker.log_tail(40))
        if await conn.fetchval("select to_regclass('odds_history') is not null"):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(8 + 6 * (args.workers - 1))  # group join and rebalance
    cycles = []
    expected = 0
    expected_records = 0
    for cycle in range(1 + args.steady):
        if cycle == 0:
            moved = [len(b) for b in boards.values()]
        else:
            moved = [_move(rng, b, args.change) for b in boards.values()]
        changed = sum(moved)
        expected += changed
        expected_records += sum(1 for n in moved if n)  # one OddsChanged per board with a moved quote
        records = _records(boards, cycle)
        t0 = time.monotonic()
        t_last = await _produce(settings, records, args.pace)
        t_done = await _wait_applied(conn, expected_records, 600)
        rows = await _history_rows(conn)  # once, after the clock stopped
        if rows != expected:
            raise RuntimeError(f"history holds {rows} rows after cycle {cycle}, want {expected}")
        cycles.append(
            {
                "cycle": "cold" if cycle == 0 else f"steady {cycle}",
                "observations": len(boards),
                "history_rows": changed,
                "produce_s": round(t_last - t0, 2),
                "last_observed_to_last_row_s": round(t_done - t_last, 2),
                "total_s": round(t_done - t0, 2),
                "rows_per_s": round(changed / (t_done - t0)),
            }
        )
        print(json.dumps(cycles[-1]), flush=True)
        await asyncio.sleep(2)  # the observed projection (confirmations) settles
    # the ceiling starts from a clean buffer pool, as the cold start did, not from the dirty pages
    # the cycles left (with max_wal_size 4 GB no checkpoint ran since they began)
    await conn.execute("checkpoint")
    await conn.close()
    ceiling = await _ceiling(settings, dsn)
    print(json.dumps({"ceiling": ceiling}), flush=True)
    stats = await replay(settings, ["odds"])
    replayed = {
        "events_read": stats.events_read,
        "rows_written": stats.rows_written,
        "seconds": round(stats.seconds, 2),
        "events_per_s": round(stats.events_per_s),
        "rows_per_s": round(stats.rows_written / stats.seconds),
    }
    print(json.dumps({"replay": replayed}), flush=True)
    storage = await _storage(dsn)
    cold = cycles[0]
    steady_rows = sum(c["history_rows"] for c in cycles[1:]) / max(len(cycles) - 1, 1)
    per_day_rows = steady_rows * (86400 / CYCLE_S)
    return {
        "cycles": cycles,
        "ceiling": ceiling,
        "ratio_cold_to_ceiling": round(cold["rows_per_s"] / ceiling["rows_per_s"], 2),
        "replay": replayed,
        "storage": {
            **storage,
            "steady_rows_per_cycle": round(steady_rows),
            "history_rows_per_day": round(per_day_rows),
            "history_mb_per_day": round(per_day_rows * storage["bytes_per_history_row"] / 1e6),
        },
        "targets": {
            "ratio_at_least_0_5": cold["rows_per_s"] / ceiling["rows_per_s"] >= 0.5,
            "cold_within_30_s": cold["total_s"] <= 30,
            "steady_within_5_s": all(c["last_observed_to_last_row_s"] <= 5 for c in cycles[1:]),
            "replay_at_least_cold_speed": replayed["rows_per_s"] >= cold["rows_per_s"],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1300)
    parser.add_argument("--quotes", type=int, default=170)
    parser.add_argument("--steady", type=int, default=3)
    parser.add_argument("--change", type=float, default=0.05)
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="spread each cycle's observations over this many seconds (a full scrape cycle: ~56 s) instead of at once",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=WORKERS,
        help=f"oddstream workers sharing the partitions (default {WORKERS}: one per core of our machines)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work dir (logs, data) after a good run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="oddstream-bench-"))
    kafka = start_kafka(work / "kafka")
    db = start_postgres(work / "pg")
    procs: list[ManagedProcess] = []
    finished = False
    print(f"work dir: {work}", flush=True)
    try:
        settings = Settings.from_env(
            {
                "ODDSTREAM_KAFKA_URL": kafka.url,
                "ODDSTREAM_DATABASE_URL": db.url,
                "ODDSTREAM_DATA_DIR": str(work / "data"),
                "ODDSTREAM_WEB_PORT": str(free_port()),
                "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
                "ODDSTREAM_LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "WARNING"),
            }
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
        for n in range(args.workers):
            procs.append(
                ManagedProcess(
                    [sys.executable, "-m", "oddstream.cli", "worker"],
                    log_path=work / f"worker-{n}.log",
                    env={**env, **settings.with_(web_port=free_port()).to_child_env()},
                )
            )
        result = asyncio.run(_run(settings, args, procs[0]))
        if args.pace:  # the targets are for cycles produced at once, not paced ones
            result["targets"] = {"not_judged": "paced run; the targets are judged without --pace"}
        result["setup"] = {
            "events": args.events,
            "quotes_per_board": args.quotes,
            "steady_cycles": args.steady,
            "workers": args.workers,
            "change_share": args.change,
            "pace_s": args.pace,
            "broker": f"apache-kafka {kafka.version}",
            "cpus": os.cpu_count(),
        }
        print(json.dumps(result, indent=2))
        suffix = "" if args.workers == WORKERS else f"-{args.workers}-workers"
        suffix += f"-paced-{args.pace:g}s" if args.pace else ""
        out = Path(__file__).parent / "results" / f"projection_throughput{suffix}.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        finished = True
        return 0
    finally:
        for p in reversed(procs):
            p.stop(20)
        db.stop()
        kafka.stop()
        if finished and not args.keep:  # a run leaves ~3 GB of broker and database files
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"work dir kept: {work}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
