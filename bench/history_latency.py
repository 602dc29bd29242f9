"""Line movement on 14 days of stored history: one market's history and the board of one event at T.

Starts an embedded PostgreSQL, migrates it, and writes a generated history straight into
``odds_history`` (daily partitions, the live schema and indexes) and ``sport_events``: ``--events``
events x 3 bookmakers x ``--quotes`` quotes per board (1X2, Double Chance, BTTS, over/under and
handicap lines), each board re-priced at ``--moves`` moments over ``--days`` days, most of them near
kickoff, about a third of its quotes changing each time and a few withdrawn for a while. Then, in
``--repeats`` rounds of ``--samples`` random requests each, it times what the routes do below HTTP:

- **history**: ``HistoryReader.rows`` + ``confirmations`` + ``streams.history.history_body`` for one
  market and line of one event (what ``GET /odds/events/{id}/history`` runs), against a plain indexed
  ``SELECT`` of the same rows over asyncpg (the baseline);
- **board at T**: ``HistoryReader.boards_at`` + ``agents.board_view.event_detail`` at a random moment
  (what ``GET /odds/events/{id}?at=T`` runs), against a plain ``SELECT`` of the event's rows up to T.

It prints p50 / p99 per round and their medians, the ratios to the baselines, and the storage:
bytes per history row with its indexes (``pg_total_relation_size`` of every partition).
Targets (issue 19): history p50 <= 20 ms, p99 <= 100 ms; board at T <= 50 ms (p50); <= 250 bytes a row.

    .venv/bin/python -m bench.history_latency [--events 1300] [--quotes 140] [--moves 40] [--days 14]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from agents.board_view import event_detail
from oddstream.runtime.postgres import start_postgres
from projections.history import HistoryReader
from projections.migrate import upgrade
from projections.rows import HISTORY_COLUMNS
from projections.schema import partition_ddl
from projections.writer import make_engine
from streams.history import HistoryQuery, history_body
from streams.sources.registry import NAMES

_MARKETS: list[tuple[str, tuple[str, ...], list[float | None]]] = [
    ("1x2_ft", ("1", "X", "2"), [None]),
    ("double_chance_ft", ("1X", "12", "X2"), [None]),
    ("btts_ft", ("Yes", "No"), [None]),
    ("1x2_1h", ("1", "X", "2"), [None]),
    ("over_under_ft", ("Over", "Under"), [0.5, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5]),
    ("over_under_1h", ("Over", "Under"), [0.5, 1.5, 2.5, 3.5]),
    ("asian_handicap_ft", ("1", "2"), [-2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5]),
    ("european_handicap_ft", ("1", "X", "2"), [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0]),
    ("home_total_ft", ("Over", "Under"), [0.5, 1.5, 2.5, 3.5]),
    ("away_total_ft", ("Over", "Under"), [0.5, 1.5, 2.5, 3.5]),
]


def _quotes(n: int) -> list[tuple[str, tuple[str, ...], float | None]]:
    """``n`` (market, outcomes, line), cycling the markets' lines (and then period copies) to reach n."""
    base = [(m, outs, line) for m, outs, lines in _MARKETS for line in lines]
    out = []
    for i in range(n):
        m, outs, line = base[i % len(base)]
        copy = i // len(base)
        out.append((m if copy == 0 else f"{m}_{copy}", outs, line))
    return out


def _prices(rng: random.Random, names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": n, "price": round(rng.uniform(1.05, 12.0), 2), "suspended": False} for n in names]


def generate(
    n_events: int, n_quotes: int, moves: int, days: int, now: datetime, seed: int = 7
) -> tuple[list[Any], list[Any]]:
    """The history rows (``projections.rows.HISTORY_COLUMNS``) and the events (``sport_events``' columns)."""
    rng = random.Random(seed)
    quotes = _quotes(n_quotes)
    start = now - timedelta(days=days)
    rows: list[Any] = []
    events: list[Any] = []
    for e in range(n_events):
        sr = str(70_000_000 + e)
        kickoff = now + timedelta(hours=rng.uniform(1, 72))
        events.append(
            (sr, f"Home {e}", f"Away {e}", f"League {e % 60}", kickoff, list(NAMES), start, now, uuid.uuid4())
        )
        for bm in NAMES:
            # re-priced at ``moves`` moments, denser towards kickoff (the square of a uniform)
            span = (now - start).total_seconds()
            moments = sorted(start + timedelta(seconds=span * (1 - rng.random() ** 2)) for _ in range(moves))
            board: dict[int, list[dict[str, Any]]] = {}
            for k, at in enumerate(moments):
                event_id = uuid.uuid4()
                for q, (market, names, line) in enumerate(quotes):
                    before = board.get(q)
                    if before is not None and rng.random() > 0.33:
                        continue
                    if before is not None and before and rng.random() < 0.02:
                        now_out: list[dict[str, Any]] = []  # withdrawn for a while
                    else:
                        now_out = _prices(rng, names)
                    if before is None and k > 0 and rng.random() < 0.5:
                        continue  # listed later
                    rows.append(
                        (
                            event_id,
                            market,
                            line,
                            sr,
                            bm,
                            json.dumps(now_out),
                            None if before is None else json.dumps(before),
                            at,
                            event_id,
                        )
                    )
                    board[q] = now_out
    return rows, events


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(values), 2), "p99_ms": round(_pct(values, 0.99), 2)}


