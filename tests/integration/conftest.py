"""Real parts for integration tests: a Kafka broker, PostgreSQL, and oddstream processes.

Broker, in order: ``ODDSTREAM_TEST_KAFKA_URL``; testcontainers' Kafka when a Docker engine
answers; Apache Kafka on the JDK (Maven Central artifacts) when ``java`` and ``mvn`` exist;
otherwise the embedded Tansu broker, where tests marked ``true_kafka`` are skipped with the reason
(and fail when ``CI`` is set). Database: ``ODDSTREAM_TEST_DATABASE_URL``; a server on
127.0.0.1:5432 when one answers; otherwise an embedded PostgreSQL. Each test gets its own topics,
Faust app id, database and data dir. ``ODDSTREAM_TEST_BROKER=tansu`` forces the Tansu fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from oddstream.runtime.procs import ManagedProcess, free_port, wait_for_tcp
from streams.settings import Settings
from tests.said import SAID

IN_CI = bool(os.environ.get("CI"))


@dataclass(frozen=True)
class TestBroker:
    kind: str  # "apache-kafka" | "tansu" | "external" | "testcontainers"
    version: str
    url: str

    @property
    def true_kafka(self) -> bool:
        return self.kind in ("apache-kafka", "testcontainers", "external")


def _say(config: pytest.Config, line: str) -> None:
    """Print past pytest's output capture now (when this process has a terminal), and in the run's
    summary (``tests/conftest.py`` gathers what every test process said), so every log names its broker."""
    SAID.append(line)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(line)


def _docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestBroker]:
    config = request.config
    if url := os.environ.get("ODDSTREAM_TEST_KAFKA_URL"):
        chosen = TestBroker("external", "unknown", url)
        _say(config, f"integration broker: external Kafka at {url} (ODDSTREAM_TEST_KAFKA_URL)")
        yield chosen
        return
    forced = os.environ.get("ODDSTREAM_TEST_BROKER", "auto")  # auto | kafka | tansu
    if forced == "auto" and _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as kafka:
            chosen = TestBroker("testcontainers", "image default", f"kafka://{kafka.get_bootstrap_server()}")
            _say(config, f"integration broker: testcontainers Kafka at {chosen.url}")
            yield chosen
        return
    from oddstream.runtime import kafka_jvm

    if forced != "tansu" and kafka_jvm.java_and_maven_available():
        started = time.monotonic()
        kafka = kafka_jvm.start_kafka(tmp_path_factory.mktemp("kafka"))
        chosen = TestBroker("apache-kafka", kafka.version, kafka.url)
        _say(
            config,
            f"integration broker: Apache Kafka {kafka.version} (JVM, KRaft) at {kafka.bootstrap}, "
            f"started in {time.monotonic() - started:.1f} s",
        )
        try:
            yield chosen
        finally:
            kafka.stop()
        return
    from oddstream.runtime.tansu import start_tansu, tansu_version

    tansu = start_tansu(tmp_path_factory.mktemp("tansu"))
    chosen = TestBroker("tansu", tansu_version(), tansu.url)
    why = "ODDSTREAM_TEST_BROKER=tansu" if forced == "tansu" else "java/mvn not found"
    _say(config, f"integration broker: Tansu {chosen.version} at {tansu.bootstrap} ({why})")
    try:
        yield chosen
    finally:
        tansu.stop()


@pytest.fixture(autouse=True)
def _true_kafka_gate(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("true_kafka") is None:
        return
    chosen: TestBroker = request.getfixturevalue("broker")
    if not chosen.true_kafka:
        reason = f"needs true Kafka semantics (end offsets, recovery); the broker is {chosen.kind}"
        if IN_CI:
            pytest.fail(f"{reason}, and CI must run it on Apache Kafka")
        pytest.skip(reason)


def _local_postgres_answers() -> str | None:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            pass
    except OSError:
        return None
    dsn = "postgresql://postgres@127.0.0.1:5432/postgres"

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=3)
        except Exception:
            return False
        await conn.close()
        return True

    return dsn if asyncio.run(probe()) else None


@pytest.fixture(scope="session")
def admin_dsn(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A plain ``postgresql://`` DSN of a server where tests may create databases."""
    if url := os.environ.get("ODDSTREAM_TEST_DATABASE_URL"):
        _say(request.config, "integration database: ODDSTREAM_TEST_DATABASE_URL")
        yield url.replace("postgresql+asyncpg://", "postgresql://")
        return
    if dsn := _local_postgres_answers():
        _say(request.config, "integration database: PostgreSQL on 127.0.0.1:5432")
        yield dsn
        return
    from oddstream.runtime.postgres import start_postgres

    started = time.monotonic()
    db = start_postgres(tmp_path_factory.mktemp("pg"))
    _say(request.config, f"integration database: embedded PostgreSQL at {db.dsn}, {time.monotonic() - started:.1f} s")
    try:
        yield db.dsn
    finally:
        db.stop()


