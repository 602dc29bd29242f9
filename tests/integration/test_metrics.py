"""``GET /metrics`` on real parts, parsed with Prometheus' own text parser; one worker, then two."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from oddstream.runtime.procs import free_port
from streams.settings import Settings
from tests.integration.conftest import Processes, get_json, wait_http

pytestmark = pytest.mark.integration

N_EVENTS = 30

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape_metrics(base: str) -> Samples:
    """Every sample of ``base``/metrics by sample name, parsed by prometheus_client's parser."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = resp.read().decode()
    out: Samples = defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].append((dict(sample.labels), float(sample.value)))
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(v for ls, v in samples.get(name, []) if all(ls.get(k) == want for k, want in labels.items()))


async def _until(predicate: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.5)


async def _observed_rows(settings: Settings) -> int:
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return int(await conn.fetchval("select count(*) from sport_events"))
    finally:
        await conn.close()


async def test_metrics_count_what_a_scrape_did(procs: Processes, settings: Settings) -> None:
    sim = procs.simulator(events=N_EVENTS)
    settings = settings.with_(bookmaker_urls={"betpawa": sim, "sportybet": sim, "bet9ja": sim})
    procs.settings = settings
    procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"
    worker = f"http://127.0.0.1:{settings.web_port}"
    wait_http(f"{base}/health", 60)

    before = scrape_metrics(base)
    assert value(before, "oddstream_scrape_requests_total") == 0
    assert value(before, "oddstream_runs", status="completed") == 0

    done = await asyncio.to_thread(procs.run, "scrape", "--wait", "--timeout", "120")
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    # the command follows odds.runs; the runs table folds the same events a moment later
    run = await _until(lambda: (r := get_json(f"{base}/runs/{run_id}")[1]) and r.get("status") == "completed" and r, 30)
    assert run, get_json(f"{base}/runs/{run_id}")
    observed = int(run["observed"])
    assert observed >= N_EVENTS  # every BetPawa event, plus the other books' matches
    observed_topic = settings.topic("odds.observed")
    changes_topic = settings.topic("odds.changes")

    def projected() -> Samples | None:
        m = scrape_metrics(base)
        done_observed = value(m, "oddstream_projection_batch_records_sum", projection="odds-observed")
        done_changes = value(m, "oddstream_projection_batch_records_sum", projection="odds-changes")
        return m if done_observed >= observed and done_changes >= observed else None

    m = await _until(projected, 60)
    assert m is not None, dict(scrape_metrics(base))

    # every sample names this worker
    assert {ls["worker"] for name in m for ls, _ in m[name]} == {worker}
    # the scrape: one OddsObserved per board, each produced once by this worker's scrape agent
    assert value(m, "oddstream_events_produced_total", topic=observed_topic) == observed
    assert value(m, "oddstream_events_consumed_total", topic=observed_topic) == observed
    # a first sight of every board changes every board: one OddsChanged each
    assert value(m, "oddstream_events_produced_total", topic=changes_topic) == observed
    # the projections wrote every record exactly once, in batches
    assert value(m, "oddstream_projection_batch_records_sum", projection="odds-observed") == observed
    assert value(m, "oddstream_projection_events_applied_total", projection="odds-changes") == observed
    assert value(m, "oddstream_projection_batch_seconds_count", projection="odds-changes") >= 1
    # BetPawa: one detail request per event it has, all answered, each timed
    assert value(m, "oddstream_scrape_requests_total", bookmaker="betpawa", endpoint="event", outcome="ok") == N_EVENTS
    assert value(m, "oddstream_scrape_request_seconds_count", bookmaker="betpawa", endpoint="event") == N_EVENTS
    for book in ("sportybet", "bet9ja"):
        assert value(m, "oddstream_scrape_requests_total", bookmaker=book, outcome="ok") >= 1, book
    assert value(m, "oddstream_runs", status="completed") == 1
    assert value(m, "oddstream_runs", status="running") == 0
    boards = value(m, "oddstream_table_keys", table="boards")
    assert boards == observed
    # lag: one series per assigned partition of each topic; caught up once the projections are
    lag = {(ls["topic"], ls["partition"]) for ls, _ in m["oddstream_consumer_lag"]}
    assert {(observed_topic, str(p)) for p in range(settings.topic_partitions)} <= lag
    assert value(m, "oddstream_consumer_lag", topic=changes_topic) == 0
    assert await _observed_rows(settings) >= N_EVENTS

    # a record no consumer can accept: counted as a dead letter once the dead-letter agent indexed it
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(observed_topic, b"not json", key=b"1")
    finally:
        await producer.stop()

    def lettered() -> bool:
        return value(scrape_metrics(base), "oddstream_dead_letters", source_topic=observed_topic) == 1

    assert await _until(lettered, 30), scrape_metrics(base).get("oddstream_dead_letters")