_PLAIN_MARKET = (
    "SELECT bookmaker, outcomes, previous_outcomes, observed_at FROM odds_history"
    " WHERE sportradar_id = $1 AND market_id = $2 AND line IS NOT DISTINCT FROM $3::numeric"
)
_PLAIN_EVENT = (
    "SELECT bookmaker, market_id, line, outcomes, observed_at FROM odds_history"
    " WHERE sportradar_id = $1 AND observed_at <= $2"
)


async def _measure(args: argparse.Namespace, dsn: str, url: str) -> dict[str, Any]:
    now = datetime.now(UTC).replace(microsecond=0)
    engine = make_engine(url)
    await upgrade(engine)
    conn = await asyncpg.connect(dsn)
    t0 = time.perf_counter()
    rows, events = generate(args.events, args.quotes, args.moves, args.days, now)
    generated_s = time.perf_counter() - t0
    for d in range(args.days + 2):
        await conn.execute(partition_ddl((now - timedelta(days=d)).date()))
    t0 = time.perf_counter()
    await conn.copy_records_to_table("odds_history", records=rows, columns=list(HISTORY_COLUMNS))
    ev_cols = [
        "sportradar_id",
        "home_team",
        "away_team",
        "tournament",
        "kickoff_at",
        "bookmakers",
        "first_observed_at",
        "last_observed_at",
        "last_event_id",
    ]
    await conn.copy_records_to_table("sport_events", records=events, columns=ev_cols)
    await conn.execute("ANALYZE odds_history; ANALYZE sport_events")
    loaded_s = time.perf_counter() - t0
    size = await conn.fetchval(
        "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits WHERE inhparent = 'odds_history'::regclass"
    )
    size = int(size)
    n_rows = len(rows)
    keys = sorted({(r[3], r[1], r[2]) for r in rows})
    del rows
    reader = HistoryReader(engine)
    rng = random.Random(11)
    rounds: list[dict[str, Any]] = []
    start = now - timedelta(days=args.days)
    for _ in range(args.repeats):
        got: dict[str, list[float]] = {"history": [], "history_plain": [], "board_at": [], "board_at_plain": []}
        points = 0
        for _ in range(args.samples):
            sr, market, line = rng.choice(keys)
            q = HistoryQuery(market, line, (), None, None, False)
            t = time.perf_counter()
            body = history_body(sr, q, await reader.rows(sr, q), await reader.confirmations(sr))
            got["history"].append((time.perf_counter() - t) * 1000)
            points += sum(len(s["points"]) for s in body["series"])
            t = time.perf_counter()
            await conn.fetch(_PLAIN_MARKET, sr, market, line)
            got["history_plain"].append((time.perf_counter() - t) * 1000)
            at = start + timedelta(seconds=rng.uniform(0, (now - start).total_seconds()))
            t = time.perf_counter()
            found = await reader.boards_at(sr, at)
            if found is not None:
                event_detail(sr, found[0], found[1], at)
            got["board_at"].append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await conn.fetch(_PLAIN_EVENT, sr, at)
            got["board_at_plain"].append((time.perf_counter() - t) * 1000)
        rounds.append(
            {k: _summary(v) for k, v in got.items()} | {"points_per_history": round(points / args.samples, 1)}
        )
    await conn.close()
    await engine.dispose()

    def med(name: str, field: str) -> float:
        return round(statistics.median(r[name][field] for r in rounds), 2)

    result = {
        name: {"p50_ms": med(name, "p50_ms"), "p99_ms": med(name, "p99_ms")}
        for name in rounds[0]
        if name != "points_per_history"
    }
    return {
        **result,
        "ratio_to_plain_p50": {
            "history": round(result["history"]["p50_ms"] / result["history_plain"]["p50_ms"], 2),
            "board_at": round(result["board_at"]["p50_ms"] / result["board_at_plain"]["p50_ms"], 2),
        },
        "storage": {"rows": n_rows, "bytes": int(size), "bytes_per_row": round(size / n_rows, 1)},
        "targets_met": {
            "history": result["history"]["p50_ms"] <= 20 and result["history"]["p99_ms"] <= 100,
            "board_at": result["board_at"]["p50_ms"] <= 50,
            "bytes_per_row": size / n_rows <= 250,
        },
        "rounds": rounds,
        "setup": {
            "events": args.events,
            "quotes_per_board": args.quotes,
            "moves_per_board": args.moves,
            "days": args.days,
            "samples": args.samples,
            "repeats": args.repeats,
            "generate_s": round(generated_s, 1),
            "load_s": round(loaded_s, 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1300)
    p.add_argument("--quotes", type=int, default=140)
    p.add_argument("--moves", type=int, default=40)
    p.add_argument("--days", type=int, default=14)
    p.add_argument("--samples", type=int, default=300)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="oddstream-history-bench-"))
    db = start_postgres(work / "pg")
    ok = False
    try:
        out = asyncio.run(_measure(args, db.dsn, db.url))
        print(json.dumps(out, indent=2))
        ok = True
    finally:
        db.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