async def create_database(admin_dsn: str, prefix: str = "t") -> str:
    """A fresh database on the server of ``admin_dsn``; its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_dsn.rpartition("/")
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


async def drop_database(admin_dsn: str, url: str) -> None:
    name = url.rpartition("/")[2]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def database_url(admin_dsn: str) -> AsyncIterator[str]:
    """A fresh database for one test (dropped afterwards)."""
    url = await create_database(admin_dsn)
    yield url
    await drop_database(admin_dsn, url)


@pytest.fixture
def settings(broker: TestBroker, database_url: str, tmp_path: Path) -> Settings:
    """Settings isolated to this test: own topics, consumer group, database, data dir, web port."""
    tag = uuid.uuid4().hex[:8]
    return Settings.from_env(
        {
            "ODDSTREAM_KAFKA_URL": broker.url,
            "ODDSTREAM_DATABASE_URL": database_url,
            "ODDSTREAM_DATA_DIR": str(tmp_path / "data"),
            "ODDSTREAM_WEB_PORT": str(free_port()),
            "ODDSTREAM_APP_ID": f"oddstream-{tag}",
            "ODDSTREAM_TOPIC_PREFIX": f"t{tag}.",
            "ODDSTREAM_TOPIC_PARTITIONS": "4",
            "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
            "ODDSTREAM_SESSION_TIMEOUT_S": "6",
            "ODDSTREAM_LOG_LEVEL": "INFO",
        }
    )


class Processes:
    """oddstream processes of one test, stopped (with their groups) at its end."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.settings = settings
        self.tmp_path = tmp_path
        self.procs: list[ManagedProcess] = []

    def env(self, settings: Settings | None = None, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
        return {**base, **(settings or self.settings).to_child_env(), **extra}

    def start(self, name: str, *args: str, settings: Settings | None = None, **extra: str) -> ManagedProcess:
        proc = ManagedProcess(
            [sys.executable, "-m", "oddstream.cli", *args],
            log_path=self.tmp_path / "logs" / f"{name}-{len(self.procs)}.log",
            name=name,
            env=self.env(settings, **extra),
        )
        self.procs.append(proc)
        return proc

    def simulator(self, *, events: int = 40, tick_s: float = 3600.0) -> str:
        port = free_port()
        proc = self.start(
            "simulator",
            "simulate",
            "--port",
            str(port),
            "--events",
            str(events),
            ODDSTREAM_SIMULATOR_TICK_S=str(tick_s),
        )
        wait_for_tcp("127.0.0.1", port, 30.0, proc)
        return f"http://127.0.0.1:{port}"

    def worker(self, settings: Settings | None = None, timeout_s: float = 90.0) -> ManagedProcess:
        s = settings or self.settings
        proc = self.start("worker", "worker", settings=s)
        wait_http(f"http://127.0.0.1:{s.web_port}/health", timeout_s, proc)
        return proc

    def run(
        self, *args: str, timeout_s: float = 120.0, settings: Settings | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "oddstream.cli", *args],
            env=self.env(settings),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def stop_all(self) -> None:
        """Stop every process at once (each may take its shutdown time; they need not queue)."""
        live = [proc for proc in reversed(self.procs) if not proc.stopped]
        threads = [threading.Thread(target=proc.stop, args=(20.0,)) for proc in live]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()


def wait_http(url: str, timeout_s: float, proc: ManagedProcess | None = None) -> Any:
    """Poll ``url`` until it answers 200; return the decoded JSON body."""

    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if proc is not None and not proc.is_alive():
            raise AssertionError(f"{proc.name} died before {url} answered:\n{proc.log_tail(60)}")
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.25)
    tail = proc.log_tail(60) if proc is not None else ""
    raise AssertionError(f"{url} not 200 after {timeout_s} s (last: {last})\n{tail}")


def get_json(url: str) -> tuple[int, Any]:

    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def procs(settings: Settings, tmp_path: Path) -> Iterator[Processes]:
    p = Processes(settings, tmp_path)
    try:
        yield p
    finally:
        with contextlib.suppress(Exception):
            p.stop_all()


async def read_until_quiet(settings: Settings, name: str, quiet_s: float = 2.0) -> list[bytes]:
    """Every record value of topic ``name`` (prefixed by ``settings``), from the beginning, read
    until ``quiet_s`` pass without a new record."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topic(name),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        quiet = 0
        while quiet < max(1, round(quiet_s * 2)):
            batches = await consumer.getmany(timeout_ms=500)
            records = [r.value for rs in batches.values() for r in rs]
            quiet = 0 if records else quiet + 1
            values.extend(records)
    finally:
        await consumer.stop()
    return values


async def stale_counts(settings: Settings, quiet_s: float = 3.0) -> Counter[str]:
    """``RunStale`` events per run on ``odds.runs``, read until ``quiet_s`` pass without a record."""
    from streams.events import RunStale, decode

    counts: Counter[str] = Counter()
    for value in await read_until_quiet(settings, "odds.runs", quiet_s):
        if json.loads(value).get("event_type") == "RunStale":
            counts[decode(value, [RunStale]).run_id] += 1
    return counts


async def caught_up(settings: Settings, projections: Mapping[str, Sequence[str]], timeout_s: float = 60.0) -> None:
    """Until each projection (name -> its topics) has committed every record now on its topics
    (true ends, ``streams.ends``: right on Tansu too)."""
    from projections.postgres import dsn_of
    from streams.ends import log_ends, topic_partitions

    names = {settings.topic(t): name for name, ts in projections.items() for t in ts}
    deadline = time.monotonic() + timeout_s
    lag: dict[Any, int] = {}
    while time.monotonic() < deadline:
        tps = await topic_partitions(settings, sorted(names))
        ends = await log_ends(settings.kafka_bootstrap, tps)
        conn = await asyncpg.connect(dsn_of(settings.database_url or ""))
        try:
            rows = await conn.fetch('select projection, topic, partition, "offset" from projection_progress')
        except asyncpg.UndefinedTableError:
            rows = []
        finally:
            await conn.close()
        done = {(r["projection"], r["topic"], r["partition"]): r["offset"] for r in rows}
        lag = {
            (names[tp.topic], tp.topic, tp.partition): end - 1 - done.get((names[tp.topic], tp.topic, tp.partition), -1)
            for tp, end in ends.items()
            if end > 0
        }
        if tps and not any(v > 0 for v in lag.values()):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"projections not caught up after {timeout_s} s: {lag}")
