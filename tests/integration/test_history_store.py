"""The line-movement reads on a real PostgreSQL equal the history shaped from the events themselves.

A small world (every bookmaker observing every event over several cycles, some quotes moving) is
projected by the real store; then for every market and line with history, whole and in a window,
``HistoryReader`` must give what ``streams.history`` makes of the world's own ``OddsChanged``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from projections.history import HistoryReader
from projections.migrate import upgrade
from projections.postgres import PgStore, connect_pool
from streams.events import OddsChanged
from streams.history import HistoryQuery, HistoryRow, history_body
from tests.contract.test_projection_stores import project
from tests.doubles import as_records
from tests.integration.conftest import create_database, drop_database
from tests.projection_world import world

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(admin_dsn: str) -> AsyncIterator[AsyncEngine]:
    url = await create_database(admin_dsn)
    db = create_async_engine(url)
    await upgrade(db)
    pool = await connect_pool(url, size=2)
    try:
        await project(PgStore(pool), as_records(EVENTS))
        yield db
    finally:
        await pool.close()
        await db.dispose()
        await drop_database(admin_dsn, url)


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
