from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.events import (
    DEAD_LETTER_KEEP_BYTES,
    EVENT_TYPES,
    MAX_RECORD_BYTES,
    DeadLettered,
    InvalidEvent,
    OddsChanged,
    OddsObserved,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunStale,
    RunStaleCheck,
    RunStarted,
    ScheduleChanged,
    ScrapeRequested,
    decode,
    derive_id,
    encode,
    encode_validated,
)

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MARKETS = [
    {
        "market_id": "3743",
        "market_name": "1X2 | Full Time",
        "line": None,
        "outcomes": [
            {"name": "1", "price": 2.1, "suspended": False},
            {"name": "X", "price": 3.3, "suspended": False},
            {"name": "2", "price": None, "suspended": True},
        ],
    },
    {"market_id": "5000", "market_name": "Over/Under", "line": 2.5, "outcomes": []},
]

SAMPLES = [
    ScrapeRequested(run_id="r1", trigger="cli", bookmakers=["betpawa"], events=["12345678"]),
    OddsObserved(
        run_id="r1",
        bookmaker="betpawa",
        sportradar_id="12345678",
        bookmaker_event_id="33289995",
        home_team="Home",
        away_team="Away",
        tournament="Premier League",
        kickoff_at=T,
        observed_at=T,
        markets=MARKETS,
        unmapped={"unknown market": 2},
    ),
    OddsChanged(
        sportradar_id="12345678",
        bookmaker="betpawa",
        observed_at=T,
        caused_by=derive_id("x"),
        changes=[{"market_id": "3743", "line": None, "outcomes": [], "previous_outcomes": None}],
    ),
    RunStarted(run_id="r1", trigger="schedule"),
    RunHeartbeat(run_id="r1", observed=3),
    RunCompleted(run_id="r1", observed=3, failed=1, errors=["boom"]),
    RunFailed(run_id="r1", error="down"),
    RunStale(run_id="r1", last_heartbeat_at=T, stale_after_s=600, detected_at=T + timedelta(minutes=11)),
    DeadLettered.of(source_topic="odds.observed", partition=1, offset=7, key=b"k", error="bad", original=b"\xff"),
    RunStaleCheck(run_id="r1", now=T + timedelta(minutes=11)),
    ScheduleChanged(setting="schedule", paused=True, interval_s=300, changed_by="api"),
]


def test_every_event_type_has_a_sample() -> None:
    assert {type(e).event_type for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_round_trip(event: object) -> None:
    raw = encode(event)  # type: ignore[arg-type]
    assert decode(raw) == event
    body = json.loads(raw)
    assert body["event_type"] == type(event).event_type  # type: ignore[attr-defined]
    assert body["schema_version"] == 1
    assert "__faust" not in body


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_the_fast_writer_of_checked_events_writes_the_same_bytes(event: object) -> None:
    assert encode_validated(event) == encode(event)  # type: ignore[arg-type]


@given(price=st.floats(min_value=1.0001, max_value=1e6), line=st.none() | st.floats(-50, 50), team=st.text(max_size=20))
def test_the_fast_writer_agrees_on_any_decoded_change(price: float, line: float | None, team: str) -> None:
    outcomes = [
        {"name": "1", "price": price, "suspended": False},
        {"name": team or "x", "price": None, "suspended": True},
    ]
    ev = decode(
        encode(
            OddsChanged(
                sportradar_id="12345678",
                bookmaker="bet9ja",
                observed_at=T,
                caused_by=derive_id(team),
                changes=[{"market_id": "3743", "line": line, "outcomes": outcomes, "previous_outcomes": None}],
            )
        )
    )
    assert decode(encode_validated(ev)) == ev
    assert json.loads(encode_validated(ev)) == json.loads(encode(ev))


def test_plain_json_from_any_producer_decodes_and_offsets_are_converted_to_utc() -> None:
    hand_written = {
        "event_id": "0b6f0f7e-3f9a-4f58-9d3c-5a0d2b9b1a11",
        "event_type": "RunHeartbeat",
        "schema_version": 1,
        "occurred_at": "2026-11-28T13:00:00+01:00",
        "run_id": "r9",
    }
    ev = decode(json.dumps(hand_written).encode())
    assert isinstance(ev, RunHeartbeat)
    assert ev.occurred_at == T
    assert ev.occurred_at.utcoffset() == timedelta(0)
    assert ev.observed is None


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d.update(occurred_at="2026-11-28T12:00:00"), "no UTC offset"),
        (lambda d: d.update(kickoff_at="2026-11-28 12:00:00"), "no UTC offset"),
        (lambda d: d.update(event_type="Nope"), "unknown event_type"),
        (lambda d: d.pop("sportradar_id"), "missing required field sportradar_id"),
        (lambda d: d.update(sportradar_id="sr:match:1"), "digits only"),
        (lambda d: d.update(bookmaker="bet365"), "bookmaker must be one of"),
        (lambda d: d.update(event_id="not-a-uuid"), "UUID"),
        (lambda d: d.update(schema_version=99), "newer than this reader"),
        (lambda d: d["markets"][0]["outcomes"][0].update(price=1.0), "price must be a decimal number > 1"),
        (lambda d: d["markets"][0].update(line="2.5"), "line must be a number"),
        (lambda d: d.update(markets="nope"), "markets must be a list"),
    ],
)
def test_invalid_records_are_rejected_with_a_reason(mutate: object, reason: str) -> None:
    body = json.loads(encode(SAMPLES[1]))
    mutate(body)  # type: ignore[operator]
    with pytest.raises(InvalidEvent, match=reason):
        decode(json.dumps(body).encode())


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(InvalidEvent, match="not JSON"):
        decode(b"\x00garbage")
    with pytest.raises(InvalidEvent, match="not a JSON object"):
        decode(b"[1, 2]")


