"""A replay is right on every broker, or refuses.

The scenario a new user tried on the embedded default: 200 boards, the same 200 again, then 50
changed ones; ``oddstream replay --from-beginning`` must then give the tables the live
projections built, on Apache Kafka and on Tansu (whose ``ListOffsets`` answers below the true
end), or exit non-zero and leave the live tables as they were.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from oddstream.runtime.tansu import start_tansu
from projections.postgres import dsn_of
from streams.events import OddsObserved, derive_id, encode
from streams.settings import Settings
from tests.integration.conftest import Processes, caught_up
from tests.projection_world import snapshot

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
N_BOARDS = 200
N_CHANGED = 50


def _board(i: int, *, at: datetime, shift: float, tag: str) -> OddsObserved:
    sr = str(70_000_000 + i)
    home = round(1.5 + (i % 40) / 20 + shift, 2)
    return OddsObserved(
        event_id=derive_id("obs", tag, sr),
        occurred_at=at,
        run_id=derive_id("run", tag),
        bookmaker="betpawa",
        sportradar_id=sr,
        bookmaker_event_id=f"bp-{sr}",
        home_team=f"Home {i}",
        away_team=f"Away {i}",
        tournament="Replay League",
        kickoff_at=T0 + timedelta(days=2, minutes=i),
        observed_at=at,
        markets=[
            {
                "market_id": "3743",
                "market_name": "1X2",
                "line": None,
                "outcomes": [
                    {"name": "1", "price": home, "suspended": False},
                    {"name": "X", "price": 3.4, "suspended": False},
                    {"name": "2", "price": 4.1, "suspended": False},
                ],
            }
        ],
    )


def _scenario() -> list[list[OddsObserved]]:
    first = [_board(i, at=T0, shift=0.0, tag="first") for i in range(N_BOARDS)]
    changed = [_board(i, at=T0 + timedelta(minutes=10), shift=0.25, tag="changed") for i in range(N_CHANGED)]
    return [first, first, changed]  # the same 200 again: the same bytes, nothing new to the board


async def produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    """Send in batches of many records (Tansu's ``ListOffsets`` falls short by all but one of the
    newest batch's); not idempotent, which Tansu cannot grant."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20)
    await producer.start()
    try:
        await asyncio.gather(*[await producer.send(topic, value, key=key) for key, value in records])
    finally:
        await producer.stop()


async def _history_rows(settings: Settings) -> int:
    conn = await asyncpg.connect(dsn_of(settings.database_url or ""))
    try:
        return int(await conn.fetchval("select count(*) from odds_history"))
    except asyncpg.UndefinedTableError:
        return 0
    finally:
        await conn.close()


async def _until_rows(settings: Settings, n: int, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while (got := await _history_rows(settings)) < n:
        assert time.monotonic() < deadline, f"odds_history holds {got} rows after {timeout_s} s, not {n}"
        await asyncio.sleep(0.5)


@pytest.fixture
def on_broker(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Settings]]:
    kind: str = request.param
    if kind == "tansu":
        tansu = start_tansu(tmp_path / "tansu")
        try:
            yield kind, settings.with_(kafka_url=tansu.url)
        finally:
            tansu.stop()
        return
    yield kind, settings  # the kafka case is marked true_kafka: the suite's gate skips it (fails in CI) elsewhere


@pytest.mark.parametrize("on_broker", ["tansu", pytest.param("kafka", marks=pytest.mark.true_kafka)], indirect=True)
async def test_the_200_200_50_scenario_replays_equal_or_refuses(
    on_broker: tuple[str, Settings], procs: Processes
) -> None:
    kind, settings = on_broker
    procs.settings = settings
    procs.worker()
    topic = settings.topic("odds.observed")
    for cycle in _scenario():
        await produce(settings.kafka_bootstrap, topic, [(ev.key.encode(), encode(ev)) for ev in cycle])
    await _until_rows(settings, N_BOARDS + N_CHANGED)
    await caught_up(settings, {"odds-changes": ("odds.changes",), "odds-observed": ("odds.observed",)})
    dsn = dsn_of(settings.database_url or "")
    live = await snapshot(dsn)
    assert len(live["odds_history"]) == N_BOARDS + N_CHANGED
    moved = [r for r in live["odds_current"] if r[6] > T0]
    assert len(moved) == N_CHANGED, "the changed boards must show in the current prices"

    done = await asyncio.to_thread(procs.run, "replay", "--from-beginning", timeout_s=180)
    after = await snapshot(dsn)
    # equal tables whether it swapped or refused; and with the true ends it never needs to refuse
    assert after == live, f"{kind}: the live tables changed\n{done.stdout}\n{done.stderr[-2000:]}"
    assert done.returncode == 0, f"{kind}: the replay refused although the topics hold everything: {done.stderr}"


async def test_a_replay_from_a_log_that_lost_records_refuses_and_keeps_the_live_tables(
    settings: Settings, procs: Processes, tmp_path: Path
) -> None:
    """What a restarted memory-only broker does to a kept database: the topics start empty while
    the tables and their progress rows remain. A swap would lose every row; the replay refuses."""
    with start_tansu(tmp_path / "first") as first:
        procs.settings = settings.with_(kafka_url=first.url)
        procs.worker()
        cycle = _scenario()[0][:20]
        await produce(first.bootstrap, settings.topic("odds.observed"), [(e.key.encode(), encode(e)) for e in cycle])
        await _until_rows(settings, len(cycle))
        await caught_up(procs.settings, {"odds-changes": ("odds.changes",), "odds-observed": ("odds.observed",)})
        procs.stop_all()
    live = await snapshot(dsn_of(settings.database_url or ""))
    assert len(live["odds_history"]) == len(cycle)
    with start_tansu(tmp_path / "second") as second:
        done = await asyncio.to_thread(
            procs.run, "replay", "--from-beginning", timeout_s=180, settings=settings.with_(kafka_url=second.url)
        )
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr[-2000:])
    assert "refusing to swap" in done.stderr and "odds.changes" in done.stderr, done.stderr[-2000:]
    assert await snapshot(dsn_of(settings.database_url or "")) == live
