"""Fault injection against real workers, a real broker and a real PostgreSQL, and the verdict.

Shared by ``tests/reliability`` and ``bench.reliability``. The pieces:

- ``observations``: a deterministic stream of ``OddsObserved`` (seeded): per cycle every bookmaker
  observes every event; quotes are re-priced, suspended, withdrawn and brought back.
- ``Expected``: the fold of that stream with the board's pure rules (``agents.odds_rules``): the
  ``OddsChanged`` a board must derive, hence the rows ``odds_history`` must hold, and the
  ``odds_current`` rows and live boards that must result. It never reads what the system wrote.
- ``Cluster``: ``oddstream worker`` processes in slots (fixed web port per slot), killed with
  SIGKILL and restarted the way a supervisor would.
- ``verdict``: the tables and the live views against the fold: lost, doubled, wrong rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from agents.odds_rules import apply_observation
from oddstream.runtime.procs import ManagedProcess, free_port
from streams.clock import format_ts, parse_ts
from streams.ends import log_ends
from streams.events import InvalidEvent, OddsChanged, OddsObserved, decode, derive_id, encode
from streams.markets import canonical_markets
from streams.settings import Settings
from streams.sources.registry import NAMES

BOOKMAKERS = NAMES
_MARKETS: tuple[tuple[str, str, float | None, tuple[str, ...]], ...] = (
    ("3743", "1X2", None, ("1", "X", "2")),
    ("5000", "Over/Under", 1.5, ("Over", "Under")),
    ("5000", "Over/Under", 2.5, ("Over", "Under")),
    ("5000", "Over/Under", 3.5, ("Over", "Under")),
    ("3795", "Both Teams To Score", None, ("Yes", "No")),
    ("4693", "Double Chance", None, ("1X", "12", "X2")),
)


# -- the stream ----------------------------------------------------------------------------------


def _price(rng: random.Random) -> float:
    return round(rng.uniform(1.05, 9.0), 2)


def observations(seed: int, n_events: int, cycles: int, t0: datetime) -> list[list[OddsObserved]]:
    """``cycles`` lists of ``n_events * 3`` observations; the same arguments give the same events.

    Each cycle about a third of the quotes move, a few get suspended, and a few are withdrawn from
    the board (and come back a cycle or two later), so the board emits changes, disappearances and
    reappearances. ``observed_at`` grows by a minute per cycle.
    """
    rng = random.Random(seed)
    state: dict[tuple[str, str], dict[int, list[dict[str, Any]] | None]] = {}
    out: list[list[OddsObserved]] = []
    for cycle in range(cycles):
        at = t0 + timedelta(minutes=cycle)
        run_id = derive_id("reliability-run", seed, cycle)
        batch: list[OddsObserved] = []
        for i in range(n_events):
            sr = str(70_000_000 + seed * 1000 + i)
            for b, bm in enumerate(BOOKMAKERS):
                board = state.setdefault((sr, bm), {})
                markets = []
                for m, (mid, name, line, names) in enumerate(_MARKETS):
                    held = board.get(m)
                    if cycle == 0 or (held is None and rng.random() < 0.5):
                        held = [{"name": n, "price": _price(rng), "suspended": False} for n in names]
                    elif held is not None and rng.random() < 0.05:
                        held = None  # withdrawn from the board
                    elif held is not None and rng.random() < 0.33:
                        held = [
                            {"name": o["name"], "price": _price(rng), "suspended": rng.random() < 0.05} for o in held
                        ]
                    board[m] = held
                    if held is not None:
                        markets.append({"market_id": mid, "market_name": name, "line": line, "outcomes": held})
                observed_at = at + timedelta(milliseconds=10 * i + b)
                batch.append(
                    OddsObserved(
                        event_id=derive_id("reliability-obs", seed, cycle, sr, bm),
                        occurred_at=observed_at,
                        run_id=run_id,
                        bookmaker=bm,
                        sportradar_id=sr,
                        bookmaker_event_id=f"{bm}-{sr}",
                        home_team=f"Home {i}",
                        away_team=f"Away {i}",
                        tournament="Reliability League",
                        kickoff_at=t0 + timedelta(days=1, minutes=i),
                        observed_at=observed_at,
                        markets=markets,
                    )
                )
        out.append(batch)
    return out


def base_time() -> datetime:
    """A recent whole hour (inside the history retention window)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


