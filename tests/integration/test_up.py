"""`oddstream up` as a new user runs it: embedded broker and database, simulator, one worker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import psutil
import pytest

from oddstream.runtime.procs import free_port
from tests.integration.conftest import get_json, wait_http

pytestmark = pytest.mark.integration


def _family(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _running(procs: list[psutil.Process]) -> list[str]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{p.pid} {' '.join(p.cmdline()[:3])}")
        except psutil.NoSuchProcess:
            pass
    return alive


async def test_up_runs_the_pipeline_and_stops_everything(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
    env.update(
        ODDSTREAM_DATA_DIR=str(tmp_path / "data"),
        ODDSTREAM_WEB_PORT=str(port),
        ODDSTREAM_SIMULATOR_EVENTS="200",
        ODDSTREAM_SIMULATOR_LATENCY="0",
        ODDSTREAM_SCRAPE_INTERVAL_S="0",
    )
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115 - closed below
    started = time.monotonic()
    up = subprocess.Popen([sys.executable, "-m", "oddstream.cli", "up"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        health = await asyncio.to_thread(wait_http, f"http://127.0.0.1:{port}/health", 60.0)
        ready_s = time.monotonic() - started
        assert health["status"] == "ok"
        assert ready_s < 30, f"healthy only after {ready_s:.1f} s"
        family = _family(up.pid)
        assert len(_running(family)) >= 3  # broker, database, simulator, worker (and postgres' own)

        # another command with the same data dir and no URLs finds the embedded parts
        scrape = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "oddstream.cli", "scrape", "--wait", "--timeout", "120"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert scrape.returncode == 0, scrape.stderr
        # the three simulated bookmakers: BetPawa's 200 events, most of them on the other two as well
        done = re.search(r"completed: (\d+) observed, 0 failed", scrape.stderr)
        assert done and 2.5 * 200 < int(done.group(1)) <= 3 * 210, scrape.stderr

        deadline = time.monotonic() + 30
        while get_json(f"http://127.0.0.1:{port}/odds/events")[1]["count"] < 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
        assert 200 <= get_json(f"http://127.0.0.1:{port}/odds/events")[1]["count"] <= 210

        runtime = json.loads((tmp_path / "data" / "runtime.json").read_text())
        dsn = runtime["database_url"].replace("postgresql+asyncpg://", "postgresql://", 1)
        total = distinct = 0
        while time.monotonic() < deadline:
            conn = await asyncpg.connect(dsn)
            try:
                total, distinct = await conn.fetchrow(
                    "select count(*), count(distinct (event_id, market_id, line)) from odds_history"
                )
            finally:
                await conn.close()
            if total >= 2.5 * 200 * 19:  # three bookmakers, ~20 quotes each
                break
            await asyncio.sleep(0.5)
        assert total == distinct and 2.5 * 200 * 19 <= total <= 3 * 210 * 20

        up.send_signal(signal.SIGTERM)
        assert up.wait(timeout=40) == 0
        time.sleep(0.5)
        assert _running(family) == [], "processes left behind after oddstream up stopped"
        assert not (tmp_path / "data" / "runtime.json").exists()
    finally:
        if up.poll() is None:
            up.kill()
        log.close()
