"""Fault injection with the full trial count: one table of fault, trials, events, lost, doubled, recovery.

Starts Apache Kafka (JVM) and an embedded PostgreSQL in a temp dir and runs the scenarios of
``tests/reliability`` (``tests.reliability.scenarios``) against real ``oddstream worker`` processes:

- SIGKILL crash trials, cycling through mid-batch, mid-commit and mid-rebalance (``--trials``);
- failover of one of two workers; PostgreSQL refusing the database for ``--outage-s``;
  Apache Kafka stopped and started again mid-ingest; hostile records on every consumed topic;
- one bookmaker hanging, answering 403 or garbage for a whole scrape run (the others' boards are
  compared with a clean run's: ``lost`` counts the missing ones; recovery is the run's duration);
- the three bookmaker parsers fed ``--mutations`` mutated real answers each (no broker; ``lost``
  counts answers that ended in neither a board nor a ``SourceError``).

Columns: ``events`` are the observations produced (parser rows: answers parsed); ``lost`` and
``doubled`` compare ``odds_history`` with the fold of what was produced (``harness.Expected``);
``wrong`` counts odds_current rows and live-board quotes unlike the fold, and history rows with
other values; ``proj`` is the projection alone (odds.changes -> odds_history, lost/doubled);
``recovery`` is the median (and max) from the fault's end to service: the killed worker ready
again, the survivor owning every partition, or the database back to everything caught up.

    .venv/bin/python -m bench.reliability [--trials 21] [--outage-s 30] [--mutations 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from oddstream.runtime.kafka_jvm import start_kafka
from oddstream.runtime.postgres import start_postgres
from tests.reliability import scenarios as sc


def _row(fault: str, outs: list[sc.Outcome]) -> dict[str, Any]:
    rec = [r for o in outs for r in o.recovery_s]
    v = [o.verdict for o in outs]
    return {
        "fault": fault,
        "trials": len(outs),
        "kills": sum(o.kills for o in outs),
        "events": sum(o.events for o in outs),
        "lost": sum(x.lost for x in v),
        "doubled": sum(x.doubled for x in v),
        "wrong": sum(x.wrong_history + x.wrong_current + x.wrong_live for x in v),
        "proj": f"{sum(x.topic_lost for x in v)}/{sum(x.topic_doubled for x in v)}",
        "clean": sum(x.clean for x in v),
        "timed_out": sum(x.timed_out for x in v),
        "recovery": "-" if not rec else f"{statistics.median(rec):.1f} s (max {max(rec):.1f})",
    }


def _fuzz_parsers(n: int, seed: int) -> list[dict[str, Any]]:
    """Each parser on ``n`` mutated real answers: accepted, rejected with a reason, or crashed."""
    from agents.scrape import observed_event
    from streams.events import InvalidEvent, OddsObserved, decode, encode
    from streams.sources.model import SourceError
    from streams.sources.registry import bookmaker
    from tests.reliability.test_hostile_parsers import FIXTURES, LISTED_SR_ID, NOW, SAMPLES, _mutate, _paths

    rng = random.Random(seed)
    leaves: list[Any] = [None, True, 0, -1, 1.5, float("nan"), "", "x", "1.00", [], {}, "2026-13-45T99:99:99"]
    rows = []
    for bm in sorted(SAMPLES):
        tally: Counter[str] = Counter()
        for _ in range(n):
            doc = json.loads((FIXTURES / rng.choice(SAMPLES[bm])).read_text())
            for _ in range(rng.randint(1, 4)):
                path = rng.choice(_paths(doc))
                how = rng.choice(["replace", "delete", "stringify", "numberify"])
                doc = _mutate(doc, path, how, rng.choice(leaves))
            try:
                parsed = bookmaker(bm).parse(doc, LISTED_SR_ID)
            except SourceError as exc:
                tally["rejected" if exc.cause.strip() else "unexplained"] += 1
                continue
            except Exception as exc:
                tally[f"crashed: {type(exc).__name__}"] += 1
                continue
            try:
                decode(encode(observed_event("fuzz", parsed, NOW)), [OddsObserved])
                tally["accepted"] += 1
            except InvalidEvent:
                tally["accepted, then invalid"] += 1
        bad = sum(v for k, v in tally.items() if k not in ("accepted", "rejected"))
        rows.append(
            {
                "fault": f"mutated {bm} answers",
                "trials": 1,
                "kills": 0,
                "events": n,
                "lost": bad,
                "doubled": 0,
                "wrong": 0,
                "proj": "-",
                "clean": int(bad == 0),
                "timed_out": 0,
                "recovery": "-",
                "detail": dict(tally),
            }
        )
    return rows


def _print(rows: list[dict[str, Any]]) -> None:
    cols = ["fault", "trials", "kills", "events", "lost", "doubled", "wrong", "proj", "clean", "recovery"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols}
    print(" | ".join(c.ljust(widths[c]) for c in cols))
    print("-+-".join("-" * widths[c] for c in cols))
    for r in rows:
        print(" | ".join(str(r[c]).ljust(widths[c]) for c in cols))


async def _run(env: sc.Env, args: argparse.Namespace) -> list[dict[str, Any]]:
    results: dict[str, list[sc.Outcome]] = {}

    async def one(key: str, coro: Any) -> None:
        started = time.monotonic()
        out = await coro
        results.setdefault(key, []).append(out)
        print(f"[{time.monotonic() - started:5.1f} s] {out}", flush=True)

    for seed in range(args.trials):
        mode = sc.CRASH_MODES[seed % len(sc.CRASH_MODES)]
        await one(f"SIGKILL {mode}", sc.crash_trial(env, seed, mode))
    for seed in range(args.failovers):
        await one("failover: 1 of 2 workers SIGKILLed", sc.failover(env, 100 + seed))
    if args.outage_s > 0:
        await one(f"PostgreSQL refused {args.outage_s:.0f} s", sc.database_outage(env, 200, seconds=args.outage_s))
    await one("Apache Kafka restarted mid-ingest", sc.broker_restart(env, 300))
    await one("hostile records on the topics", sc.hostile_records(env, 400))
    for kind, bookmaker in (("hang", "bet9ja"), ("403", "sportybet"), ("garbage", "betpawa")):
        await one(f"{bookmaker} {kind} for a whole run", sc.bad_bookmaker(env, kind, bookmaker))
    return [_row(k, v) for k, v in results.items()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--trials", type=int, default=21, help="SIGKILL trials (modes in turn)")
    ap.add_argument("--failovers", type=int, default=2)
    ap.add_argument("--outage-s", type=float, default=30.0, help="0 skips the database outage")
    ap.add_argument("--mutations", type=int, default=2000, help="mutated answers per parser")
    ap.add_argument("--out", type=Path, default=Path("bench/results/reliability.json"))
    args = ap.parse_args(argv)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="oddstream-reliability-") as tmp:
        root = Path(tmp)
        kafka = start_kafka(root / "kafka")
        db = start_postgres(root / "pg")
        try:
            env = sc.Env(kafka_url=kafka.url, admin_dsn=db.dsn, work_dir=root / "trials")
            rows = asyncio.run(_run(env, args))
        finally:
            db.stop()
            kafka.stop()
    rows += _fuzz_parsers(args.mutations, seed=7)
    print()
    print(f"Apache Kafka {kafka.version} (JVM), embedded PostgreSQL; {time.monotonic() - started:.0f} s in all")
    _print(rows)
    for r in rows:
        if "detail" in r:
            print(f"{r['fault']}: {r['detail']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0 if all(r["clean"] == r["trials"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
