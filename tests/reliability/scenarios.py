"""The faults, one coroutine each, returning what was measured (``Outcome``).

Each scenario gets its own topics, consumer group and database on the given broker and server,
starts its workers, injects its fault while a known stream is ingested, and judges the result
with ``harness.settle``. Used by ``tests/reliability`` and ``bench.reliability``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from streams.clock import utc_now
from streams.sources.registry import NAMES
from tests.integration.conftest import create_database, read_until_quiet, stale_counts
from tests.reliability import harness as h

CRASH_MODES = ("mid-batch", "mid-commit", "mid-rebalance")


@dataclass(frozen=True)
class Env:
    """Where scenarios run: a broker, a PostgreSQL server where databases may be created, a dir."""

    kafka_url: str
    admin_dsn: str
    work_dir: Path


@dataclass
class Outcome:
    fault: str
    events: int = 0
    kills: int = 0
    verdict: h.Verdict = field(default_factory=h.Verdict)
    recovery_s: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def recovery_median_s(self) -> float | None:
        return statistics.median(self.recovery_s) if self.recovery_s else None

    def __str__(self) -> str:
        rec = self.recovery_median_s
        return (
            f"{self.fault}: {self.events} observations, {self.kills} kills, "
            f"recovery median {'-' if rec is None else f'{rec:.1f} s'}; {self.verdict}"
            + "".join(f"\n  {n}" for n in self.notes)
        )


@contextlib.asynccontextmanager
async def _trial(env: Env, name: str, **extra: str) -> Any:
    """Fresh database, settings and cluster for one trial; everything stopped and dropped after."""
    database_url = await create_database(env.admin_dsn, prefix="r")
    trial_dir = env.work_dir / f"{name}-{uuid.uuid4().hex[:6]}"
    settings = h.trial_settings(env.kafka_url, database_url, trial_dir / "data", **extra)
    cluster = h.Cluster(settings, trial_dir / "logs")
    try:
        yield settings, cluster
    finally:
        await asyncio.to_thread(cluster.stop_all)
        await h.drop_database(env.admin_dsn, database_url)


async def _progress_sum(settings: h.Settings) -> int:
    try:
        return sum((await h.progress(settings)).values())
    except (OSError, asyncpg.PostgresError):
        return -1


async def _kill_when(mode: str, rng: random.Random, settings: h.Settings, cluster: h.Cluster, slot: int) -> str:
    """Wait for the moment this mode aims at, then SIGKILL; say which moment it was."""
    if mode == "mid-commit":
        # the instant a projection batch's transaction has committed, before Kafka has the offsets
        before = await _progress_sum(settings)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = await _progress_sum(settings)
            if now != before and before != -1:
                cluster.kill(slot)
                return "right after a projection commit"
            before = now if before == -1 else before
            await asyncio.sleep(0.005)
        cluster.kill(slot)
        return "no commit seen within 30 s; killed anyway"
    delay = rng.uniform(0.2, 4.0)
    await asyncio.sleep(delay)
    cluster.kill(slot)
    return f"{delay:.2f} s in"


async def crash_trial(env: Env, seed: int, mode: str, *, n_events: int = 30, cycles: int = 6) -> Outcome:
    """SIGKILL workers at seeded moments while a known stream is ingested; restart; judge.

    ``mid-batch`` and ``mid-commit`` kill the only worker twice (the second time while the
    restarted worker works through the backlog); ``mid-rebalance`` starts a second worker and
    kills one of the two while the group rebalances, then once more after the restart.
    """
    rng = random.Random(seed)
    cycles_obs = h.observations(seed, n_events, cycles, h.base_time())
    exp = h.Expected.fold(o for batch in cycles_obs for o in batch)
    out = Outcome(fault=f"SIGKILL {mode}", events=exp.observed)
    async with _trial(env, f"crash-{mode}-{seed}") as (settings, cluster):
        cluster.start(0)
        await cluster.wait_ready(0)
        producing = asyncio.create_task(h.produce_paced(settings, cycles_obs, pace_s=1.5))
        slots = [0]
        try:
            for k in range(2):
                if mode == "mid-rebalance":
                    if k == 0:
                        cluster.start(1)  # the group rebalances now
                        slots.append(1)
                        await asyncio.sleep(rng.uniform(0.0, 3.0))
                    victim = rng.choice(slots)
                    killed_at = time.monotonic()
                    cluster.kill(victim)
                    out.notes.append(f"kill {k + 1}: worker{victim} during a rebalance")
                else:
                    victim = 0
                    moment = await _kill_when(mode, rng, settings, cluster, 0)
                    killed_at = time.monotonic()
                    out.notes.append(f"kill {k + 1}: {moment}")
                cluster.start(victim)  # what a supervisor does
                await cluster.wait_ready(victim)
                out.recovery_s.append(time.monotonic() - killed_at)
            await producing
        finally:
            if not producing.done():
                producing.cancel()
        out.kills = cluster.kills
        out.verdict = await h.settle(settings, exp, [cluster.base_url(s) for s in slots])
        if out.verdict.timed_out:
            out.notes.extend(f"stacks: {path}" for path in await asyncio.to_thread(cluster.dump_stacks))
    return out


async def skipped_offsets(env: Env, seed: int, *, n_events: int = 20) -> Outcome:
    """The group's committed offsets moved past observations nobody applied, as a SIGKILL or a
    rebalance can leave them (Faust acknowledges records it buffered when a rebalance starts): the
    board must read them back from the broker, and the tables must equal the fold of everything."""
    cycles_obs = h.observations(seed, n_events, 4, h.base_time())
    exp = h.Expected.fold(o for batch in cycles_obs for o in batch)
    out = Outcome(fault="offsets committed past unapplied records", events=exp.observed)
    async with _trial(env, f"skipped-{seed}") as (settings, cluster):

        async def through() -> bool:
            return not any((await h.lag(settings)).values())

        cluster.start(0)
        await cluster.wait_ready(0)
        await h.produce_paced(settings, cycles_obs[:2], pace_s=0.5)
        assert await h.until(through, 90), "the first two cycles were not ingested"
        await asyncio.to_thread(cluster.procs[0].stop, 20.0)
        await h.produce_paced(settings, cycles_obs[2:3], pace_s=0.0)
        skipped = await h.commit_to_end(settings.kafka_bootstrap, settings.app_id, settings.topic("odds.observed"))
        out.extra["skipped"] = skipped
        out.notes.append(f"{skipped} observations behind the committed offsets, never applied")
        cluster.start(0)
        await cluster.wait_ready(0)
        await h.produce_paced(settings, cycles_obs[3:], pace_s=0.0)
        out.verdict = await h.settle(settings, exp, [cluster.base_url(0)])
        if out.verdict.timed_out:
            out.notes.extend(f"stacks: {path}" for path in await asyncio.to_thread(cluster.dump_stacks))
    return out


async def failover(env: Env, seed: int, *, n_events: int = 30, cycles: int = 4, n_runs: int = 8) -> Outcome:
    """Two workers; one is SIGKILLed for good. The survivor takes every partition, table shard
    and route; nothing is lost; each silent run is reported stale exactly once."""
    rng = random.Random(seed)
    cycles_obs = h.observations(seed, n_events, cycles, h.base_time())
    exp = h.Expected.fold(o for batch in cycles_obs for o in batch)
    out = Outcome(fault="failover (1 of 2 killed)", events=exp.observed)
    extra = {"ODDSTREAM_STALE_AFTER_S": "4", "ODDSTREAM_STALE_CHECK_INTERVAL_S": "0.5"}
    async with _trial(env, f"failover-{seed}", **extra) as (settings, cluster):
        cluster.start(0)
        cluster.start(1)
        await cluster.wait_ready(0)
        await cluster.wait_ready(1)
        # both must hold partitions before the kill, or there is nothing to fail over
        split = await h.until(lambda: _both_hold_partitions(cluster), 60)
        out.notes.append(f"both workers held partitions before the kill: {split}")
        run_ids = [f"run-{seed}-{i}" for i in range(n_runs)]
        now = utc_now()
        await h.produce(
            settings.kafka_bootstrap,
            settings.topic("odds.runs"),
            [(r.encode(), _run_started(r, now)) for r in run_ids],
        )
        producing = asyncio.create_task(h.produce_paced(settings, cycles_obs, pace_s=1.0))
        await asyncio.sleep(rng.uniform(0.5, 2.5))
        victim = rng.choice([0, 1])
        survivor = 1 - victim
        _, before = await asyncio.to_thread(h.http_json, f"{cluster.base_url(victim)}/health")
        killed_at = time.monotonic()
        cluster.kill(victim)
        out.kills = 1
        await producing

        async def takes_all() -> bool:
            code, body = await asyncio.to_thread(h.http_json, f"{cluster.base_url(survivor)}/health")
            return (
                code == 200 and body.get("ready") and body.get("partitions") == list(range(settings.topic_partitions))
            )

        took_all = await h.until(takes_all, 90, every_s=0.25)
        out.recovery_s.append(time.monotonic() - killed_at)
        out.notes.append(
            f"worker{victim} held partitions {before.get('partitions') if isinstance(before, dict) else before};"
            f" worker{survivor} took all {settings.topic_partitions}: {took_all}"
        )
        out.verdict = await h.settle(settings, exp, [cluster.base_url(survivor)])
        if out.verdict.timed_out:
            out.notes.extend(f"stacks: {path}" for path in await asyncio.to_thread(cluster.dump_stacks))
        if not took_all:
            out.verdict.wrong_live += 1
            out.verdict.note("the survivor never owned every partition")

        async def all_stale() -> bool:
            for r in run_ids:
                code, body = await asyncio.to_thread(h.http_json, f"{cluster.base_url(survivor)}/runs/{r}")
                if code != 200 or body.get("status") != "stale":
                    return False
            return True

        stale_ok = await h.until(all_stale, 60)
        await asyncio.sleep(2.0)  # several more watchdog periods
        counts = await stale_counts(settings)
        out.extra["stale_counts"] = dict(counts)
        twice = {r: n for r, n in counts.items() if n > 1}
        never = [r for r in run_ids if counts.get(r, 0) == 0]
        out.notes.append(f"runs stale: {len(counts)} of {n_runs}; twice or more: {twice or 'none'}")
        if twice or never or not stale_ok:
            out.verdict.doubled += sum(n - 1 for n in twice.values())
            out.verdict.lost += len(never)
            out.verdict.note(f"stale runs: twice {twice}, never {never}")
    return out


async def _both_hold_partitions(cluster: h.Cluster) -> bool:
    for slot in (0, 1):
        code, body = await asyncio.to_thread(h.http_json, f"{cluster.base_url(slot)}/health")
        if code != 200 or not body.get("partitions") or not body.get("ready"):
            return False
    return True


def _run_started(run_id: str, at: Any) -> bytes:
    import json

    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "RunStarted",
            "schema_version": 1,
            "occurred_at": at.isoformat(),
            "run_id": run_id,
            "trigger": "schedule",
        }
    ).encode()


async def _block_database(admin_dsn: str, database_url: str, seconds: float) -> int:
    """Refuse every connection to this database for ``seconds``: no new ones (ALLOW_CONNECTIONS
    false), and every open one terminated, again and again. Returns the backends terminated."""
    name = database_url.rpartition("/")[2]
    conn = await asyncpg.connect(admin_dsn)
    killed = 0
    try:
        await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            killed += int(
                await conn.fetchval(
                    "select count(pg_terminate_backend(pid)) from pg_stat_activity where datname = $1", name
                )
            )
            await asyncio.sleep(0.1)
    finally:
        await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        await conn.close()
    return killed


async def database_outage(
    env: Env, seed: int, *, seconds: float = 30.0, n_events: int = 30, cycles: int = 6
) -> Outcome:
    """PostgreSQL refuses this database for ``seconds`` while the stream is ingested.

    Meanwhile the board must keep serving every event from its table and ``/health`` must answer
    503 naming the database; afterwards everything must catch up with nothing lost.
    """
    cycles_obs = h.observations(seed, n_events, cycles, h.base_time())
    exp = h.Expected.fold(o for batch in cycles_obs for o in batch)
    out = Outcome(fault=f"PostgreSQL refused {seconds:.0f} s", events=exp.observed)
    async with _trial(env, f"db-outage-{seed}") as (settings, cluster):
        cluster.start(0)
        await cluster.wait_ready(0)
        base = cluster.base_url(0)
        first, rest = cycles_obs[:2], cycles_obs[2:]
        await h.produce_paced(settings, first, pace_s=0.5)
        blocking = asyncio.create_task(_block_database(env.admin_dsn, settings.database_url or "", seconds))
        await asyncio.sleep(1.0)
        producing = asyncio.create_task(h.produce_paced(settings, rest, pace_s=seconds / max(len(rest) * 2, 1)))
        health_codes: list[int] = []
        down_db: list[bool] = []
        board_ok = board_total = 0
        ids = exp.sportradar_ids
        while not blocking.done():
            code, body = await asyncio.to_thread(h.http_json, f"{base}/health", 5.0)
            health_codes.append(code)
            down_db.append(isinstance(body, dict) and "database" in (body.get("down") or {}))
            for sr in random.Random(len(health_codes)).sample(ids, 3):
                board_total += 1
                c, _ = await asyncio.to_thread(h.http_json, f"{base}/odds/events/{sr}", 5.0)
                board_ok += c == 200
            await asyncio.sleep(0.5)
        killed = await blocking
        back_at = time.monotonic()
        await producing
        during = [c for c, d in zip(health_codes[2:], down_db[2:], strict=True) if c == 503 and d]
        out.notes.append(
            f"backends terminated {killed}; /health during the outage: {len(during)} of {len(health_codes[2:])}"
            f" answers 503 naming the database; board answered {board_ok} of {board_total} requests"
        )
        out.extra.update(health_503=len(during), health_checks=len(health_codes[2:]), board_ok=board_ok)
        out.extra["board_total"] = board_total
        out.extra["retry_logged"] = "projection write failed, retrying" in cluster.log_text()

        async def healthy() -> bool:
            code, _ = await asyncio.to_thread(h.http_json, f"{base}/health", 5.0)
            return code == 200

        await h.until(healthy, 60, every_s=0.25)
        out.verdict = await h.settle(settings, exp, [base])
        out.recovery_s.append(time.monotonic() - back_at)
    return out


GARBAGE_TOPICS: dict[str, tuple[str, ...]] = {
    "odds.observed": ("OddsObserved",),
    "odds.changes": ("OddsChanged",),
    "odds.runs": ("RunStarted", "RunHeartbeat", "RunCompleted", "RunFailed", "RunStale"),
}


def garbage(rng: random.Random, valid: bytes) -> bytes:
    """One hostile record: random bytes, a cut-off or bent copy of a valid one, or the wrong shape."""
    import json

    kind = rng.randrange(6)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 300))
    if kind == 1:
        return valid[: rng.randrange(1, len(valid))]
    body = json.loads(valid)
    if kind == 2:
        body["occurred_at"] = body["occurred_at"][:19]  # naive
    elif kind == 3:
        body[rng.choice(sorted(body))] = rng.choice([None, 7, "x", [], {}])
    elif kind == 4:
        body["event_type"] = rng.choice(["OddsObserved", "RunStarted", "Nope", 3])
    else:
        return json.dumps([body]).encode()
    return json.dumps(body).encode()


async def hostile_records(env: Env, seed: int, *, n_garbage: int = 60, n_events: int = 20, cycles: int = 3) -> Outcome:
    """Hostile records interleaved with a known stream on every consumed topic: no worker dies,
    every rejected record is dead-lettered once with its reason, the valid stream is all kept."""
    from aiokafka import AIOKafkaProducer

    from streams.events import EVENT_TYPES, InvalidEvent, decode, encode

    rng = random.Random(seed)
    cycles_obs = h.observations(seed, n_events, cycles, h.base_time())
    exp = h.Expected.fold(o for batch in cycles_obs for o in batch)
    out = Outcome(fault="hostile records on topics", events=exp.observed)
    sample = encode(cycles_obs[0][0])
    async with _trial(env, f"hostile-{seed}") as (settings, cluster):
        worker = cluster.start(0)
        await cluster.wait_ready(0)
        producing = asyncio.create_task(h.produce_paced(settings, cycles_obs, pace_s=1.0))
        sent: dict[tuple[str, int, int], str | None] = {}  # where -> the reason a consumer must give
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        await producer.start()
        try:
            for _ in range(n_garbage):
                topic = rng.choice(sorted(GARBAGE_TOPICS))
                value = garbage(rng, sample)
                try:
                    decode(value, [EVENT_TYPES[t] for t in GARBAGE_TOPICS[topic]])
                    reason = None  # valid after all: nothing to letter
                except InvalidEvent as exc:
                    reason = exc.reason
                key = rng.choice([None, b"", rng.randbytes(8), b"70000001"])
                meta = await producer.send_and_wait(settings.topic(topic), value, key=key)
                sent[(settings.topic(topic), meta.partition, meta.offset)] = reason
                await asyncio.sleep(0.02)
        finally:
            await producer.stop()
        await producing
        invalid = {k: r for k, r in sent.items() if r is not None}
        letters: dict[tuple[str, int, int], set[str]] = {}
        errors: dict[tuple[str, int, int], str] = {}

        async def all_lettered() -> bool:
            for d in await _dead_letters(settings):
                where = (d["source_topic"], d["partition"], d["offset"])
                letters.setdefault(where, set()).add(d["event_id"])
                errors[where] = d["error"]
            return invalid.keys() <= letters.keys()

        await h.until(all_lettered, 60)
        out.verdict = await h.settle(settings, exp, [cluster.base_url(0)])
        unexplained = [w for w in invalid if not errors.get(w, "").strip()]
        twice = [w for w, ids in letters.items() if len(ids) > 1]
        stray = [w for w in letters if w not in invalid]
        out.verdict.lost += len(unexplained)
        out.verdict.doubled += len(twice) + len(stray)
        for w in unexplained[:3]:
            out.verdict.note(f"rejected without a dead letter or reason: {w}")
        reasons = Counter(errors[w].split(":")[0][:40] for w in invalid if w in errors)
        out.notes.append(
            f"{len(sent)} hostile records, {len(invalid)} invalid, {len(invalid) - len(unexplained)} dead-lettered"
            f" with a reason; worker alive: {worker.is_alive()}; reasons: {dict(reasons.most_common(6))}"
        )
        out.extra.update(sent=len(sent), invalid=len(invalid), unexplained=len(unexplained), alive=worker.is_alive())
    return out


async def _dead_letters(settings: h.Settings) -> list[dict[str, Any]]:
    import json

    return [json.loads(v) for v in await read_until_quiet(settings, "odds.dead-letters")]


def _restart_kafka(broker: Any, down_s: float) -> Any:
    """Stop ``broker`` (SIGTERM, a clean shutdown) and start it again on the same port and log
    dirs after ``down_s``: the same broker with its data, as a restarted server would be."""
    from oddstream.runtime import kafka_jvm
    from oddstream.runtime.procs import EmbeddedBroker, ManagedProcess, wait_for_kafka

    broker.stop(30.0)
    time.sleep(down_s)
    work = broker.work_dir
    argv = kafka_jvm._java_cmd(kafka_jvm.resolve_jars(), work / "log4j.properties", "kafka.Kafka")
    proc = ManagedProcess([*argv, str(work / "server.properties")], log_path=work / "kafka.out", name="kafka", cwd=work)
    again = EmbeddedBroker(
        kind=broker.kind, version=broker.version, host=broker.host, port=broker.port, process=proc, work_dir=work
    )
    wait_for_kafka(again.bootstrap, 90.0, proc)
    return again


async def broker_restart(env: Env, seed: int, *, down_s: float = 10.0, n_events: int = 30, cycles: int = 6) -> Outcome:
    """Apache Kafka (its own instance, data on disk) stopped for ``down_s`` mid-ingest and started
    again. What the worker does is recorded as it happens: it rides the restart out, or it exits
    and is restarted the way a supervisor would; then the result is judged like every other."""
    from oddstream.runtime.kafka_jvm import start_kafka

    cycles_obs = h.observations(seed, n_events, cycles, h.base_time())
    exp = h.Expected.fold(o for batch in cycles_obs for o in batch)
    out = Outcome(fault=f"broker restart ({down_s:.0f} s down)", events=exp.observed)
    broker = await asyncio.to_thread(start_kafka, env.work_dir / f"kafka-restart-{seed}")
    try:
        own = Env(kafka_url=broker.url, admin_dsn=env.admin_dsn, work_dir=env.work_dir)
        async with _trial(own, f"broker-restart-{seed}") as (settings, cluster):
            worker = cluster.start(0)
            await cluster.wait_ready(0)
            half = len(cycles_obs) // 2
            await h.produce_paced(settings, cycles_obs[:half], pace_s=1.0)
            stopped_at = time.monotonic()
            broker = await asyncio.to_thread(_restart_kafka, broker, down_s)
            back_at = time.monotonic()
            out.notes.append(f"broker down {back_at - stopped_at:.1f} s (stop, {down_s:.0f} s, start)")
            await h.produce_paced(settings, cycles_obs[half:], pace_s=1.0)
            deadline = time.monotonic() + 60
            recovered = False
            while time.monotonic() < deadline and worker.is_alive():
                code, body = await asyncio.to_thread(h.http_json, f"{cluster.base_url(0)}/health", 3.0)
                if code == 200 and body.get("ready") and not any((await h.lag(settings)).values()):
                    recovered = True
                    break
                await asyncio.sleep(0.5)
            if worker.is_alive() and recovered:
                out.notes.append("the worker stayed up and reconnected by itself")
            else:
                tail = " | ".join(worker.log_tail(3).splitlines())[-400:]
                how = f"exited with code {worker.returncode}" if not worker.is_alive() else "stayed up but stuck"
                out.notes.append(f"the worker {how}; last log lines: {tail}; restarted as a supervisor would")
                if worker.is_alive():
                    cluster.kill(0)
                cluster.start(0)
                await cluster.wait_ready(0)
            out.extra["reconnected"] = recovered
            out.recovery_s.append(time.monotonic() - back_at)
            out.verdict = await h.settle(settings, exp, [cluster.base_url(0)])
    finally:
        await asyncio.to_thread(broker.stop)
    return out


class _BadBookmaker:
    """A bookmaker server that misbehaves for a whole run: ``hang`` (accepts, never answers),
    ``403`` (every request forbidden) or ``garbage`` (200 with bytes that are not the API)."""

    def __init__(self, kind: str, seed: int) -> None:
        self.kind = kind
        self.rng = random.Random(seed)
        self.requests = 0
        self._runner: Any = None
        self._sock: Any = None
        self.url = ""

    async def start(self) -> str:
        import socket

        from aiohttp import web

        if self.kind == "hang":
            self._sock = socket.socket()
            self._sock.bind(("127.0.0.1", 0))
            self._sock.listen(256)
            self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
            return self.url

        async def answer(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            if self.kind == "403":
                return web.Response(status=403, text="<html>Forbidden</html>", content_type="text/html")
            body = self.rng.choice(
                [self.rng.randbytes(self.rng.randrange(1, 200)), b'{"data": {"events": [', b"[]", b"null", b'{"R":"E"}']
            )
            return web.Response(status=200, body=body, content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._sock is not None:
            self._sock.close()


async def _observed_by_run(settings: Any) -> dict[str, dict[str, set[str]]]:
    """run_id -> bookmaker -> the SportRadar ids observed, from ``odds.observed``."""
    import json

    out: dict[str, dict[str, set[str]]] = {}
    for value in await read_until_quiet(settings, "odds.observed"):
        body = json.loads(value)
        out.setdefault(body["run_id"], {}).setdefault(body["bookmaker"], set()).add(body["sportradar_id"])
    return out


async def bad_bookmaker(env: Env, kind: str, bookmaker: str, *, n_events: int = 30) -> Outcome:
    """One bookmaker hangs, answers 403 or garbage for a whole run; the run completes or fails
    with the reason, and the other bookmakers' observations are exactly those of a clean run."""
    import json
    import sys

    from oddstream.runtime.procs import ManagedProcess, free_port, wait_for_tcp

    out = Outcome(fault=f"{bookmaker} {kind} for a whole run")
    bad = _BadBookmaker(kind, seed=len(kind))
    async with _trial(env, f"bookmaker-{kind}", ODDSTREAM_STALE_AFTER_S="20") as (settings, cluster):
        port = free_port()
        env_vars = {**cluster_env(), **settings.to_child_env(), "ODDSTREAM_SIMULATOR_LATENCY": "0"}
        sim = ManagedProcess(
            [sys.executable, "-m", "oddstream.cli", "simulate", "--port", str(port), "--events", str(n_events)],
            log_path=cluster.logs / "simulator.log",
            name="simulator",
            env=env_vars,
        )
        try:
            await asyncio.to_thread(wait_for_tcp, "127.0.0.1", port, 30.0, sim)
            good = f"http://127.0.0.1:{port}"
            bad_url = await bad.start()
            urls = {bm: good for bm in NAMES}
            cluster.settings = settings.with_(bookmaker_urls={**urls, bookmaker: bad_url})
            cluster.slots.clear()
            cluster.start(0)
            await cluster.wait_ready(0)
            started = time.monotonic()
            faulty = await _scrape(cluster.slot_settings(0), timeout_s=240)
            out.recovery_s.append(time.monotonic() - started)
            out.notes.append(f"faulty run: exit {faulty[0]}, {faulty[2].strip()[-300:] or faulty[1].strip()}")
            code, run = await _final_run(f"{cluster.base_url(0)}/runs/{faulty[1].strip()}")
            out.extra["run"] = run if code == 200 else None
            if code == 200:
                out.notes.append(f"run {run.get('status')}, errors: {json.dumps(run.get('errors'))[:300]}")
            # the same world scraped cleanly by a second worker configuration: the reference
            await asyncio.to_thread(cluster.procs[0].stop, 20.0)
            cluster.settings = settings.with_(bookmaker_urls=urls)
            cluster.slots.clear()
            cluster.start(0)
            await cluster.wait_ready(0)
            clean = await _scrape(cluster.slot_settings(0), timeout_s=240)
            by_run = await _observed_by_run(settings)
            faulty_obs = by_run.get(faulty[1].strip(), {})
            clean_obs = by_run.get(clean[1].strip(), {})
            others = [bm for bm in urls if bm != bookmaker]
            out.events = sum(len(faulty_obs.get(bm, ())) for bm in others)
            for bm in others:
                missing = clean_obs.get(bm, set()) - faulty_obs.get(bm, set())
                out.verdict.lost += len(missing)
                if missing:
                    out.verdict.note(f"{bm}: {len(missing)} boards of the clean run missing from the faulty run")
            out.extra.update(
                exit=faulty[0],
                faulty_counts={bm: len(v) for bm, v in faulty_obs.items()},
                clean_counts={bm: len(v) for bm, v in clean_obs.items()},
                bad_requests=bad.requests,
            )
            out.notes.append(
                f"boards per bookmaker, faulty run {out.extra['faulty_counts']}, clean run {out.extra['clean_counts']}"
            )
        finally:
            await bad.stop()
            await asyncio.to_thread(sim.stop, 10.0)
    return out


def cluster_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}


async def _final_run(url: str, deadline_s: float = 30.0) -> tuple[int, Any]:
    """``GET url`` (a ``/runs/{id}`` view) once the run's status is final, or as served at the
    deadline. ``scrape --wait`` returns when it reads the run's end on ``odds.runs``; the worker's
    runs table applies that same record a moment later, so the view is read until it has."""
    end = time.monotonic() + deadline_s
    while True:
        code, run = await asyncio.to_thread(h.http_json, url)
        if (code == 200 and run.get("status") in ("completed", "failed")) or time.monotonic() > end:
            return code, run
        await asyncio.sleep(0.2)


async def _scrape(settings: Any, timeout_s: float) -> tuple[int, str, str]:
    import subprocess
    import sys

    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "oddstream.cli", "scrape", "--wait", "--timeout", str(timeout_s)],
        env={**cluster_env(), **settings.to_child_env()},
        capture_output=True,
        text=True,
        timeout=timeout_s + 60,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr
