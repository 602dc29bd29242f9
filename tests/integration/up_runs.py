"""Driving `oddstream up` as a new user runs it: its process, its output, the embedded parts it started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from streams.settings import Settings
from tests.integration.conftest import caught_up, get_json, wait_http

PROJECTIONS = {
    "odds-changes": ("odds.changes",),
    "odds-observed": ("odds.observed",),
    "runs": ("odds.scrape-requests", "odds.runs"),
}


def family_of(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def still_running(procs: list[psutil.Process]) -> list[str]:
    alive = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{p.pid} {' '.join(p.cmdline()[:3])}")
        except psutil.NoSuchProcess:
            pass
    return alive


def up_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
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
            self.proc.wait(timeout=30)  # reaped here, not warned about in a later test
        self._log.close()


async def scrape_wait(env: dict[str, str]) -> str:
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


def replay_all(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oddstream.cli", "replay", "--from-beginning"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def board_count(port: int) -> int:
    return int(get_json(f"http://127.0.0.1:{port}/odds/events")[1]["count"])


async def board_settled(port: int, quiet_s: float = 2.0, timeout_s: float = 30.0) -> int:
    """The board's event count once it has not changed for ``quiet_s``."""
    deadline = time.monotonic() + timeout_s
    last, since = board_count(port), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() < deadline:
        await asyncio.sleep(0.25)
        if (now := board_count(port)) != last:
            last, since = now, time.monotonic()
    return last


async def projections_caught_up(tmp_path: Path) -> None:
    """Until every projection has applied every record on its topics (what `up` published)."""
    runtime = json.loads((tmp_path / "data" / "runtime.json").read_text())
    settings = Settings.from_env(
        {"ODDSTREAM_KAFKA_URL": runtime["kafka_url"], "ODDSTREAM_DATABASE_URL": runtime["database_url"]}
    )
    await caught_up(settings, PROJECTIONS)


def dsn_of(tmp_path: Path) -> str:
    runtime = json.loads((tmp_path / "data" / "runtime.json").read_text())
    return str(runtime["database_url"]).replace("postgresql+asyncpg://", "postgresql://", 1)


async def history_settled(dsn: str, minimum: int, timeout_s: float = 30.0) -> tuple[int, int]:
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