# -- the fold ------------------------------------------------------------------------------------

HKey = tuple[str, str, float | None]  # the contract's odds_history key: event_id, market_id, line
CKey = tuple[str, str, str, float | None]  # odds_current: bookmaker, sportradar_id, market_id, line


def _line(value: Any) -> float | None:
    return None if value is None else float(value)


@dataclass
class Expected:
    """What the tables and the live board must hold after ``observations`` were ingested once."""

    history: dict[HKey, tuple[Any, ...]] = field(default_factory=dict)
    current: dict[CKey, tuple[Any, ...]] = field(default_factory=dict)
    boards: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    confirmed: dict[tuple[str, str], str] = field(default_factory=dict)
    observed: int = 0

    @classmethod
    def fold(cls, stream: Iterable[OddsObserved]) -> Expected:
        exp = cls()
        for obs in stream:
            exp.observed += 1
            key = (obs.sportradar_id, obs.bookmaker)
            prev = exp.boards.get(key)
            at = format_ts(obs.observed_at)
            update = apply_observation(prev, exp.confirmed.get(key), canonical_markets(obs.markets), at)
            if update.stale:
                continue
            changed_id = derive_id("changed", obs.event_id)
            for ch in update.changes:
                line = _line(ch["line"])
                exp.history[(changed_id, str(ch["market_id"]), line)] = (
                    obs.sportradar_id,
                    obs.bookmaker,
                    ch["outcomes"],
                    ch["previous_outcomes"],
                    obs.observed_at,
                    obs.event_id,
                )
                exp.current[(obs.bookmaker, obs.sportradar_id, str(ch["market_id"]), line)] = (
                    ch["outcomes"],
                    obs.observed_at,
                    changed_id,
                )
            exp.boards[key] = update.quotes
            exp.confirmed[key] = at
        return exp

    def current_rows(self) -> dict[CKey, tuple[Any, ...]]:
        """``odds_current`` as the view defines it: outcomes, last_changed_at, last_confirmed_at."""
        rows = {}
        for (bm, sr, mid, line), (outcomes, changed_at, _change_id) in self.current.items():
            confirmed = parse_ts(self.confirmed[(sr, bm)])
            last_confirmed = confirmed if outcomes and confirmed > changed_at else changed_at
            rows[(bm, sr, mid, line)] = (outcomes, changed_at, last_confirmed)
        return rows

    @property
    def sportradar_ids(self) -> list[str]:
        return sorted({sr for sr, _ in self.boards})


