"""Events and table snapshots shared by the projection and replay tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from streams.events import (
    BaseEvent,
    OddsChanged,
    OddsObserved,
    RunCompleted,
    RunHeartbeat,
    RunStarted,
    ScrapeRequested,
    derive_id,
)
from streams.sources.registry import NAMES

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
BOOKMAKERS = NAMES


def _outcomes(rng: random.Random, names: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{"name": n, "price": round(rng.uniform(1.05, 9.0), 2), "suspended": False} for n in names]


def _board(rng: random.Random) -> list[dict[str, Any]]:
    markets: list[dict[str, Any]] = [
        {"market_id": "3743", "market_name": "1X2", "line": None, "outcomes": _outcomes(rng, ("1", "X", "2"))}
    ]
    for line in (1.5, 2.5, 3.5):
        markets.append(
            {"market_id": "5000", "market_name": "O/U", "line": line, "outcomes": _outcomes(rng, ("Over", "Under"))}
        )
    return markets


def world(n_events: int = 6, cycles: int = 3, seed: int = 7) -> list[BaseEvent]:
    """A small history: per cycle, every bookmaker observes every event; a few quotes change.

    Returns observations, the changes a board would derive from them, and the run events of each
    cycle, in a plausible publishing order.
    """
    rng = random.Random(seed)
    boards: dict[tuple[str, str], dict[tuple[str, float | None], list[dict[str, Any]]]] = {}
    out: list[BaseEvent] = []
    for cycle in range(cycles):
        run_id = derive_id("run", seed, cycle)
        at = T0 + timedelta(minutes=5 * cycle)
        out.append(ScrapeRequested(event_id=derive_id("req", run_id), occurred_at=at, run_id=run_id, trigger="cli"))
        out.append(RunStarted(event_id=derive_id("start", run_id), occurred_at=at, run_id=run_id, trigger="cli"))
        for i in range(n_events):
            sr = str(61300000 + i)
            for bm in BOOKMAKERS:
                observed_at = at + timedelta(seconds=i)
                prev = boards.get((sr, bm), {})
                markets = _board(rng) if not prev else []
                if prev:
                    for (mid, line), outs in prev.items():
                        if mid == "5000" and line == 3.5 and cycle == 2 and i == 0:
                            continue  # a quote that disappears
                        new = _outcomes(rng, tuple(o["name"] for o in outs)) if rng.random() < 0.3 else outs
                        markets.append({"market_id": mid, "market_name": mid, "line": line, "outcomes": new})
                obs = OddsObserved(
                    event_id=derive_id("obs", run_id, sr, bm),
                    occurred_at=observed_at,
                    run_id=run_id,
                    bookmaker=bm,
                    sportradar_id=sr,
                    bookmaker_event_id=f"{bm}-{sr}",
                    home_team=f"Home {i}",
                    away_team=f"Away {i}",
                    tournament="Test League" if cycle < 2 else "Renamed League",
                    kickoff_at=T0 + timedelta(days=1, hours=i),
                    observed_at=observed_at,
                    markets=markets,
                )
                out.append(obs)
                now = {(m["market_id"], m["line"]): m["outcomes"] for m in markets}
                changes = [
                    {"market_id": k[0], "line": k[1], "outcomes": v, "previous_outcomes": prev.get(k)}
                    for k, v in now.items()
                    if prev.get(k) != v
                ] + [
                    {"market_id": k[0], "line": k[1], "outcomes": [], "previous_outcomes": v}
                    for k, v in prev.items()
                    if k not in now and v
                ]
                if changes:
                    out.append(
                        OddsChanged(
                            event_id=derive_id("changed", obs.event_id),
                            occurred_at=observed_at,
                            sportradar_id=sr,
                            bookmaker=bm,
                            observed_at=observed_at,
                            caused_by=obs.event_id,
                            run_id=run_id,
                            changes=changes,
                        )
                    )
                boards[(sr, bm)] = {**now, **{k: [] for k in prev if k not in now}}
            out.append(
                RunHeartbeat(
                    event_id=derive_id("hb", run_id, i),
                    occurred_at=at + timedelta(seconds=i),
                    run_id=run_id,
                    observed=i,
                )
            )
        out.append(
            RunCompleted(
                event_id=derive_id("done", run_id),
                occurred_at=at + timedelta(seconds=n_events + 1),
                run_id=run_id,
                observed=n_events * 3,
            )
        )
    return out


SNAPSHOT_QUERIES = {
    "odds_history": "SELECT event_id, market_id, line, sportradar_id, bookmaker, outcomes, previous_outcomes,"
    " observed_at, caused_by FROM odds_history ORDER BY event_id, market_id, line NULLS FIRST, observed_at",
    "odds_current": "SELECT * FROM odds_current ORDER BY bookmaker, sportradar_id, market_id, line NULLS FIRST",
    "sport_events": "SELECT * FROM sport_events ORDER BY sportradar_id",
    "scrape_runs": "SELECT run_id, status, trigger, requested_at, started_at, last_heartbeat_at, finished_at,"
    " stale_detected_at, observed, failed, errors, state FROM scrape_runs ORDER BY run_id",
}


async def snapshot(dsn: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every projection table, row by row, in key order (json compared as text from jsonb)."""
    conn = await asyncpg.connect(dsn)
    try:
        return {name: [tuple(r) for r in await conn.fetch(q)] for name, q in SNAPSHOT_QUERIES.items()}
    finally:
        await conn.close()


def snapshot_diff(a: dict[str, list[Any]], b: dict[str, list[Any]], names: tuple[str, str] = ("live", "replay")) -> str:
    """The rows only one side has, per table (a readable failure message)."""
    lines = []
    for table in a:
        only_a = {repr(r) for r in a[table]} - {repr(r) for r in b[table]}
        only_b = {repr(r) for r in b[table]} - {repr(r) for r in a[table]}
        for row in sorted(only_a)[:3]:
            lines.append(f"{table} {names[0]} only: {row}")
        for row in sorted(only_b)[:3]:
            lines.append(f"{table} {names[1]} only: {row}")
        if only_a or only_b:
            lines.append(f"{table}: {len(only_a)} {names[0]}-only rows, {len(only_b)} {names[1]}-only rows")
    return "\n".join(lines)