def test_an_event_on_the_wrong_topic_is_rejected() -> None:
    with pytest.raises(InvalidEvent, match="does not belong"):
        decode(encode(SAMPLES[0]), [OddsObserved])


def test_derived_ids_are_deterministic_and_distinct() -> None:
    assert derive_id("changed", "a") == derive_id("changed", "a")
    assert derive_id("changed", "a") != derive_id("changed", "b")
    assert derive_id("a", "bc") != derive_id("ab", "c")


@given(
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5))])),
)
def test_any_aware_time_survives_the_wire_as_the_same_instant(moment: datetime) -> None:
    ev = RunHeartbeat(run_id="r", occurred_at=moment)
    back = decode(encode(ev))
    assert back.occurred_at == moment
    assert back.occurred_at.tzinfo == UTC


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: d["markets"][0]["outcomes"][0].update(price=float("nan")), "price must be"),
        (lambda d: d["markets"][0]["outcomes"][0].update(price=float("inf")), "price must be"),
        (lambda d: d.update(event_id="0b6f0f7e3f9a4f589d3c5a0d2b9b1a11"), "UUID"),
        (lambda d: d.update(event_id="{0b6f0f7e-3f9a-4f58-9d3c-5a0d2b9b1a11}"), "UUID"),
        (lambda d: d.update(sportradar_id="\u0661\u0662\u0663"), "digits only"),
        (lambda d: d.update(schema_version=0), ">= 1"),
        (lambda d: d.update(observed_at="2026-11-28 12:00:00+00:00"), "RFC 3339"),
        (lambda d: d.update(observed_at="2026-11-28T12:00:00+0100"), "RFC 3339"),
        (lambda d: d.update(unmapped={"x": "many"}), "integer counts"),
    ],
)
def test_values_the_wire_must_never_carry(mutate: object, reason: str) -> None:
    body = json.loads(encode(SAMPLES[1]))
    mutate(body)  # type: ignore[operator]
    with pytest.raises(InvalidEvent, match=reason):
        decode(json.dumps(body).encode())


def test_event_ids_are_stored_in_one_spelling() -> None:
    body = json.loads(encode(SAMPLES[3]))
    body["event_id"] = body["event_id"].upper()
    assert decode(json.dumps(body).encode()).event_id == json.loads(encode(SAMPLES[3]))["event_id"]


def test_changed_events_check_bookmaker_and_sportradar_id() -> None:
    body = json.loads(encode(SAMPLES[2]))
    body["bookmaker"] = "bet365"
    with pytest.raises(InvalidEvent, match="bookmaker"):
        decode(json.dumps(body).encode())


def test_a_record_over_the_size_limit_is_invalid_however_well_formed() -> None:
    from streams.events import MAX_RECORD_BYTES

    body = json.loads(encode(SAMPLES[1]))
    body["padding"] = ""
    size = len(json.dumps(body).encode())
    body["padding"] = "x" * (MAX_RECORD_BYTES - size)
    at_limit = json.dumps(body).encode()
    assert len(at_limit) == MAX_RECORD_BYTES
    assert decode(at_limit) == SAMPLES[1]
    body["padding"] += "x"
    with pytest.raises(InvalidEvent, match=f"record too large: {MAX_RECORD_BYTES + 1} bytes"):
        decode(json.dumps(body).encode())


@pytest.mark.parametrize(
    "size", [0, 10, DEAD_LETTER_KEEP_BYTES, DEAD_LETTER_KEEP_BYTES + 1, MAX_RECORD_BYTES + 1, 1_000_000]
)
def test_dead_letter_always_fits_the_broker_limit(size: int) -> None:
    original = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    letter = DeadLettered.of(
        source_topic="odds.observed", partition=0, offset=3, key=None, error="record too large", original=original
    )
    wire = encode(letter)
    assert len(wire) <= MAX_RECORD_BYTES  # a letter is itself a valid record, under Kafka's 1 MB limit
    back = decode(wire)
    assert isinstance(back, DeadLettered)
    kept = base64.b64decode(back.original)
    assert kept == original[:DEAD_LETTER_KEEP_BYTES]
    assert back.original_size == (size if size > DEAD_LETTER_KEEP_BYTES else None)