# -- producing -----------------------------------------------------------------------------------


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    """Send every record (acks=all, idempotent) and wait for all of them; return how many."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    n = 0
    try:
        futures = []
        for key, value in records:
            futures.append(await producer.send(topic, value, key=key))
            n += 1
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return n


async def produce_paced(settings: Settings, cycles: list[list[OddsObserved]], pace_s: float) -> None:
    """One cycle every ``pace_s`` seconds onto ``odds.observed``, keyed by SportRadar id."""
    topic = settings.topic("odds.observed")
    started = time.monotonic()
    for c, batch in enumerate(cycles):
        await asyncio.sleep(max(0.0, started + c * pace_s - time.monotonic()))
        await produce(settings.kafka_bootstrap, topic, ((o.sportradar_id.encode(), encode(o)) for o in batch))


# -- databases and settings ------------------------------------------------------------------------


async def drop_database(admin_dsn: str, database_url: str) -> None:
    name = database_url.rpartition("/")[2]
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def dsn(settings: Settings) -> str:
    return (settings.database_url or "").replace("postgresql+asyncpg://", "postgresql://", 1)


def trial_settings(kafka_url: str, database_url: str, data_dir: Path, **extra: str) -> Settings:
    """Settings of one trial: its own topics, consumer group, database and data dir."""
    tag = uuid.uuid4().hex[:8]
    return Settings.from_env(
        {
            "ODDSTREAM_KAFKA_URL": kafka_url,
            "ODDSTREAM_DATABASE_URL": database_url,
            "ODDSTREAM_DATA_DIR": str(data_dir),
            "ODDSTREAM_WEB_PORT": str(free_port()),
            "ODDSTREAM_APP_ID": f"rel-{tag}",
            "ODDSTREAM_TOPIC_PREFIX": f"r{tag}.",
            "ODDSTREAM_TOPIC_PARTITIONS": "4",
            "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
            "ODDSTREAM_SESSION_TIMEOUT_S": "6",
            "ODDSTREAM_LOG_LEVEL": "INFO",
            **extra,
        }
    )


# -- workers -------------------------------------------------------------------------------------


def http_json(url: str, timeout_s: float = 10.0) -> tuple[int, Any]:
    """GET ``url``: (status, decoded body); (0, reason) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"null")
        except ValueError:
            return exc.code, body.decode("utf-8", "replace")
    except (OSError, ValueError) as exc:
        return 0, repr(exc)


class Cluster:
    """``oddstream worker`` processes, one per slot; each slot keeps its web port across restarts."""

    def __init__(self, settings: Settings, logs: Path) -> None:
        self.settings = settings
        self.logs = logs
        self.slots: dict[int, Settings] = {}
        self.procs: dict[int, ManagedProcess] = {}
        self.started = 0
        self.kills = 0

    def slot_settings(self, slot: int) -> Settings:
        if slot not in self.slots:
            port = self.settings.web_port if slot == 0 else free_port()
            self.slots[slot] = self.settings.with_(web_port=port)
        return self.slots[slot]

    def base_url(self, slot: int) -> str:
        return f"http://127.0.0.1:{self.slot_settings(slot).web_port}"

    def start(self, slot: int) -> ManagedProcess:
        s = self.slot_settings(slot)
        env = {k: v for k, v in os.environ.items() if not k.startswith("ODDSTREAM_")}
        proc = ManagedProcess(
            [sys.executable, "-m", "oddstream.cli", "worker"],
            log_path=self.logs / f"worker{slot}-{self.started}.log",
            name=f"worker{slot}",
            env={**env, **s.to_child_env()},
        )
        self.started += 1
        self.procs[slot] = proc
        return proc

    def kill(self, slot: int) -> None:
        """SIGKILL the worker's whole process group: no shutdown hook, no flush, no commit."""
        proc = self.procs[slot]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pgid, signal.SIGKILL)
        proc.wait(10)
        proc.stop(1.0)
        self.kills += 1

    async def wait_ready(self, slot: int, timeout_s: float = 120.0) -> float:
        """Until the slot's worker says ``ready`` with partitions; seconds waited."""
        started = time.monotonic()
        proc = self.procs[slot]
        last: Any = None
        while time.monotonic() - started < timeout_s:
            if not proc.is_alive():
                raise AssertionError(f"worker{slot} died:\n{proc.log_tail(60)}")
            code, body = await asyncio.to_thread(http_json, f"{self.base_url(slot)}/health", 3.0)
            last = (code, body)
            if code == 200 and body.get("ready") and body.get("partitions"):
                return time.monotonic() - started
            await asyncio.sleep(0.25)
        raise AssertionError(f"worker{slot} not ready after {timeout_s} s: {last}\n{proc.log_tail(40)}")

    def dump_stacks(self) -> list[str]:
        """Where each live worker's asyncio tasks (SIGUSR1, into its log) and threads (py-spy, when
        installed) are: what a stalled worker waits on. Returns the files written."""
        spy = Path(sys.executable).with_name("py-spy")
        out = []
        for proc in self.procs.values():
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGUSR1)
        time.sleep(1.0)
        for slot, proc in self.procs.items():
            out.append(str(proc.log_path))
            if not spy.exists() or not proc.is_alive():
                continue
            cmd = [str(spy), "dump", "--pid", str(proc.pid)]
            dump = subprocess.run(cmd, capture_output=True, text=True, check=False)
            path = self.logs / f"worker{slot}-stacks.txt"
            path.write_text(dump.stdout + dump.stderr)
            out.append(str(path))
        return out

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("worker*.log")))

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop(20.0)


