"""10,000 mixed records through the broker: the valid ones projected once, the rest dead-lettered once.

The mix, all onto ``odds.observed`` (produced by librdkafka, so no oddstream code shapes them):
valid ``OddsObserved`` (each a new board, so each causes exactly one ``OddsChanged`` and one
``odds_history`` row per quote), exact duplicates of valid records (redelivery: nothing new),
malformed records (not JSON, not an object, failing the schema, on the wrong topic), naive
timestamps, unknown event types, and oversized records. Every invalid record is identified by its
partition and offset, and must come back exactly once from ``odds.dead-letters`` with its reason.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from streams.clock import format_ts, utc_now
from streams.events import MAX_RECORD_BYTES
from streams.settings import Settings
from streams.sources.registry import NAMES
from tests.integration.conftest import Processes, get_json

pytestmark = pytest.mark.integration

TOTAL = 10_000
MIX = {"valid": 6_000, "duplicate": 1_500, "malformed": 1_200, "naive": 700, "unknown_type": 580, "oversized": 20}
BOOKMAKERS = NAMES
# what the dead letter's error must say, by kind (malformed has several shapes, each with its reason)
REASONS = {
    "naive": "has no UTC offset",
    "unknown_type": "unknown event_type",
    "oversized": "record too large",
    "not_json": "not JSON",
    "not_object": "not a JSON object",
    "bad_price": "price must be a decimal number > 1",
    "missing_field": "missing required field home_team",
    "wrong_topic": "does not belong on this topic",
}


def _observed(sr_id: str, bookmaker: str, rng: random.Random, observed_at: str) -> dict[str, Any]:
    def price() -> float:
        return round(rng.uniform(1.05, 9.0), 2)

    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "event_type": "OddsObserved",
        "schema_version": 1,
        "occurred_at": observed_at,
        "run_id": "mixed",
        "bookmaker": bookmaker,
        "sportradar_id": sr_id,
        "bookmaker_event_id": f"{bookmaker}-{sr_id}",
        "home_team": f"Home {sr_id}",
        "away_team": f"Away {sr_id}",
        "tournament": "Mixed League",
        "kickoff_at": format_ts(utc_now() + timedelta(days=2)),
        "observed_at": observed_at,
        "markets": [
            {
                "market_id": "3743",
                "market_name": "1X2",
                "line": None,
                "outcomes": [{"name": n, "price": price(), "suspended": False} for n in ("1", "X", "2")],
            },
            {
                "market_id": "5000",
                "market_name": "Over/Under",
                "line": 2.5,
                "outcomes": [{"name": n, "price": price(), "suspended": False} for n in ("Over", "Under")],
            },
        ],
    }


def build_mix(seed: int = 20261128) -> list[tuple[str, bytes | None, bytes, str | None]]:
    """``(kind, key, value, expected reason or None)`` for all 10,000 records, shuffled."""
    rng = random.Random(seed)
    now = format_ts(utc_now())
    valid: list[tuple[str, bytes | None, bytes, str | None]] = []
    n_events = MIX["valid"] // len(BOOKMAKERS)
    for i in range(n_events):
        sr_id = str(70_000_000 + i)
        for bm in BOOKMAKERS:
            valid.append(("valid", sr_id.encode(), json.dumps(_observed(sr_id, bm, rng, now)).encode(), None))
    records = list(valid)
    records += [("duplicate", key, value, None) for _, key, value, _ in rng.sample(valid, MIX["duplicate"])]

    def variant(mutate: Any) -> dict[str, Any]:
        body = _observed(str(rng.randrange(80_000_000, 90_000_000)), rng.choice(BOOKMAKERS), rng, now)
        mutate(body)
        return body

    malformed_kinds = ["not_json", "not_object", "bad_price", "missing_field", "wrong_topic"]
    for i in range(MIX["malformed"]):
        kind = malformed_kinds[i % len(malformed_kinds)]
        if kind == "not_json":
            value = rng.choice([b"", b"{", b"\xff\xfe\x00", b"<html>502</html>", b'{"event_type": "OddsObs'])
        elif kind == "not_object":
            value = rng.choice([b"[]", b"42", b'"OddsObserved"', b"null"])
        elif kind == "bad_price":
            value = json.dumps(variant(lambda b: b["markets"][0]["outcomes"][0].update(price=0.5))).encode()
        elif kind == "missing_field":
            value = json.dumps(variant(lambda b: b.pop("home_team"))).encode()
        else:
            value = json.dumps(variant(lambda b: b.update(event_type="RunStarted", trigger="api"))).encode()
        key = None if i % 3 == 0 else str(i).encode()
        records.append(("malformed", key, value, REASONS[kind]))
    for _ in range(MIX["naive"]):
        body = variant(lambda b: b.update(observed_at=now[:19]))
        records.append(("naive", body["sportradar_id"].encode(), json.dumps(body).encode(), REASONS["naive"]))
    for _ in range(MIX["unknown_type"]):
        body = variant(lambda b: b.update(event_type="OddsTeleported"))
        records.append(
            ("unknown_type", body["sportradar_id"].encode(), json.dumps(body).encode(), REASONS["unknown_type"])
        )
    for _ in range(MIX["oversized"]):
        body = variant(lambda b: b.update(padding="x" * (MAX_RECORD_BYTES + 64 * 1024)))
        records.append(("oversized", body["sportradar_id"].encode(), json.dumps(body).encode(), REASONS["oversized"]))
    rng.shuffle(records)
    assert len(records) == TOTAL and Counter(r[0] for r in records) == MIX
    return records


def produce_all(
    settings: Settings, records: list[tuple[str, bytes | None, bytes, str | None]]
) -> list[tuple[int, int]]:
    """Produce in order with librdkafka; return each record's (partition, offset)."""
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "acks": "all",
            "linger.ms": 20,
            "enable.idempotence": True,
            "partitioner": "murmur2_random",
        }
    )
    placed: dict[int, tuple[int, int]] = {}
    failures: list[str] = []
    topic = settings.topic("odds.observed")
    for i, (_kind, key, value, _reason) in enumerate(records):

        def delivered(err: KafkaError | None, msg: Any, i: int = i) -> None:
            if err is not None:
                failures.append(str(err))
            else:
                placed[i] = (msg.partition(), msg.offset())

        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=delivered)
                break
            except BufferError:  # local queue full: let it drain
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(60) == 0
    assert failures == []
    return [placed[i] for i in range(len(records))]


