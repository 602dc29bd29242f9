"""Other teams' clients: librdkafka (confluent-kafka) produces into oddstream and reads it back.

librdkafka is an implementation of the Kafka protocol independent of aiokafka, which oddstream
uses; what it writes is hand-written JSON checked against the committed schemas only, with no
oddstream code involved on the producing side. What it reads back is decoded as plain JSON.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from jsonschema import Draft202012Validator

from streams.clock import utc_now
from streams.settings import Settings
from tests.integration.conftest import Processes, get_json

if TYPE_CHECKING:
    from tests.integration.conftest import TestBroker

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def schema_check(event_type: str, body: dict[str, Any]) -> list[str]:
    """What the committed schema of ``event_type`` v1 says is wrong with ``body`` (empty: valid)."""
    schema = json.loads((SCHEMAS / f"odds.{event_type}.v1.json").read_text(encoding="utf-8"))
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return [e.message for e in validator.iter_errors(body)]


def produce(settings: Settings, records: list[tuple[str, bytes | None, bytes]]) -> None:
    """Send ``(topic, key, value)`` records with librdkafka and wait until every one is acknowledged."""
    # murmur2_random: the Java client's partitioner, which oddstream's views assume (librdkafka's default is CRC32)
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "acks": "all", "linger.ms": 5, "partitioner": "murmur2_random"}
    )
    failures: list[str] = []

    def delivered(err: KafkaError | None, _msg: Any) -> None:
        if err is not None:
            failures.append(str(err))

    for topic, key, value in records:
        producer.produce(settings.topic(topic), value=value, key=key, on_delivery=delivered)
    assert producer.flush(30) == 0, "librdkafka could not deliver every record"
    assert failures == []


def read_assigned(settings: Settings, topic: str, want: Any, timeout_s: float = 30.0) -> list[dict[str, Any]]:
    """Every value of ``topic`` as plain JSON, read by a consumer that assigns all partitions itself."""
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": "unused-with-assign", "enable.auto.commit": False}
    )
    name = settings.topic(topic)
    try:
        meta = consumer.list_topics(name, timeout=10)
        partitions = sorted(meta.topics[name].partitions)
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in partitions])
        values: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not want(values):
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error() is None:
                    values.append(json.loads(msg.value()))
        return values
    finally:
        consumer.close()


def _ts(offset_h: int = 0) -> str:
    """Now as RFC 3339: with ``Z``, or with another offset (the same instant)."""
    now = utc_now().replace(microsecond=0)
    if offset_h == 0:
        return now.strftime("%Y-%m-%dT%H:%M:%SZ")
    from datetime import timezone

    return now.astimezone(timezone(timedelta(hours=offset_h))).isoformat()


def hand_written(run_id: str, sportradar_id: str) -> dict[str, dict[str, Any]]:
    kickoff = (utc_now() + timedelta(days=1)).replace(microsecond=0, second=0, minute=0)
    return {
        "RunStarted": {
            "event_id": str(uuid.uuid4()),
            "event_type": "RunStarted",
            "schema_version": 1,
            "occurred_at": _ts(),
            "run_id": run_id,
            "trigger": "api",
            "team": "pricing",  # a field oddstream does not know: additive, accepted
        },
        "OddsObserved": {
            "event_id": str(uuid.uuid4()),
            "event_type": "OddsObserved",
            "schema_version": 1,
            "occurred_at": _ts(1),
            "run_id": run_id,
            "bookmaker": "bet9ja",
            "sportradar_id": sportradar_id,
            "bookmaker_event_id": "b9-771",
            "home_team": "Kano Pillars",
            "away_team": "Shooting Stars",
            "tournament": "NPFL",
            "kickoff_at": kickoff.isoformat(),
            "observed_at": _ts(),
            "markets": [
                {
                    "market_id": "3743",
                    "market_name": "1X2 | Full Time",
                    "line": None,
                    "outcomes": [
                        {"name": "1", "price": 1.91, "suspended": False},
                        {"name": "X", "price": 3.2, "suspended": False},
                        {"name": "2", "price": 4.5, "suspended": False},
                    ],
                },
                {
                    "market_id": "5000",
                    "market_name": "Over/Under | Full Time",
                    "line": 2.5,
                    "outcomes": [{"name": "Over", "price": 2.05}, {"name": "Under", "price": 1.78}],
                },
            ],
        },
        "RunCompleted": {
            "event_id": str(uuid.uuid4()),
            "event_type": "RunCompleted",
            "schema_version": 1,
            "occurred_at": _ts(-5),
            "run_id": run_id,
            "observed": 1,
        },
    }


async def _until(predicate: Any, timeout_s: float = 60.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        result = await asyncio.to_thread(predicate)
        if result or loop.time() > deadline:
            return result
        await asyncio.sleep(0.3)


async def _history_rows(settings: Settings, sportradar_id: str) -> list[asyncpg.Record]:
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return list(
            await conn.fetch(
                "select market_id, line, bookmaker, outcomes, caused_by::text from odds_history"
                " where sportradar_id = $1 order by market_id",
                sportradar_id,
            )
        )
    finally:
        await conn.close()


async def test_librdkafka_produces_into_oddstream_and_reads_it_back(
    procs: Processes, settings: Settings, broker: TestBroker
) -> None:
    procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"
    run_id, sr_id = f"partner-{uuid.uuid4().hex[:8]}", "61309901"
    events = hand_written(run_id, sr_id)
    for event_type, body in events.items():
        assert schema_check(event_type, body) == [], event_type
    naive = {**events["RunCompleted"], "event_id": str(uuid.uuid4()), "occurred_at": "2026-11-28T12:00:00"}
    assert schema_check("RunCompleted", naive), "the committed schema must refuse a naive timestamp"
    garbage = b"\xde\xad not an event"

    produce(
        settings,
        [
            ("odds.runs", run_id.encode(), json.dumps(events["RunStarted"]).encode()),
            ("odds.observed", sr_id.encode(), garbage),
            ("odds.observed", sr_id.encode(), json.dumps(events["OddsObserved"]).encode()),
            ("odds.runs", run_id.encode(), json.dumps(naive).encode()),
            ("odds.runs", run_id.encode(), json.dumps(events["RunCompleted"]).encode()),
        ],
    )

    # the librdkafka-produced OddsObserved is on the board ...
    def on_board() -> Any:
        status, body = get_json(f"{base}/odds/events/{sr_id}")
        return body if status == 200 else None

    detail = await _until(on_board)
    assert detail, f"/odds/events/{sr_id} never answered 200"
    text = json.dumps(detail)
    assert "Kano Pillars" in text and "bet9ja" in text and "1.91" in text and "4.5" in text

    # ... and in odds_history, once per quote, caused by it
    async def history() -> list[asyncpg.Record]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        rows: list[asyncpg.Record] = []
        while loop.time() < deadline and len(rows) < 2:
            rows = await _history_rows(settings, sr_id)
            await asyncio.sleep(0.3)
        return rows

    rows = await history()
    assert [(r["market_id"], r["bookmaker"], r["caused_by"]) for r in rows] == [
        ("3743", "bet9ja", events["OddsObserved"]["event_id"]),
        ("5000", "bet9ja", events["OddsObserved"]["event_id"]),
    ]

    # the run events were folded: started, then completed (the naive one set aside)
    def completed() -> Any:
        status, body = get_json(f"{base}/runs/{run_id}")
        return body if status == 200 and body.get("status") == "completed" else None

    assert await _until(completed), get_json(f"{base}/runs/{run_id}")

    # the garbage and the naive record are dead letters, with their reasons, listed latest first
    def two_letters() -> Any:
        status, body = get_json(f"{base}/dead-letters")
        return body if status == 200 and body["count"] >= 2 else None

    listed = await _until(two_letters)
    assert listed and listed["count"] == 2, listed
    letters = listed["dead_letters"]
    assert [dl["occurred_at"] for dl in letters] == sorted((dl["occurred_at"] for dl in letters), reverse=True)
    by_topic = {dl["source_topic"]: dl for dl in letters}
    assert set(by_topic) == {settings.topic("odds.observed"), settings.topic("odds.runs")}
    bad = by_topic[settings.topic("odds.observed")]
    assert bad["error"].startswith("not JSON") and bad["source_key"] == sr_id
    assert base64.b64decode(bad["original"]) == garbage
    late = by_topic[settings.topic("odds.runs")]
    assert "no UTC offset" in late["error"] and late["source_key"] == run_id
    assert json.loads(base64.b64decode(late["original"])) == naive
    assert get_json(f"{base}/dead-letters?limit=1")[1]["dead_letters"] == letters[:1]
    assert get_json(f"{base}/dead-letters?limit=0")[0] == 400

    # our events, read back by librdkafka as plain JSON, follow the committed schemas
    observed_id = events["OddsObserved"]["event_id"]
    changes = read_assigned(settings, "odds.changes", lambda vs: any(v.get("caused_by") == observed_id for v in vs))
    change = next(v for v in changes if v.get("caused_by") == observed_id)
    assert schema_check("OddsChanged", change) == []
    assert change["sportradar_id"] == sr_id and {c["market_id"] for c in change["changes"]} == {"3743", "5000"}
    assert all(c["previous_outcomes"] is None for c in change["changes"])
    letters_raw = read_assigned(settings, "odds.dead-letters", lambda vs: len(vs) >= 2)
    assert len(letters_raw) == 2
    for letter in letters_raw:
        assert schema_check("DeadLettered", letter) == []
    assert {base64.b64decode(dl["original"]) for dl in letters_raw} == {garbage, json.dumps(naive).encode()}

    # a consumer group (subscribe) through librdkafka: joins, gets partitions, reads the same records
    group = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"partner-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
            "session.timeout.ms": 6000,
        }
    )
    got: list[dict[str, Any]] = []
    started = time.monotonic()
    try:
        group.subscribe([settings.topic("odds.dead-letters")])
        while time.monotonic() - started < 60 and len(got) < 2:
            msg = group.poll(0.5)
            if msg is not None and msg.error() is None:
                got.append(json.loads(msg.value()))
        assigned = len(group.assignment())
    finally:
        group.close()
    print(
        f"librdkafka group consumption on {broker.kind} {broker.version}: {len(got)} records,"
        f" {assigned} partitions assigned, {time.monotonic() - started:.1f} s"
    )
    assert len(got) == 2 and assigned == settings.topic_partitions


@pytest.mark.true_kafka
async def test_the_dead_letter_list_survives_a_worker_restart(procs: Processes, settings: Settings) -> None:
    worker = procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"
    produce(settings, [("odds.observed", str(i).encode(), f"garbage {i}".encode()) for i in range(5)])

    def five() -> Any:
        body = get_json(f"{base}/dead-letters")[1]
        return body if body["count"] == 5 else None

    before = await _until(five)
    assert before, get_json(f"{base}/dead-letters")[1]
    worker.stop(20.0)
    procs.worker()

    def recovered() -> Any:
        status, body = get_json(f"{base}/health")
        return status == 200 and body["ready"] and body["partitions"]

    assert await _until(recovered)
    after = get_json(f"{base}/dead-letters")[1]
    assert after["dead_letters"] == before["dead_letters"]