# -- catching up ---------------------------------------------------------------------------------


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
    finally:
        await consumer.stop()
    ends = await log_ends(bootstrap, tps)  # true ends on Tansu too
    return {tp.partition: o for tp, o in ends.items()}


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}


async def commit_to_end(bootstrap: str, group: str, topic: str) -> int:
    """Move ``group``'s committed offsets of ``topic`` to its end while no member is running, as a
    crash or a rebalance can leave them; return how many records they skipped."""
    ends = await end_offsets(bootstrap, topic)
    before = await committed_offsets(bootstrap, group, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = {TopicPartition(topic, p): end for p, end in ends.items()}
        consumer.assign(list(tps))
        await consumer.commit(tps)
    finally:
        await consumer.stop()
    return sum(end - max(0, before.get(p, 0)) for p, end in ends.items())


async def progress(settings: Settings) -> dict[tuple[str, str, int], int]:
    conn = await asyncpg.connect(dsn(settings))
    try:
        rows = await conn.fetch('select projection, topic, partition, "offset" from projection_progress')
    except asyncpg.UndefinedTableError:
        return {}
    finally:
        await conn.close()
    return {(r["projection"], r["topic"], r["partition"]): int(r["offset"]) for r in rows}


async def lag(settings: Settings) -> dict[str, int]:
    """Records of ``odds.observed`` and ``odds.changes`` the workers have not committed yet.

    Faust commits a record's offset only once every agent reading it acknowledged it, and the
    projections acknowledge a batch after its transaction committed, so zero lag means the board
    and the projections are through (invalid records included, which leave no progress row).
    """
    boot = settings.kafka_bootstrap
    out = {}
    for name in ("odds.observed", "odds.changes"):
        topic = settings.topic(name)
        ends = await end_offsets(boot, topic)
        committed = await committed_offsets(boot, settings.app_id, topic)
        out[name] = sum(max(0, e - committed.get(p, 0)) for p, e in ends.items())
    return out


async def until(predicate: Callable[[], Awaitable[bool]], timeout_s: float, every_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(every_s)
    return False


# -- the verdict ---------------------------------------------------------------------------------


@dataclass
class Verdict:
    """The tables and the live board against the fold."""

    expected_rows: int = 0
    history_rows: int = 0
    lost: int = 0  # expected odds_history rows absent
    doubled: int = 0  # odds_history keys held more than once, plus rows no observation explains
    wrong_history: int = 0  # expected keys holding other values
    wrong_current: int = 0  # odds_current rows differing from the fold (missing, extra or other values)
    wrong_live: int = 0  # live board quotes differing from odds_current
    topic_lost: int = 0  # changes on odds.changes that odds_history lacks (the projection alone)
    topic_doubled: int = 0  # odds_history rows held twice or not on odds.changes (the projection alone)
    samples: list[str] = field(default_factory=list)
    timed_out: bool = False  # never caught up: the counts above are of a state still moving

    @property
    def clean(self) -> bool:
        return (
            self.projection_exact
            and not self.timed_out
            and not (self.lost or self.doubled or self.wrong_history or self.wrong_current or self.wrong_live)
        )

    @property
    def projection_exact(self) -> bool:
        """odds.changes -> odds_history exactly once, and the live board equal to odds_current."""
        return not (self.topic_lost or self.topic_doubled or self.wrong_live or self.timed_out)

    def note(self, line: str) -> None:
        if len(self.samples) < 8:
            self.samples.append(line)

    def __str__(self) -> str:
        head = (
            f"expected {self.expected_rows} history rows, table holds {self.history_rows}: lost {self.lost}, "
            f"doubled {self.doubled}, wrong history {self.wrong_history}, wrong current {self.wrong_current}, "
            f"wrong live {self.wrong_live}; against odds.changes: lost {self.topic_lost}, doubled {self.topic_doubled}"
            + ("; TIMED OUT" if self.timed_out else "")
        )
        return "\n".join([head, *self.samples])


def _json(value: Any) -> Any:
    return None if value is None else json.loads(value) if isinstance(value, str) else value


async def table_state(settings: Settings) -> tuple[list[tuple[Any, ...]], dict[CKey, tuple[Any, ...]]]:
    conn = await asyncpg.connect(dsn(settings))
    try:
        history = await conn.fetch(
            "select event_id::text as event_id, market_id, line, sportradar_id, bookmaker, outcomes,"
            " previous_outcomes, observed_at, caused_by::text as caused_by from odds_history"
        )
        current = await conn.fetch(
            "select bookmaker, sportradar_id, market_id, line, outcomes, last_changed_at, last_confirmed_at"
            " from odds_current"
        )
    finally:
        await conn.close()
    hist = [
        (
            (r["event_id"], r["market_id"], _line(r["line"])),
            (
                r["sportradar_id"],
                r["bookmaker"],
                _json(r["outcomes"]),
                _json(r["previous_outcomes"]),
                r["observed_at"],
                r["caused_by"],
            ),
        )
        for r in history
    ]
    cur = {
        (r["bookmaker"], r["sportradar_id"], r["market_id"], _line(r["line"])): (
            _json(r["outcomes"]),
            r["last_changed_at"],
            r["last_confirmed_at"],
        )
        for r in current
    }
    return hist, cur


def judge_tables(exp: Expected, hist: list[tuple[Any, ...]], cur: dict[CKey, tuple[Any, ...]]) -> Verdict:
    v = Verdict(expected_rows=len(exp.history), history_rows=len(hist))
    seen = Counter(k for k, _ in hist)
    for key, n in seen.items():
        if n > 1:
            v.doubled += n - 1
            v.note(f"history key held {n} times: {key}")
    for key, row in hist:
        want = exp.history.get(key)
        if want is None:
            v.doubled += 1
            known = sorted(k[1:] for k in exp.history if k[0] == key[0])
            v.note(f"history row no observation explains: {key} {row}; the fold has {known} for that event")
        elif want != row:
            v.wrong_history += 1
            v.note(f"history row {key}: expected {want}, found {row}")
    for key in exp.history.keys() - seen.keys():
        v.lost += 1
        v.note(f"history row lost: {key}")
    want_cur = exp.current_rows()
    for key in want_cur.keys() | cur.keys():
        if want_cur.get(key) != cur.get(key):
            v.wrong_current += 1
            v.note(f"odds_current {key}: expected {want_cur.get(key)}, found {cur.get(key)}")
    return v


def live_quotes(base_url: str, sportradar_id: str) -> dict[CKey, tuple[Any, ...]] | None:
    """One event's offered quotes as ``/odds/events/{id}`` serves them: outcomes, last change,
    confirmation (a market a bookmaker withdrew stays on the board with ``unavailable_since``)."""
    code, body = http_json(f"{base_url}/odds/events/{sportradar_id}")
    if code != 200:
        return None
    out: dict[CKey, tuple[Any, ...]] = {}
    for market in body["markets"]:
        for bm, q in market["bookmakers"].items():
            if q.get("unavailable_since"):  # withdrawn: kept on the board, not offered
                continue
            key = (bm, sportradar_id, str(market["market_id"]), _line(market["line"]))
            out[key] = (q["outcomes"], parse_ts(q["last_changed_at"]), parse_ts(q["observed_at"]))
    return out


async def judge_live(v: Verdict, base_urls: list[str], cur: dict[CKey, tuple[Any, ...]], ids: list[str]) -> None:
    """Every event through every worker's route: the board equals odds_current's offered quotes."""
    offered = {k: row for k, row in cur.items() if row[0]}
    for i, sr in enumerate(ids):
        base = base_urls[i % len(base_urls)]
        live = await asyncio.to_thread(live_quotes, base, sr)
        want = {k: row for k, row in offered.items() if k[1] == sr}
        if live is None:
            v.wrong_live += len(want) or 1
            v.note(f"{base}/odds/events/{sr} did not answer 200")
            continue
        for key in want.keys() | live.keys():
            if want.get(key) != live.get(key):
                v.wrong_live += 1
                v.note(f"live {key} via {base}: odds_current {want.get(key)}, board {live.get(key)}")


async def topic_history(settings: Settings) -> dict[HKey, tuple[Any, ...]]:
    """Every change on ``odds.changes`` (read to its end), as odds_history rows by contract key.

    The same key twice with different values (a board that emitted one event id with other
    content) keeps the first; ``judge_topic`` then finds the second as a wrong row.
    """
    topic = settings.topic("odds.changes")
    ends = await end_offsets(settings.kafka_bootstrap, topic)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await consumer.start()
    out: dict[HKey, tuple[Any, ...]] = {}
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp.partition]]:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for r in records:
                    try:
                        ev = decode(r.value, [OddsChanged])
                    except InvalidEvent:
                        continue  # dead-lettered by the projection, never a row
                    for ch in ev.changes:
                        key = (ev.event_id, str(ch["market_id"]), _line(ch["line"]))
                        out.setdefault(
                            key,
                            (
                                ev.sportradar_id,
                                ev.bookmaker,
                                ch["outcomes"],
                                ch.get("previous_outcomes"),
                                ev.observed_at,
                                ev.caused_by,
                            ),
                        )
    finally:
        await consumer.stop()
    return out


