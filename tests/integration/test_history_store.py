"""The line-movement reads on a real PostgreSQL equal the history shaped from the events themselves.

A small world (every bookmaker observing every event over several cycles, some quotes moving) is
projected by the real store; then for every market and line with history, whole and in a window,
``HistoryReader`` must give what ``streams.history`` makes of the world's own ``OddsChanged``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from agents.board_state import BoardBatch
from agents.board_view import event_detail
from projections.history import HistoryReader
from projections.migrate import upgrade
from projections.postgres import PgStore, connect_pool
from streams.events import BaseEvent, OddsChanged, OddsObserved, encode
from streams.history import HistoryQuery, HistoryRow, history_body
from streams.wire import read_board
from tests.contract.test_projection_stores import project
from tests.doubles import as_records
from tests.integration.conftest import create_database, drop_database
from tests.projection_world import world

pytestmark = pytest.mark.integration


@asynccontextmanager
async def _projected(admin_dsn: str, events: Sequence[BaseEvent]) -> AsyncIterator[AsyncEngine]:
    """A fresh database with ``events`` projected by the real store."""
    url = await create_database(admin_dsn)
    db = create_async_engine(url)
    await upgrade(db)
    pool = await connect_pool(url, size=2)
    try:
        await project(PgStore(pool), as_records(events))
        yield db
    finally:
        await pool.close()
        await db.dispose()
        await drop_database(admin_dsn, url)


@pytest.fixture
async def engine(admin_dsn: str) -> AsyncIterator[AsyncEngine]:
    async with _projected(admin_dsn, EVENTS) as db:
        yield db


EVENTS = world(n_events=3, cycles=6, seed=11)
CHANGES = [e for e in EVENTS if isinstance(e, OddsChanged)]


def _expected_rows(sr: str, market_id: str, line: float | None) -> list[HistoryRow]:
    return [
        HistoryRow(ev.bookmaker, ev.observed_at, c["outcomes"], c.get("previous_outcomes") or ())
        for ev in CHANGES
        if ev.sportradar_id == sr
        for c in ev.changes
        if c["market_id"] == market_id and c.get("line") == line
    ]


async def test_every_market_read_back_equals_the_events(engine: AsyncEngine) -> None:
    reader = HistoryReader(engine)
    keys = {(ev.sportradar_id, c["market_id"], c.get("line")) for ev in CHANGES for c in ev.changes}
    assert any(line is not None for _, _, line in keys) and any(line is None for _, _, line in keys)
    times = sorted({ev.observed_at for ev in CHANGES})
    since, until = times[len(times) // 3], times[2 * len(times) // 3] + timedelta(seconds=1)
    moved = 0
    for sr, market_id, line in sorted(keys, key=str):
        confirmed = await reader.confirmations(sr)
        want_rows = _expected_rows(sr, market_id, line)
        for window in ((None, None), (since, until)):
            q = HistoryQuery(market_id, line, (), *window, False)
            got = history_body(sr, q, await reader.rows(sr, q), confirmed)
            assert got == history_body(sr, q, want_rows, confirmed), (sr, market_id, line, window)
            moved += sum(len(s["points"]) > 1 for s in got["series"])
        only = HistoryQuery(market_id, line, ("bet9ja",), None, None, False)
        assert {s["bookmaker"] for s in history_body(sr, only, await reader.rows(sr, only), confirmed)["series"]} <= {
            "bet9ja"
        }
    assert moved > 0, "the world moved no price: the comparison proves little"
    listed = await reader.markets(sorted(keys)[0][0])
    assert listed and all(m["changes"] >= 1 for m in listed)
    assert await reader.known("61300000") and not await reader.known("nope")


OBSERVED = sorted((e for e in EVENTS if isinstance(e, OddsObserved)), key=lambda e: e.observed_at)


def _fold(until: datetime | None = None) -> tuple[list[dict[str, Any]], list[OddsChanged]]:
    """The live boards as the board agent folds every observation made up to ``until``, and the
    changes it derives on the way."""
    table: dict[str, Any] = {}
    changes: list[OddsChanged] = []
    for offset, obs in enumerate(OBSERVED):
        if until is not None and obs.observed_at > until:
            break
        batch = BoardBatch(table)
        batch.apply(0, offset, read_board(encode(obs)))
        table.update({key: value for key, (_, value) in batch.boards.items()})
        changes += batch.changes
    return list(table.values()), changes


@pytest.fixture
async def agent_engine(admin_dsn: str) -> AsyncIterator[AsyncEngine]:
    """A database holding the observations and the changes the board agent itself derives from them."""
    async with _projected(admin_dsn, [*OBSERVED, *_fold()[1]]) as db:
        yield db


def _prices(detail: dict[str, Any] | None) -> list[Any]:
    """What a trader reads off a detail: each market's prices, margins, changes and withdrawals per book."""
    assert detail is not None
    out = []
    for m in detail["markets"]:
        books = {
            bm: (q["outcomes"], q["margin"], q["last_changed_at"], q["unavailable_since"])
            for bm, q in m["bookmakers"].items()
        }
        out.append((m["market_id"], m["line"], m["unavailable_since"], m["best"], books))
    return out


async def test_the_board_at_a_past_moment_is_the_live_board_as_it_then_was(agent_engine: AsyncEngine) -> None:
    reader = HistoryReader(agent_engine)
    changes = _fold()[1]
    times = sorted({ev.observed_at for ev in changes})
    withdrawn_seen = compared = 0
    for at in [*times[::2], times[-1] + timedelta(minutes=1)]:  # the moment of a change, and between them
        for sr in sorted({ev.sportradar_id for ev in changes}):
            found = await reader.boards_at(sr, at)
            assert found is not None
            boards, confirmed = found
            past = event_detail(sr, boards, confirmed, at)
            live = event_detail(sr, _fold(at)[0], {}, at)
            if live is None:  # not yet observed by any book
                assert past is None and boards == [], (sr, at)
                continue
            assert _prices(past) == _prices(live), (sr, at)
            assert past is not None and past["summary"] == live["summary"], (sr, at)
            compared += 1
            withdrawn_seen += sum(m["unavailable_since"] is not None for m in past["markets"])
    assert compared > 10 and withdrawn_seen > 0, "too little compared, or nothing withdrawn: it proves little"
    before = await reader.boards_at(sorted({ev.sportradar_id for ev in CHANGES})[0], times[0] - timedelta(days=1))
    assert before == ([], {})
    assert await reader.boards_at("nope", times[-1]) is None
