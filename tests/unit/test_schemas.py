from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from dataclasses import MISSING, fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from streams.events import (
    EVENT_TYPES,
    BaseEvent,
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
)
from streams.schemas import DEFAULT_DIRECTORY, file_name, json_schema, write_all
from streams.sources.registry import NAMES
from streams.topics import TOPICS
from streams.upcasters import UPCASTERS

COMMITTED = Path(__file__).resolve().parents[2] / "schemas"
T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
MARKETS: list[dict[str, Any]] = [
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
SAMPLES: list[BaseEvent] = [
    ScrapeRequested(run_id="r1", trigger="cli", bookmakers=["betpawa"], events=["12345678"], retry_of="r0"),
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
        bookmaker="sportybet",
        observed_at=T,
        caused_by=derive_id("x"),
        run_id="r1",
        changes=[
            {"market_id": "3743", "line": None, "outcomes": [], "previous_outcomes": MARKETS[0]["outcomes"]},
            {"market_id": "5000", "line": 2.5, "outcomes": MARKETS[0]["outcomes"], "previous_outcomes": None},
        ],
    ),
    RunStarted(run_id="r1", trigger="schedule", bookmakers=["bet9ja"]),
    RunHeartbeat(run_id="r1", observed=3),
    RunHeartbeat(run_id="r1", observed=None, failed=None),
    RunCompleted(run_id="r1", observed=3, failed=1, errors=["boom"]),
    RunFailed(run_id="r1", error="down"),
    RunStale(run_id="r1", last_heartbeat_at=T, stale_after_s=600, detected_at=T + timedelta(minutes=11)),
    DeadLettered.of(source_topic="odds.observed", partition=1, offset=7, key=b"k", error="bad", original=b"\xff"),
    DeadLettered.of(source_topic="odds.observed", partition=1, offset=8, key=None, error="bad", original=None),
    RunStaleCheck(run_id="r1", now=T + timedelta(minutes=11)),
    ScheduleChanged(setting="schedule", paused=True, interval_s=300, changed_by="api"),
]


def validator(cls: type[BaseEvent]) -> Draft202012Validator:
    return Draft202012Validator(json_schema(cls), format_checker=Draft202012Validator.FORMAT_CHECKER)


def errors(event_type: str, body: dict[str, Any]) -> list[str]:
    return [e.message for e in validator(EVENT_TYPES[event_type]).iter_errors(body)]


# -- (a) the committed schemas are what the code generates --------------------------------------


def test_committed_schemas_match_the_generator(tmp_path: Path) -> None:
    written = write_all(tmp_path)
    generated = {p.name: p.read_bytes() for p in written}
    committed = {p.name: p.read_bytes() for p in COMMITTED.glob("*.json")}
    hint = "schemas/ is out of date: run python -m streams.schemas (and commit the result)"
    assert set(generated) <= set(committed), f"missing schema files; {hint}"
    for name, content in generated.items():
        assert committed[name] == content, f"{name} differs; {hint}"
    # what is committed beyond the current versions are older, published versions: each must still be
    # readable, through upcasters, as its type's current version
    for name in sorted(set(committed) - set(generated)):
        m = SCHEMA_NAME.fullmatch(name)
        assert m and m["type"] in EVENT_TYPES, f"{name}: no such event type; {hint}"
        current = EVENT_TYPES[m["type"]].schema_version
        assert int(m["version"]) < current, f"{name}: a version the code does not have"
        assert UPCASTERS.reaches(m["type"], int(m["version"]), current), f"{name}: no upcaster chain to v{current}"


# -- (a2) what every committed schema states: topic, key, required fields, offsets on times -------

SCHEMA_NAME = re.compile(r"(?P<ns>[a-z]+)\.(?P<type>[A-Za-z]+)\.v(?P<version>[0-9]+)\.json")
COMMITTED_FILES = sorted(COMMITTED.glob("*.json"))
CONTRACT_TOPICS = {spec.name for spec in TOPICS}


