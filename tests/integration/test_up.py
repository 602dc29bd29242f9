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
from typing import Any

import asyncpg
import psutil
import pytest

from oddstream.runtime.procs import free_port
from streams.settings import Settings
from tests.integration.conftest import caught_up, get_json, wait_http
from tests.projection_world import snapshot, snapshot_diff

pytestmark = pytest.mark.integration

PROJECTIONS = {
    "odds-changes": ("odds.changes",),
    "odds-observed": ("odds.observed",),
    "runs": ("odds.scrape-requests", "odds.runs"),
}


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


def _env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
    env.update(
        {
            "ODDSTREAM_DATA_DIR": str(tmp_path / "data"),
            "ODDSTREAM_WEB_PORT": str(port),
            "ODDSTREAM_SIMULATOR_EVENTS": "200",
            "ODDSTREAM_SIMULATOR_LATENCY": "0",
            "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
            **extra,
        }
    )
    return env


class Up:
    """One ``oddstream up``, its output in a file, and how long it took to be healthy."""

    def __init__(self, env: dict[str, str], out: Path) -> None:
        self.out = out
        self.port = int(env["ODDSTREAM_WEB_PORT"])
        self._log = open(out, "ab")  # noqa: SIM115 - closed in stop()
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oddstream.cli", "up"], env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        self.ready_s = 0.0

    async def healthy(self, *, ready: bool = False, timeout_s: float = 60.0) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.port}/health"
        try:
            health: dict[str, Any] = await asyncio.to_thread(wait_http, url, timeout_s)
        except AssertionError as exc:
            worker_log = self.out.parent / "data" / "logs" / "worker.log"
            tail = worker_log.read_text(errors="replace")[-4000:] if worker_log.exists() else "(no worker log)"
            raise AssertionError(f"{exc}\n-- up said:\n{self.output()[-3000:]}\n-- worker log:\n{tail}") from exc
        self.ready_s = time.monotonic() - self.started
        deadline = time.monotonic() + timeout_s
        while ready and not health["ready"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            health = get_json(url)[1]
        return health

    def output(self) -> str:
        return self.out.read_text(errors="replace")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self._log.close()


async def _scrape(env: dict[str, str]) -> str:
    scrape = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "oddstream.cli", "scrape", "--wait", "--timeout", "120"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert scrape.returncode == 0, scrape.stderr
    return scrape.stderr


def _replay(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oddstream.cli", "replay", "--from-beginning"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _events(port: int) -> int:
    return int(get_json(f"http://127.0.0.1:{port}/odds/events")[1]["count"])


async def _board_settled(port: int, quiet_s: float = 2.0, timeout_s: float = 30.0) -> int:
    """The board's event count once it has not changed for ``quiet_s``."""
    deadline = time.monotonic() + timeout_s
    last, since = _events(port), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        if (now := _events(port)) != last:
            last, since = now, time.monotonic()
    return last


async def _caught_up(tmp_path: Path) -> None:
    """Until every projection has applied every record on its topics (what `up` published)."""
    runtime = json.loads((tmp_path / "data" / "runtime.json").read_text())
    settings = Settings.from_env(
        {"ODDSTREAM_KAFKA_URL": runtime["kafka_url"], "ODDSTREAM_DATABASE_URL": runtime["database_url"]}
    )
    await caught_up(settings, PROJECTIONS)


def _dsn(tmp_path: Path) -> str:
    runtime = json.loads((tmp_path / "data" / "runtime.json").read_text())
    return str(runtime["database_url"]).replace("postgresql+asyncpg://", "postgresql://", 1)


async def _history_settled(dsn: str, minimum: int, timeout_s: float = 30.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout_s
    total = distinct = 0
    while time.monotonic() < deadline:
        conn = await asyncpg.connect(dsn)
        try:
            total, distinct = await conn.fetchrow(
                "select count(*), count(distinct (event_id, market_id, line)) from odds_history"
            )
        finally:
            await conn.close()
        if total >= minimum:
            break
        await asyncio.sleep(0.5)
    return total, distinct


async def test_up_runs_the_pipeline_keeps_it_across_a_restart_and_stops_everything(tmp_path: Path) -> None:
    """On the broker ``up`` picks here (Apache Kafka: Java is on these machines): scrape, stop,
    start again on the same data dir: the board, the runs and the tables are all there, and a
    replay from the beginning reproduces the tables."""
    env = _env(tmp_path, free_port())
    up = Up(env, tmp_path / "up.log")
    try:
        health = await up.healthy()
        assert health["status"] == "ok"
        assert up.ready_s < 30, f"healthy only after {up.ready_s:.1f} s"
        assert "broker: Apache Kafka" in up.output(), up.output()
        family = _family(up.proc.pid)
        assert len(_running(family)) >= 3  # broker, database, simulator, worker (and postgres' own)

        # another command with the same data dir and no URLs finds the embedded parts
        said = await _scrape(env)
        # the three simulated bookmakers: BetPawa's 200 events, most of them on the other two as well
        done = re.search(r"completed: (\d+) observed, 0 failed", said)
        assert done and 2.5 * 200 < int(done.group(1)) <= 3 * 210, said

        dsn = _dsn(tmp_path)
        total, distinct = await _history_settled(dsn, int(2.5 * 200 * 19))  # three books, ~20 quotes each
        assert total == distinct and 2.5 * 200 * 19 <= total <= 3 * 210 * 20
        await _caught_up(tmp_path)
        before = await snapshot(dsn)
        events = await _board_settled(up.port)
        assert 200 <= events <= 210

        assert up.stop() == 0
        time.sleep(0.5)
        assert _running(family) == [], "processes left behind after oddstream up stopped"
        assert not (tmp_path / "data" / "runtime.json").exists()

        up = Up(env, tmp_path / "up-again.log")
        health = await up.healthy(ready=True)
        assert health["ready"], health
        restart_s = up.ready_s
        # the board recovered from its changelog: it answers at once, without a scrape
        assert _events(up.port) == events, f"the board after a restart: {_events(up.port)} events, not {events}"
        runs = get_json(f"http://127.0.0.1:{up.port}/runs")[1]
        assert [r["status"] for r in runs["runs"]] == ["completed"], runs
        after = await snapshot(_dsn(tmp_path))
        assert after == before, snapshot_diff(before, after, ("before", "after"))
        assert "projections were emptied" not in up.output()

        replayed = await asyncio.to_thread(_replay, env)
        assert replayed.returncode == 0, replayed.stderr[-2000:]
        rebuilt = await snapshot(_dsn(tmp_path))
        assert rebuilt == before, snapshot_diff(before, rebuilt)
        print(f"up on Apache Kafka: healthy after {restart_s:.1f} s on a restart")
        family = _family(up.proc.pid)
        assert up.stop() == 0
        time.sleep(0.5)
        assert _running(family) == []
    finally:
        up.kill()


async def test_up_on_tansu_warns_and_starts_the_projections_again_after_a_restart(tmp_path: Path) -> None:
    """Without Java (forced here): Tansu, with the warning; after a restart its topics are empty,
    so the projections kept in the database start again with them, and a replay is equal."""
    env = _env(tmp_path, free_port(), ODDSTREAM_EMBEDDED_BROKER="tansu", ODDSTREAM_SIMULATOR_EVENTS="30")
    up = Up(env, tmp_path / "up.log")
    try:
        await up.healthy()
        out = up.output()
        assert "broker: Tansu" in out and "warning: Tansu keeps its topics in memory only" in out, out
        await _scrape(env)
        dsn = _dsn(tmp_path)
        total, _ = await _history_settled(dsn, 30 * 19)
        assert total >= 30 * 19
        assert up.stop() == 0

        up = Up(env, tmp_path / "up-again.log")
        await up.healthy()
        assert "the projections were emptied to start again with the log" in up.output(), up.output()
        assert (await snapshot(_dsn(tmp_path)))["odds_history"] == []
        await _scrape(env)
        total, _ = await _history_settled(_dsn(tmp_path), 30 * 19)
        assert total >= 30 * 19, "the projections must take the new log's records"
        await _caught_up(tmp_path)
        live = await snapshot(_dsn(tmp_path))
        replayed = await asyncio.to_thread(_replay, env)
        assert replayed.returncode == 0, replayed.stderr[-2000:]
        assert await snapshot(_dsn(tmp_path)) == live
        assert up.stop() == 0
    finally:
        up.kill()
