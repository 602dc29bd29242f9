"""`oddstream up` as a new user runs it: embedded broker and database, simulator, one worker.

On Tansu (forced: the machines have Java), in a file of its own so it runs beside the Kafka case.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from oddstream.runtime.procs import free_port
from tests.integration.up_runs import (
    Up,
    dsn_of,
    history_settled,
    scrape_wait,
    up_env,
)
from tests.projection_world import snapshot

pytestmark = pytest.mark.integration


async def test_up_on_tansu_warns_and_starts_the_projections_again_after_a_restart(tmp_path: Path) -> None:
    """Without Java (forced here): Tansu, with the warning; after a restart its topics are empty,
    so the projections kept in the database start again with them (a replay on Tansu is equal:
    tests/integration/test_replay_brokers.py)."""
    env = up_env(tmp_path, free_port(), ODDSTREAM_EMBEDDED_BROKER="tansu", ODDSTREAM_SIMULATOR_EVENTS="10")
    up = Up(env, tmp_path / "up.log")
    try:
        await up.healthy()
        out = up.output()
        assert "broker: Tansu" in out and "warning: Tansu keeps its topics in memory only" in out, out
        await scrape_wait(env)
        dsn = dsn_of(tmp_path)
        total, _ = await history_settled(dsn, 10 * 19)
        assert total >= 10 * 19
        assert up.stop() == 0

        up = Up(env, tmp_path / "up-again.log")
        await up.healthy()
        assert "the projections were emptied to start again with the log" in up.output(), up.output()
        assert (await snapshot(dsn_of(tmp_path)))["odds_history"] == []
        await scrape_wait(env)
        total, _ = await history_settled(dsn_of(tmp_path), 10 * 19)
        assert total >= 10 * 19, "the projections must take the new log's records"
        assert up.stop() == 0
    finally:
        up.kill()
