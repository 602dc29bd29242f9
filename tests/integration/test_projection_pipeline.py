"""The projection agents in a real worker: the database dropping every connection mid-stream.

The agents retry each failed batch (one log line per attempt) until it commits; the tables end up
exactly as a replay from the beginning builds them.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from projections.postgres import dsn_of
from streams.settings import Settings
from tests.integration.conftest import Processes
from tests.integration.test_replay import _caught_up, _replay, _scrape
from tests.projection_world import snapshot
from tests.projection_world import snapshot_diff as _diff

pytestmark = [pytest.mark.integration, pytest.mark.true_kafka]


async def _kill_connections(dsn: str, seconds: float) -> int:
    """Terminate every other connection to this database, again and again, for ``seconds``."""
    conn = await asyncpg.connect(dsn)
    killed = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            killed += int(
                await conn.fetchval(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity"
                    " where datname = current_database() and pid <> pg_backend_pid()"
                )
            )
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return killed


async def test_connections_killed_mid_stream_change_nothing(procs: Processes, settings: Settings) -> None:
    sim_url = procs.simulator(events=120, tick_s=1.0)
    settings = settings.with_(bookmaker_urls={"betpawa": sim_url})
    procs.settings = settings
    worker = procs.worker()
    dsn = dsn_of(settings.database_url or "")
    await _scrape(procs)
    await asyncio.sleep(1.5)
    scrape = asyncio.create_task(_scrape(procs))
    killed = await _kill_connections(dsn, 4.0)
    await scrape
    await _caught_up(settings, timeout_s=90)
    assert killed > 0
    assert "projection write failed, retrying" in worker.log_tail(100_000)
    live = await snapshot(dsn)
    assert len(live["scrape_runs"]) == 2 and all(r[1] == "completed" for r in live["scrape_runs"])
    _replay(procs)
    await _caught_up(settings)
    rebuilt = await snapshot(dsn)
    assert rebuilt == live, _diff(live, rebuilt)