def judge_topic(v: Verdict, on_topic: dict[HKey, tuple[Any, ...]], hist: list[tuple[Any, ...]]) -> None:
    """The projection alone: odds_history holds each change on the topic exactly once."""
    held: dict[HKey, list[tuple[Any, ...]]] = {}
    for key, row in hist:
        held.setdefault(key, []).append(row)
    for key, rows in held.items():
        if len(rows) > 1 or on_topic.get(key) != rows[0]:
            v.topic_doubled += len(rows) - (on_topic.get(key) in rows)
            v.note(f"odds_history {key} not once as on odds.changes: {rows} vs {on_topic.get(key)}")
    for key in on_topic.keys() - held.keys():
        v.topic_lost += 1
        v.note(f"change on odds.changes missing from odds_history: {key}")


async def settle(settings: Settings, exp: Expected, base_urls: list[str], timeout_s: float = 120.0) -> Verdict:
    """Wait until everything produced is through and the tables agree; judge. The last verdict
    (with the lag) when time runs out."""
    verdict = Verdict()
    settled = 0  # consecutive checks with nothing in flight and the same verdict

    async def done() -> bool:
        nonlocal verdict, settled
        if any((await lag(settings)).values()):
            settled = 0
            return False
        hist, cur = await table_state(settings)
        latest = judge_tables(exp, hist, cur)
        judge_topic(latest, await topic_history(settings), hist)
        await judge_live(latest, base_urls, cur, exp.sportradar_ids)
        settled = settled + 1 if str(latest) == str(verdict) else 0
        verdict = latest
        return verdict.clean or settled >= 5  # a wrong state that no longer moves is the answer

    if not await until(done, timeout_s, every_s=1.0):
        remaining = await lag(settings)
        # the tables are judged all the same: a commit that never caught up is one defect, lost or
        # doubled rows another
        hist, cur = await table_state(settings)
        verdict = judge_tables(exp, hist, cur)
        judge_topic(verdict, await topic_history(settings), hist)
        await judge_live(verdict, base_urls, cur, exp.sportradar_ids)
        verdict.timed_out = True
        verdict.note(f"not settled after {timeout_s} s; lag: {remaining}")
    return verdict


# -- stale runs ----------------------------------------------------------------------------------