def read_dead_letters(settings: Settings, want: int, timeout_s: float) -> list[tuple[int, int, dict[str, Any]]]:
    """Every DeadLettered as plain JSON with its place on the dead-letter topic; waits for ``want``, then 3 s more."""
    name = settings.topic("odds.dead-letters")
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap, "group.id": "mixed-reader", "enable.auto.commit": False}
    )
    out: list[tuple[int, int, dict[str, Any]]] = []
    try:
        parts = sorted(consumer.list_topics(name, timeout=10).topics[name].partitions)
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in parts])
        deadline = time.monotonic() + timeout_s
        quiet_until: float | None = None
        while time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=0.5):
                if msg.error() is None:
                    out.append((msg.partition(), msg.offset(), json.loads(msg.value())))
            if len(out) >= want:
                quiet_until = quiet_until or time.monotonic() + 3.0
                if time.monotonic() >= quiet_until:
                    break
    finally:
        consumer.close()
    return out


async def _history(settings: Settings) -> tuple[int, Counter[str]]:
    assert settings.database_url
    conn = await asyncpg.connect(settings.database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await conn.fetch("select caused_by::text as c, count(*) as n from odds_history group by caused_by")
    finally:
        await conn.close()
    by_cause = Counter({r["c"]: int(r["n"]) for r in rows})
    return sum(by_cause.values()), by_cause


async def test_ten_thousand_mixed_records(procs: Processes, settings: Settings) -> None:
    worker = procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"
    records = build_mix()
    started = time.monotonic()
    placed = await asyncio.to_thread(produce_all, settings, records)
    produced_s = time.monotonic() - started

    valid_ids = {json.loads(v)["event_id"] for kind, _, v, _ in records if kind == "valid"}
    invalid = {placed[i]: (kind, reason) for i, (kind, _, _, reason) in enumerate(records) if reason is not None}
    quotes_per_board = 2

    # every invalid record is dead-lettered exactly once, with its reason, and nothing valid is
    letters = await asyncio.to_thread(read_dead_letters, settings, len(invalid), 120.0)
    lettered_s = time.monotonic() - started
    source = settings.topic("odds.observed")
    assert all(dl["source_topic"] == source for _, _, dl in letters)
    per_record = Counter((dl["partition"], dl["offset"]) for _, _, dl in letters)
    assert sorted(per_record) == sorted(invalid), "a valid record was dead-lettered or an invalid one was not"
    assert max(per_record.values()) == 1, "a record was dead-lettered more than once"
    wrong = [
        (where, kind, reason, dl["error"])
        for _, _, dl in letters
        for where in [(dl["partition"], dl["offset"])]
        for kind, reason in [invalid[where]]
        if reason not in dl["error"]
    ]
    assert wrong == [], wrong[:5]

    # every valid record is projected exactly once: one OddsChanged each, its quotes once in history
    async def projected() -> tuple[int, Counter[str]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 120
        total, _ = await _history(settings)
        while loop.time() < deadline and total < len(valid_ids) * quotes_per_board:
            await asyncio.sleep(0.5)
            total, _ = await _history(settings)
        await asyncio.sleep(2)  # anything late (a duplicate projected twice) would show now
        return await _history(settings)

    total, by_cause = await projected()
    projected_s = time.monotonic() - started
    assert set(by_cause) == valid_ids
    assert set(by_cause.values()) == {quotes_per_board} and total == len(valid_ids) * quotes_per_board

    # the pipeline never stopped: the worker is alive and the board holds every event
    assert worker.is_alive()
    status, board = get_json(f"{base}/odds/events?q=Home")
    assert status == 200 and board["count"] == MIX["valid"] // len(BOOKMAKERS)
    newest = get_json(f"{base}/dead-letters?limit=3")[1]["dead_letters"]
    assert len(newest) == 3 and all((dl["partition"], dl["offset"]) in invalid for dl in newest)

    by_kind = Counter(kind for kind, _ in invalid.values())
    by_reason = Counter(reason for _, reason in invalid.values())
    print(
        f"\nmixed records: {TOTAL} produced in {produced_s:.1f} s: "
        + ", ".join(f"{k} {n}" for k, n in MIX.items())
        + f"\n  projected once: {len(by_cause)} OddsObserved -> {total} odds_history rows"
        f" (duplicates added nothing), {projected_s:.1f} s after the first record"
        f"\n  dead-lettered once: {sum(per_record.values())} of {len(invalid)} invalid ("
        + ", ".join(f"{k} {n}" for k, n in sorted(by_kind.items()))
        + f"), all read back {lettered_s:.1f} s after the first record"
        "\n  reasons: " + "; ".join(f"{r!r} x{n}" for r, n in sorted(by_reason.items()))
    )
