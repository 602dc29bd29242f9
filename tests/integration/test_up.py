"""`oddstream up` as a new user runs it: embedded broker and database, simulator, one worker."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from oddstream.runtime.procs import free_port
from tests.integration.conftest import get_json
from tests.integration.up_runs import (
    Up,
    board_count,
    board_settled,
    dsn_of,
    family_of,
    history_settled,
    projections_caught_up,
    replay_all,
    scrape_wait,
    still_running,
    up_env,
)
from tests.projection_world import snapshot, snapshot_diff

pytestmark = pytest.mark.integration

N = 80
"""BetPawa's events in the simulated world (the other books list most of them, and a few of their own)."""


async def test_up_runs_the_pipeline_keeps_it_across_a_restart_and_stops_everything(tmp_path: Path) -> None:
    """On the broker ``up`` picks here (Apache Kafka: Java is on these machines): scrape, stop,
    start again on the same data dir: the board, the runs and the tables are all there, and a
    replay from the beginning reproduces the tables."""
    env = up_env(tmp_path, free_port(), ODDSTREAM_SIMULATOR_EVENTS=str(N))
    up = Up(env, tmp_path / "up.log")
    try:
        health = await up.healthy()
        assert health["status"] == "ok"
        assert up.ready_s < 30, f"healthy only after {up.ready_s:.1f} s"
        assert "broker: Apache Kafka" in up.output(), up.output()
        family = family_of(up.proc.pid)
        assert len(still_running(family)) >= 3  # broker, database, simulator, worker (and postgres' own)

        # another command with the same data dir and no URLs finds the embedded parts
        said = await scrape_wait(env)
        # the three simulated bookmakers: BetPawa's N events, most of them on the other two as well
        done = re.search(r"completed: (\d+) observed, 0 failed", said)
        assert done and 2.5 * N < int(done.group(1)) <= 3 * N * 1.05, said

        dsn = dsn_of(tmp_path)
        total, distinct = await history_settled(dsn, int(2.5 * N * 19))  # three books, ~20 quotes each
        assert total == distinct and 2.5 * N * 19 <= total <= 3 * N * 1.05 * 20
        await projections_caught_up(tmp_path)
        before = await snapshot(dsn)
        events = await board_settled(up.port)
        assert N <= events <= N * 1.05

        assert up.stop() == 0
        time.sleep(0.5)
        assert still_running(family) == [], "processes left behind after oddstream up stopped"
        assert not (tmp_path / "data" / "runtime.json").exists()

        up = Up(env, tmp_path / "up-again.log")
        health = await up.healthy(ready=True)
        assert health["ready"], health
        restart_s = up.ready_s
        # the board recovered from its changelog: it answers at once, without a scrape
        assert board_count(up.port) == events, f"the board after a restart: {board_count(up.port)} events, not {events}"
        runs = get_json(f"http://127.0.0.1:{up.port}/runs")[1]
        assert [r["status"] for r in runs["runs"]] == ["completed"], runs
        after = await snapshot(dsn_of(tmp_path))
        assert after == before, snapshot_diff(before, after, ("before", "after"))
        assert "projections were emptied" not in up.output()

        replayed = await asyncio.to_thread(replay_all, env)
        assert replayed.returncode == 0, replayed.stderr[-2000:]
        rebuilt = await snapshot(dsn_of(tmp_path))
        assert rebuilt == before, snapshot_diff(before, rebuilt)
        print(f"up on Apache Kafka: healthy after {restart_s:.1f} s on a restart")
        family = family_of(up.proc.pid)
        assert up.stop() == 0
        time.sleep(0.5)
        assert still_running(family) == []
    finally:
        up.kill()