def _committed(path: Path) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].removeprefix("#/$defs/")]
    return node


def _time_fields(schema: dict[str, Any], node: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
    """Every property in the schema (nested objects, arrays, $defs) that is a timestamp or named like one."""
    node = _resolve(schema, node)
    found = []
    for name, prop in node.get("properties", {}).items():
        here = f"{where}.{name}"
        branches = [_resolve(schema, b) for b in prop.get("anyOf", [prop])]
        if name.endswith("_at") or name == "now" or any(b.get("format") == "date-time" for b in branches):
            found.append((here, prop))
        for branch in branches:
            if branch.get("type") == "object" or "properties" in branch:
                found += _time_fields(schema, branch, here)
            items = branch.get("items")
            if isinstance(items, dict):
                found += _time_fields(schema, items, f"{here}[]")
    return found


@pytest.mark.parametrize("path", COMMITTED_FILES, ids=lambda p: p.name)
def test_every_committed_schema_states_topic_key_and_required_fields(path: Path) -> None:
    schema = _committed(path)
    m = SCHEMA_NAME.fullmatch(path.name)
    assert m, f"{path.name} is not named <namespace>.<EventType>.v<N>.json"
    assert schema["title"] == m["type"]
    assert schema["properties"]["event_type"]["const"] == m["type"]
    assert schema["properties"]["schema_version"]["const"] == int(m["version"])
    assert schema["x-topic"] in CONTRACT_TOPICS and schema["x-topic"].startswith(m["ns"] + ".")
    key = schema["x-key"]
    assert key in schema["properties"], f"the key {key} is not a field"
    key_types = schema["properties"][key].get("type")
    assert key in schema["required"] or "null" in (key_types or []), f"the key {key} may be absent"
    assert {"event_id", "event_type", "schema_version", "occurred_at"} <= set(schema["required"])
    assert set(schema["required"]) <= set(schema["properties"])
    cls = EVENT_TYPES[m["type"]]
    if int(m["version"]) == cls.schema_version:
        assert schema["x-topic"] == cls.topic and key == cls.key_field
        without_default = {f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING}
        envelope = {"event_id", "event_type", "schema_version", "occurred_at"}
        assert set(schema["required"]) == without_default | envelope


@pytest.mark.parametrize("path", COMMITTED_FILES, ids=lambda p: p.name)
def test_every_timestamp_in_a_committed_schema_requires_an_offset(path: Path) -> None:
    schema = _committed(path)
    times = _time_fields(schema, schema, "$")
    assert any(where == "$.occurred_at" for where, _ in times)
    cls = EVENT_TYPES[SCHEMA_NAME.fullmatch(path.name)["type"]]  # type: ignore[index]
    hinted = {f.name for f in fields(cls) if _hint(cls, f.name) in (datetime, datetime | None)}
    assert {f"$.{name}" for name in hinted} <= {where for where, _ in times}
    for where, prop in times:
        check = Draft202012Validator(
            {"$defs": schema.get("$defs", {}), **prop}, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for good in ("2026-11-28T12:00:00Z", "2026-11-28T12:00:00.250+01:00", "2026-11-28T12:00:00-05:30"):
            assert check.is_valid(good), f"{path.name} {where} refuses {good}"
        for naive in ("2026-11-28T12:00:00", "2026-11-28T12:00:00.5", "2026-11-28 12:00:00", "2026-11-28"):
            assert not check.is_valid(naive), f"{path.name} {where} accepts the naive {naive}"


def _hint(cls: type[BaseEvent], name: str) -> Any:
    return typing.get_type_hints(cls).get(name)


def test_generation_is_deterministic_and_well_formed(tmp_path: Path) -> None:
    first = [p.read_bytes() for p in write_all(tmp_path / "a")]
    second = [p.read_bytes() for p in write_all(tmp_path / "b")]
    assert first == second
    assert DEFAULT_DIRECTORY == COMMITTED
    for cls in EVENT_TYPES.values():
        schema = json_schema(cls)
        Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"https://oddstream.dev/schemas/{file_name(cls)}"
        assert schema["x-topic"] == cls.topic
        assert schema["x-key"] == cls.key_field
        assert schema["additionalProperties"] is True
        assert {"event_id", "event_type", "schema_version", "occurred_at"} <= set(schema["required"])
        text = (COMMITTED / file_name(cls)).read_text(encoding="utf-8")
        assert text.endswith("}\n") and not text.endswith("\n\n")


def test_file_names_and_required_fields() -> None:
    assert file_name(OddsObserved) == "odds.OddsObserved.v1.json"
    assert file_name(RunStale) == "odds.RunStale.v1.json"
    observed = json_schema(OddsObserved)
    assert "markets" in observed["required"] and "unmapped" not in observed["required"]
    assert observed["description"] == "One bookmaker's whole market board for one event, as fetched."
    changed = json_schema(OddsChanged)
    assert "run_id" not in changed["required"]
    assert changed["properties"]["run_id"] == {"type": ["string", "null"]}


def test_the_returned_schema_is_a_private_copy() -> None:
    json_schema(OddsObserved)["$defs"]["outcome"]["required"].append("oops")
    assert json_schema(OddsObserved)["$defs"]["outcome"]["required"] == ["name"]


# -- (b) every encoded event validates ----------------------------------------------------------


def test_every_event_type_has_a_sample() -> None:
    assert {type(e).event_type for e in SAMPLES} == set(EVENT_TYPES)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_encoded_events_validate_against_their_schema(event: BaseEvent) -> None:
    body = json.loads(encode(event))
    assert errors(event.event_type, body) == []


def test_plain_json_from_another_producer_validates() -> None:
    body = {
        "event_id": "0b6f0f7e-3f9a-4f58-9d3c-5a0d2b9b1a11",
        "event_type": "RunHeartbeat",
        "schema_version": 1,
        "occurred_at": "2026-11-28T13:00:00.5Z",
        "run_id": "r9",
        "some_future_field": {"additive": True},
    }
    assert errors("RunHeartbeat", body) == []
    decode(json.dumps(body))


# -- (c) what decode rejects, the schema rejects -----------------------------------------------

Mutation = Callable[[dict[str, Any]], object]


def _base(event: BaseEvent) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(encode(event))
    return body


REJECTED: list[tuple[BaseEvent, Mutation]] = [
    (SAMPLES[1], lambda d: d.update(occurred_at="2026-11-28T12:00:00")),
    (SAMPLES[1], lambda d: d.update(kickoff_at="2026-11-28 12:00:00")),
    (SAMPLES[1], lambda d: d.update(occurred_at=None)),
    (SAMPLES[1], lambda d: d["markets"][0]["outcomes"][0].update(price=1.0)),
    (SAMPLES[1], lambda d: d["markets"][0]["outcomes"][0].update(price=0.5)),
    (SAMPLES[1], lambda d: d["markets"][0]["outcomes"][0].update(price=True)),
    (SAMPLES[1], lambda d: d["markets"][0]["outcomes"][0].update(suspended="no")),
    (SAMPLES[1], lambda d: d["markets"][0]["outcomes"][0].pop("name")),
    (SAMPLES[1], lambda d: d["markets"][0].update(line="2.5")),
    (SAMPLES[1], lambda d: d["markets"][0].update(market_id=3743)),
    (SAMPLES[1], lambda d: d["markets"][0].pop("outcomes")),
    (SAMPLES[1], lambda d: d.update(markets="nope")),
    (SAMPLES[1], lambda d: d.update(markets=["nope"])),
    (SAMPLES[1], lambda d: d.update(bookmaker="bet365")),
    (SAMPLES[1], lambda d: d.update(sportradar_id="sr:match:1")),
    (SAMPLES[1], lambda d: d.pop("sportradar_id")),
    (SAMPLES[1], lambda d: d.pop("event_id")),
    (SAMPLES[1], lambda d: d.update(event_id="not-a-uuid")),
    (SAMPLES[1], lambda d: d.update(event_type="Nope")),
    (SAMPLES[1], lambda d: d.update(schema_version=99)),
    (SAMPLES[1], lambda d: d.update(schema_version="1")),
    (SAMPLES[1], lambda d: d.update(home_team=None)),
    (SAMPLES[2], lambda d: d["changes"][0].update(previous_outcomes="x")),
    (SAMPLES[2], lambda d: d["changes"][1]["outcomes"][0].update(price=1)),
    (SAMPLES[2], lambda d: d.pop("caused_by")),
    (SAMPLES[0], lambda d: d.update(trigger="cron")),
    (SAMPLES[0], lambda d: d.update(bookmakers=["bet365"])),
    (SAMPLES[0], lambda d: d.update(events=[1])),
    (SAMPLES[3], lambda d: d.update(trigger="cron")),
    (SAMPLES[4], lambda d: d.update(observed="3")),
    (SAMPLES[4], lambda d: d.update(observed=True)),
    (SAMPLES[8], lambda d: d.update(detected_at="2026-11-28T12:11:00")),
    (SAMPLES[9], lambda d: d.pop("original")),
    (SAMPLES[9], lambda d: d.update(partition=None)),
]


@pytest.mark.parametrize(
    ("event", "mutate"), REJECTED, ids=[f"{type(e).__name__}-{i}" for i, (e, _) in enumerate(REJECTED)]
)
def test_the_schema_rejects_what_decode_rejects(event: BaseEvent, mutate: Mutation) -> None:
    body = _base(event)
    mutate(body)
    with pytest.raises(InvalidEvent):
        decode(json.dumps(body))
    assert errors(event.event_type, body), f"schema accepted a record decode rejects: {body}"


# -- (d) property: any valid OddsObserved encodes to a schema-valid record and round-trips --------

ZONES = st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30))])
# hypothesis takes naive bounds and attaches the zones itself
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=ZONES)  # noqa: DTZ001
FINITE = {"allow_nan": False, "allow_infinity": False}
PRICES = st.none() | st.floats(min_value=1, exclude_min=True, max_value=1e6, **FINITE)  # type: ignore[arg-type]
LINES = st.none() | st.integers(-10, 10) | st.floats(min_value=-100, max_value=100, **FINITE)  # type: ignore[arg-type]
OUTCOMES = st.lists(
    st.fixed_dictionaries({"name": st.text(max_size=8), "price": PRICES, "suspended": st.booleans()}), max_size=4
)
QUOTES = st.fixed_dictionaries(
    {"market_id": st.from_regex(r"[0-9]{1,5}", fullmatch=True), "line": LINES, "outcomes": OUTCOMES},
    optional={"market_name": st.text(max_size=12)},
)
OBSERVED = st.builds(
    OddsObserved,
    event_id=st.uuids().map(str),
    occurred_at=MOMENTS,
    run_id=st.text(max_size=12),
    bookmaker=st.sampled_from(NAMES),
    sportradar_id=st.from_regex(r"[0-9]{1,12}", fullmatch=True),
    bookmaker_event_id=st.text(max_size=12),
    home_team=st.text(max_size=12),
    away_team=st.text(max_size=12),
    tournament=st.text(max_size=12),
    kickoff_at=MOMENTS,
    observed_at=MOMENTS,
    markets=st.lists(QUOTES, max_size=5),
    unmapped=st.dictionaries(st.text(max_size=8), st.integers(0, 10_000), max_size=3),
)
OBSERVED_VALIDATOR = validator(OddsObserved)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OBSERVED)
def test_any_valid_odds_observed_validates_and_round_trips(event: OddsObserved) -> None:
    raw = encode(event)
    assert list(OBSERVED_VALIDATOR.iter_errors(json.loads(raw))) == []
    assert decode(raw) == event