@pytest.fixture(params=["session-broker", "embedded-tansu"])
def two_worker_settings(
    request: pytest.FixtureRequest, settings: Settings, procs: Processes, tmp_path: Path
) -> Iterator[Settings]:
    """The session's broker (Apache Kafka in CI), and the embedded Tansu broker of `oddstream up`."""
    if request.param == "session-broker":
        yield settings
        return
    from oddstream.runtime.tansu import start_tansu

    tansu = start_tansu(tmp_path / "tansu")
    try:
        yield settings.with_(kafka_url=tansu.url)
    finally:
        procs.stop_all()  # the workers first: against a broker that is gone, each would take its whole timeout
        tansu.stop()


async def test_two_workers_split_partitions_and_both_serve_metrics(
    procs: Processes, two_worker_settings: Settings
) -> None:
    settings = two_worker_settings
    sim = procs.simulator(events=N_EVENTS)
    first = settings.with_(bookmaker_urls={"betpawa": sim})
    second = first.with_(web_port=free_port())
    procs.worker(first)
    procs.worker(second)
    bases = [f"http://127.0.0.1:{s.web_port}" for s in (first, second)]
    partitions = set(range(settings.topic_partitions))

    def split() -> list[set[int]] | None:
        healths = [get_json(f"{b}/health")[1] for b in bases]
        owned = [set(h["partitions"]) for h in healths]
        if all(h.get("ready") for h in healths) and all(owned) and not owned[0] & owned[1]:
            return owned if owned[0] | owned[1] == partitions else None
        return None

    owned = await _until(split, 120)
    assert owned is not None, [get_json(f"{b}/health")[1] for b in bases]

    done = await asyncio.to_thread(
        procs.run, "scrape", "--bookmaker", "betpawa", "--wait", "--timeout", "120", settings=first
    )
    assert done.returncode == 0, done.stderr
    observed_topic = settings.topic("odds.observed")

    def boards_total() -> list[Samples] | None:
        ms = [scrape_metrics(b) for b in bases]
        total = sum(value(m, "oddstream_table_keys", table="boards") for m in ms)
        applied = sum(value(m, "oddstream_projection_events_applied_total", projection="odds-observed") for m in ms)
        return ms if total == N_EVENTS and applied == N_EVENTS else None

    ms = await _until(boards_total, 90)
    assert ms is not None, [dict(scrape_metrics(b)) for b in bases]
    for base, m, mine in zip(bases, ms, owned, strict=True):
        # each worker labels its samples with itself, and reports lag for exactly its partitions
        assert {ls["worker"] for name in m for ls, _ in m[name]} == {base}
        lag_parts = {int(ls["partition"]) for ls, _ in m["oddstream_consumer_lag"] if ls["topic"] == observed_topic}
        assert lag_parts == mine
        # both consumed part of the scrape: a worker owning partitions got records of them
        assert value(m, "oddstream_events_consumed_total", topic=observed_topic) > 0
    consumed = sum(value(m, "oddstream_events_consumed_total", topic=observed_topic) for m in ms)
    assert consumed == N_EVENTS
