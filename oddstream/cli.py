"""The ``oddstream`` command: up, worker, scrape, simulate, replay, parse.

``up`` supervises everything it starts (embedded broker, embedded PostgreSQL, simulated
bookmakers, one worker) and stops all of it on Ctrl-C or SIGTERM. It writes
``<data dir>/runtime.json`` so other commands started with the same data dir find those parts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from streams.logconfig import configure_logging
from streams.settings import Settings, SettingsError
from streams.sources.registry import NAMES

__all__ = ["main"]

log = structlog.get_logger("oddstream")

RUNTIME_FILE = "runtime.json"


class CommandError(RuntimeError):
    """A failure the user can act on: printed as one line, exit code 2."""


# -- embedded-runtime discovery ---------------------------------------------------------------------


def _runtime_path(settings: Settings) -> Path:
    return settings.data_dir / RUNTIME_FILE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_runtime(settings: Settings) -> dict[str, Any] | None:
    """What a running ``oddstream up`` with this data dir published, if it is still alive."""
    path = _runtime_path(settings)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or not _pid_alive(int(data.get("pid", 0))):
        return None
    return data


def resolve(settings: Settings) -> Settings:
    """Fill the URLs left unset from a running ``oddstream up`` of the same data dir."""
    if settings.kafka_url and settings.database_url:
        return settings
    rt = read_runtime(settings)
    if rt is None:
        missing = [
            n
            for n, v in (("ODDSTREAM_KAFKA_URL", settings.kafka_url), ("ODDSTREAM_DATABASE_URL", settings.database_url))
            if not v
        ]
        raise CommandError(
            f"{' and '.join(missing)} not set and no `oddstream up` is running with data dir "
            f"{settings.data_dir}: set them, or start `oddstream up` first"
        )
    urls = dict(rt.get("bookmaker_urls", {}))
    urls.update(settings.bookmaker_urls)
    return settings.with_(
        kafka_url=settings.kafka_url or rt["kafka_url"],
        database_url=settings.database_url or rt["database_url"],
        bookmaker_urls=urls,
    )


# -- preflight ------------------------------------------------------------------------------------


async def preflight(settings: Settings) -> None:
    """Check broker and database, create topics, migrate the schema. Clear errors when either is down."""
    from projections.writer import check_database, make_engine, migrate
    from streams.kafka import ensure_topics

    assert settings.database_url is not None
    await ensure_topics(settings)
    engine = make_engine(settings.database_url)
    try:
        await check_database(engine)
        await migrate(engine)
    finally:
        await engine.dispose()


def _wait_healthy(url: str, timeout_s: float, alive: Any) -> float:
    start = time.monotonic()
    last = "no answer"
    while time.monotonic() - start < timeout_s:
        if not alive():
            raise CommandError(f"the worker exited before it was healthy (last: {last})")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise CommandError(f"{url} not healthy after {timeout_s:.0f} s (last: {last})")


# -- commands -------------------------------------------------------------------------------------


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    import faust

    from oddstream.app import create_app
    from streams.kafka import resolve_idempotence

    settings = resolve(settings)
    asyncio.run(preflight(settings))
    settings = asyncio.run(resolve_idempotence(settings))
    app = create_app(settings).app
    # The memory:// tables keep every board as Python objects, and a batch holds tens of thousands
    # more (records, rows, new boards) for a fraction of a second. A young collection walks every
    # live object allocated since the last one: every 50,000 allocations it caught each batch
    # alive; every 500,000 most of a batch is gone by then (a worker of bench.projection_throughput
    # spent 1.0 s collecting instead of 2.9 s, in pauses of ~160 ms; bench/README.md). Keep what
    # start-up built out of the walks.
    gc.set_threshold(500_000, 20, 20)
    gc.freeze()
    log.info("worker_starting", app_id=settings.app_id, broker=settings.kafka_bootstrap, web_port=settings.web_port)
    worker = faust.Worker(app, loglevel=settings.log_level.lower(), quiet=True, redirect_stdouts=False)
    # ``kill -USR1 <worker>``: mode's worker writes every thread and asyncio task to stderr
    worker.execute_from_commandline()
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from oddstream.runtime.procs import ManagedProcess, free_port

    started_at = time.monotonic()
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.with_(data_dir=data_dir)
    if (other := read_runtime(settings)) is not None:
        raise CommandError(f"`oddstream up` already runs with data dir {data_dir} (pid {other['pid']})")

    stop_requested = threading.Event()

    def _on_signal(signum: int, frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)

    stack = contextlib.ExitStack()
    with stack:
        embedded_broker = not settings.kafka_url
        if embedded_broker:
            from oddstream.runtime.embedded import TANSU_WARNING, EmbeddedBrokerError, start_embedded_broker

            try:
                broker, choice = start_embedded_broker(settings.embedded_broker, data_dir)
            except EmbeddedBrokerError as exc:
                raise CommandError(str(exc)) from exc
            stack.callback(broker.stop, 30.0)
            settings = settings.with_(kafka_url=broker.url)
            log.info(
                "embedded_broker_started", kind=broker.kind, version=broker.version, url=broker.url, why=choice.why
            )
            if choice.kind == "kafka":
                print(
                    f"broker: Apache Kafka {broker.version} ({choice.why}), its log kept in {broker.work_dir}",
                    flush=True,
                )
            else:
                log.warning("embedded_broker_is_tansu", why=choice.why, what_does_not_hold=TANSU_WARNING)
                print(f"broker: Tansu {broker.version} ({choice.why})\nwarning: {TANSU_WARNING}", flush=True)
        if not settings.database_url:
            from oddstream.runtime.postgres import start_postgres

            db = start_postgres(data_dir / "postgres")
            stack.callback(db.stop)
            settings = settings.with_(database_url=db.url)
            log.info("embedded_database_started", url=db.url)
        child_env = {**os.environ, **settings.to_child_env()}
        if settings.sources == "simulated" and not settings.bookmaker_urls:
            port = free_port()
            sim = ManagedProcess(
                [sys.executable, "-m", "oddstream.cli", "simulate", "--port", str(port)],
                log_path=data_dir / "logs" / "simulator.log",
                name="simulator",
                env=child_env,
            )
            stack.callback(sim.stop)
            from oddstream.runtime.procs import wait_for_tcp

            wait_for_tcp("127.0.0.1", port, 30.0, sim)
            settings = settings.with_(bookmaker_urls={bm: f"http://127.0.0.1:{port}" for bm in NAMES})
            child_env = {**os.environ, **settings.to_child_env()}
        asyncio.run(preflight(settings))
        if embedded_broker:
            from projections.replay import forget_lost_log

            if behind := asyncio.run(forget_lost_log(settings)):
                print(
                    f"warning: the broker's topics no longer hold what the projections applied "
                    f"({behind[0][1]}[{behind[0][2]}] ends at {behind[0][4]}, applied up to {behind[0][3]}): "
                    "the projections were emptied to start again with the log",
                    flush=True,
                )
        _runtime_path(settings).write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "kafka_url": settings.kafka_url,
                    "database_url": settings.database_url,
                    "bookmaker_urls": dict(settings.bookmaker_urls),
                    "web_port": settings.web_port,
                }
            )
        )
        stack.callback(lambda: _runtime_path(settings).unlink(missing_ok=True))
        worker = ManagedProcess(
            [sys.executable, "-m", "oddstream.cli", "worker"],
            log_path=data_dir / "logs" / "worker.log",
            name="worker",
            env=child_env,
        )
        stack.callback(worker.stop, 20.0)
        base = f"http://{settings.web_host}:{settings.web_port}"
        _wait_healthy(f"{base}/health", 60.0, lambda: worker.is_alive() and not stop_requested.is_set())
        log.info(
            "oddstream_is_up",
            dashboard=f"{base}/",
            ready_after_s=round(time.monotonic() - started_at, 2),
            logs=str(data_dir / "logs"),
        )
        print(f"oddstream is up: {base}/  (Ctrl-C stops everything)", flush=True)
        while not stop_requested.wait(0.5):
            if not worker.is_alive():
                log.error("worker_exited", returncode=worker.returncode, log_tail=worker.log_tail(20))
                return 1
        log.info("stopping")
    return 0


async def _partitions(settings: Settings, topic: str) -> list[int]:
    from aiokafka.admin import AIOKafkaAdminClient

    from streams.kafka import client_options

    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    parts = sorted(p["partition"] for d in described if d.get("topic") == topic for p in d.get("partitions", []))
    if not parts:
        raise CommandError(f"topic {topic} does not exist: has a worker ever started?")
    return parts


async def _scrape(settings: Settings, args: argparse.Namespace) -> int:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    from streams.clock import utc_now
    from streams.ends import probe_ends
    from streams.events import (
        BaseEvent,
        RunCompleted,
        RunEvent,
        RunFailed,
        RunStale,
        ScrapeRequested,
        decode,
        encode,
        new_id,
    )
    from streams.kafka import client_options
    from streams.topics import RUNS

    run_id = new_id()
    cmd = ScrapeRequested(run_id=run_id, trigger="cli", bookmakers=args.bookmaker or [], events=args.event or [])
    consumer: AIOKafkaConsumer | None = None
    producer = AIOKafkaProducer(**client_options(settings), acks="all")
    try:
        if args.wait:
            consumer = AIOKafkaConsumer(**client_options(settings), enable_auto_commit=False)
            await consumer.start()
            runs_topic = settings.topic(RUNS.name)
            parts = [TopicPartition(runs_topic, p) for p in await _partitions(settings, runs_topic)]
            consumer.assign(parts)
            since = int(utc_now().timestamp() * 1000) - 1000
            found = await consumer.offsets_for_times({tp: since for tp in parts})
            ends = await probe_ends(consumer, parts, await consumer.end_offsets(parts))
            for tp in parts:
                at = found.get(tp)
                consumer.seek(tp, at.offset if at is not None else ends[tp])
        await producer.start()
        await producer.send_and_wait(settings.topic(cmd.topic), encode(cmd), key=cmd.key.encode())
        print(run_id, flush=True)
        if consumer is None:
            return 0
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.key != run_id.encode():
                        continue
                    try:
                        ev: BaseEvent = decode(record.value, None)
                    except ValueError:
                        continue
                    if not isinstance(ev, RunEvent):
                        continue
                    if isinstance(ev, RunCompleted):
                        print(f"completed: {ev.observed} observed, {ev.failed} failed", file=sys.stderr)
                        for err in ev.errors:
                            print(f"  error: {err}", file=sys.stderr)
                        return 0
                    if isinstance(ev, RunFailed):
                        print(f"failed: {ev.error}", file=sys.stderr)
                        return 1
                    if isinstance(ev, RunStale):
                        print(f"stale: no heartbeat since {ev.last_heartbeat_at.isoformat()}", file=sys.stderr)
                        return 1
        print(f"timed out after {args.timeout} s waiting for run {run_id}", file=sys.stderr)
        return 3
    finally:
        await producer.stop()
        if consumer is not None:
            await consumer.stop()


def cmd_scrape(settings: Settings, args: argparse.Namespace) -> int:
    from aiokafka.errors import KafkaConnectionError

    settings = resolve(settings)
    try:
        return asyncio.run(_scrape(settings, args))
    except KafkaConnectionError as exc:
        raise CommandError(f"Kafka broker at {settings.kafka_bootstrap} is unreachable: {exc}") from exc


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:
    from streams.sources.simulator import parse_faults, parse_latency, run_simulator

    try:
        latency = parse_latency(settings.simulator_latency)
        faults = parse_faults(settings.simulator_faults)
    except ValueError as exc:
        raise CommandError(f"ODDSTREAM_SIMULATOR_LATENCY / ODDSTREAM_SIMULATOR_FAULTS: {exc}") from exc

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        sim = await run_simulator(
            args.host,
            args.port,
            n_events=args.events or settings.simulator_events,
            tick_s=settings.simulator_tick_s,
            seed=settings.simulator_seed,
            latency=latency,
            faults=faults,
        )
        print(f"simulated bookmakers (betpawa, sportybet, bet9ja): {sim.url}", flush=True)
        try:
            await stop.wait()
        finally:
            await sim.stop()

    asyncio.run(serve())
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from projections.registry import GROUPS
    from projections.replay import ReplayBusy, ReplayRefused, run
    from streams.clock import parse_ts

    settings = resolve(settings)
    since = None
    if args.since is not None:
        try:
            since = parse_ts(args.since, "--since")
        except ValueError as exc:
            raise CommandError(f"--since must be an RFC 3339 time with an offset: {exc}") from exc
    groups = args.projection or list(GROUPS)
    asyncio.run(preflight(settings))
    try:
        stats = run(settings, groups, since, args.in_place)
    except (ReplayBusy, ReplayRefused) as exc:
        raise CommandError(str(exc)) from exc
    how = "in place" if args.in_place or since is not None else "into fresh tables, swapped in"
    print(f"replayed {', '.join(groups)} {how}")
    print(f"events read: {stats.events_read}")
    print(f"rows written: {stats.rows_written}")
    print(f"events/s: {stats.events_per_s:.0f}")
    if stats.invalid:
        print(f"invalid records skipped (dead-lettered when first consumed): {stats.invalid}")
    return 0


def cmd_parse(settings: Settings, args: argparse.Namespace) -> int:
    from streams.sources.model import SourceError
    from streams.sources.registry import bookmaker

    try:
        payload = json.loads(Path(args.file).read_text())
        parsed = bookmaker(args.bookmaker).parse(payload, args.sportradar_id)
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {args.file}: {exc}") from exc
    except SourceError as exc:
        raise CommandError(str(exc)) from exc
    print(
        json.dumps(
            {
                "sportradar_id": parsed.sportradar_id,
                "markets": [q.to_json() for q in parsed.markets],
                "unmapped": parsed.unmapped,
            },
            indent=2,
        )
    )
    return 0


def _replay_groups() -> list[str]:
    from projections.registry import GROUPS

    return list(GROUPS)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="oddstream", description="Live football odds comparison, event-sourced.")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="the whole system on one machine (embedded broker and database by default)")
    sub.add_parser("worker", help="one Faust worker: agents and web views")
    s = sub.add_parser("scrape", help="publish a ScrapeRequested and print its run_id")
    s.add_argument("--bookmaker", action="append", choices=NAMES)
    s.add_argument("--event", action="append", metavar="SR_ID")
    s.add_argument("--wait", action="store_true", help="follow the run; exit 0 when it completed")
    s.add_argument("--timeout", type=float, default=900.0, help="seconds to wait with --wait")
    sim = sub.add_parser("simulate", help="only the simulated bookmaker servers")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=6070)
    sim.add_argument("--events", type=int, default=None)
    rp = sub.add_parser("replay", help="rebuild PostgreSQL projections from the topics")
    rp.add_argument("--projection", action="append", choices=_replay_groups(), help="default: all")
    when = rp.add_mutually_exclusive_group()
    when.add_argument("--from-beginning", action="store_true", help="rebuild from the start (default)")
    when.add_argument("--since", metavar="ISO8601", help="re-apply events since this time, in place")
    rp.add_argument("--in-place", action="store_true", help="write onto the live tables instead of swapping")
    pa = sub.add_parser("parse", help="parse one saved event response and print the canonical board")
    pa.add_argument("--bookmaker", required=True, choices=NAMES)
    pa.add_argument(
        "--sportradar-id", metavar="SR_ID", help="the SportRadar id the event list gave (the worker passes it too)"
    )
    pa.add_argument("file")
    return p


COMMANDS = {
    "up": cmd_up,
    "worker": cmd_worker,
    "scrape": cmd_scrape,
    "simulate": cmd_simulate,
    "replay": cmd_replay,
    "parse": cmd_parse,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level)
        return COMMANDS[args.command](settings, args)
    except (CommandError, SettingsError) as exc:
        print(f"oddstream {args.command}: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from projections.writer import DatabaseUnavailable
        from streams.kafka import BrokerUnavailable

        if isinstance(exc, BrokerUnavailable | DatabaseUnavailable):
            print(f"oddstream {args.command}: {exc}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
