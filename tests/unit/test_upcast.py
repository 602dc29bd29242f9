"""Versioning: one stored payload per (event type, version), and the upcasters that lift old ones.

Why the breaking change below is local to this test: every event type is still at
``schema_version`` 1, so the only stored payloads that exist honestly are version 1 payloads
(``tests/fixtures/events/<ns>.<Type>.v<N>.json``, named like the committed schema they follow).
Inventing a "legacy" v0 shape that no producer ever wrote would prove nothing about real data.
Instead the test makes the next breaking change the way a real one would be made (a v2
``OddsObserved`` whose teams become one object, and its v1 -> v2 upcaster) and reads the *stored v1
fixture* through ``decode`` with that registry: the same path a replay of today's topics takes
on the day v2 ships. When a real v2 lands, its v1 fixture stays, a v2 fixture joins it, and
``test_every_published_version_has_a_fixture_that_reaches_the_current_version`` covers both.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonschema import Draft202012Validator

from streams.events import EVENT_TYPES, BaseEvent, InvalidEvent, OddsObserved, decode, encode
from streams.schemas import file_name, json_schema
from streams.upcasters import UPCASTERS, UpcastError, Upcasters

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "events"
SCHEMAS = ROOT / "schemas"
NAME = re.compile(r"(?P<ns>[a-z]+)\.(?P<type>[A-Za-z]+)\.v(?P<version>[0-9]+)\.json")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _versions(directory: Path) -> set[tuple[str, int]]:
    out = set()
    for path in directory.glob("*.json"):
        m = NAME.fullmatch(path.name)
        assert m, f"{path.name} is not named <namespace>.<EventType>.v<N>.json"
        out.add((m["type"], int(m["version"])))
    return out


# -- the stored payloads --------------------------------------------------------------------------


def test_one_stored_payload_per_published_schema() -> None:
    assert _versions(FIXTURES) == _versions(SCHEMAS)
    current = {(t, cls.schema_version) for t, cls in EVENT_TYPES.items()}
    assert current <= _versions(FIXTURES), "every current version needs a stored payload"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda p: p.name)
def test_every_published_version_has_a_fixture_that_reaches_the_current_version(path: Path) -> None:
    stored = _load(path)
    m = NAME.fullmatch(path.name)
    assert m is not None
    assert stored["event_type"] == m["type"] and stored["schema_version"] == int(m["version"])
    committed = _load(SCHEMAS / path.name)
    errors = [e.message for e in Draft202012Validator(committed).iter_errors(stored)]
    assert errors == [], f"the stored payload does not follow its own published schema: {errors}"

    event = decode(json.dumps(stored).encode())
    cls = EVENT_TYPES[m["type"]]
    assert type(event) is cls
    assert event.schema_version == cls.schema_version
    assert event.event_id == stored["event_id"]
    # what the reader produces from it is a valid event of today's version, and stable
    assert decode(encode(event)) == event
    if stored["schema_version"] == cls.schema_version:
        # same version: nothing the payload says is lost or changed; fields added since (additive
        # changes keep the version) take their defaults and are never required
        encoded = json.loads(encode(event))
        assert {k: encoded[k] for k in stored} == stored
        added = set(encoded) - set(stored)
        assert not added & set(json_schema(cls)["required"]), f"a field added within v{cls.schema_version} is required"


def test_the_registry_in_use_reaches_every_current_version_from_every_published_one() -> None:
    for event_type, version in _versions(SCHEMAS):
        assert UPCASTERS.reaches(event_type, version, EVENT_TYPES[event_type].schema_version)


# -- a breaking change, made the way a real one would be --------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class OddsObservedV2(BaseEvent):
    """The next version: the two team names become one ``teams`` object (a breaking change)."""

    event_type: ClassVar[str] = "OddsObserved"
    schema_version: ClassVar[int] = 2
    topic: ClassVar[str] = "odds.observed"
    key_field: ClassVar[str] = "sportradar_id"

    run_id: str
    bookmaker: str
    sportradar_id: str
    bookmaker_event_id: str
    teams: dict[str, str]
    tournament: str
    kickoff_at: datetime
    observed_at: datetime
    markets: list[dict[str, Any]]
    unmapped: dict[str, int]


def teams_object(old: Mapping[str, Any]) -> dict[str, Any]:
    new = {k: v for k, v in old.items() if k not in ("home_team", "away_team")}
    new["teams"] = {"home": old["home_team"], "away": old["away_team"]}
    return new


V2_TYPES: dict[str, type[BaseEvent]] = {**EVENT_TYPES, "OddsObserved": OddsObservedV2}
V2_UPCASTERS = Upcasters().with_step("OddsObserved", 1, teams_object)
STORED_V1 = FIXTURES / "odds.OddsObserved.v1.json"


def test_the_stored_v1_payload_is_read_as_v2() -> None:
    raw = STORED_V1.read_bytes()
    stored = _load(STORED_V1)
    event = decode(raw, [OddsObservedV2], upcasters=V2_UPCASTERS, types=V2_TYPES)
    assert isinstance(event, OddsObservedV2)
    assert event.teams == {"home": stored["home_team"], "away": stored["away_team"]}
    assert event.event_id == stored["event_id"]
    assert event.markets == stored["markets"]
    assert event.kickoff_at.isoformat() == stored["kickoff_at"]
    assert not hasattr(event, "home_team")
    body = json.loads(encode(event))
    assert body["schema_version"] == 2 and "home_team" not in body
    # the v2 wire form validates against the schema the generator would publish for it
    assert list(Draft202012Validator(json_schema(OddsObservedV2)).iter_errors(body)) == []
    assert file_name(OddsObservedV2) == "odds.OddsObserved.v2.json"
    # and a v2 record is read as it is, with no upcaster involved
    assert decode(encode(event), upcasters=Upcasters(), types=V2_TYPES) == event


def test_without_the_upcaster_the_old_version_is_rejected_with_the_reason() -> None:
    with pytest.raises(InvalidEvent, match="no upcaster for OddsObserved from schema_version 1 to 2"):
        decode(STORED_V1.read_bytes(), upcasters=Upcasters(), types=V2_TYPES)


def test_a_record_newer_than_the_reader_is_rejected() -> None:
    body = {**_load(STORED_V1), "schema_version": 2}
    with pytest.raises(InvalidEvent, match="newer than this reader"):
        decode(json.dumps(body))


def test_an_old_record_the_upcaster_cannot_read_is_invalid_not_a_crash() -> None:
    body = _load(STORED_V1)
    del body["away_team"]
    with pytest.raises(InvalidEvent, match=r"upcasting OddsObserved v1 -> v2 failed: KeyError\('away_team'\)"):
        decode(json.dumps(body), upcasters=V2_UPCASTERS, types=V2_TYPES)


def test_upcasting_is_pure_and_the_registry_stamps_the_version() -> None:
    stored = _load(STORED_V1)
    before = copy.deepcopy(stored)
    lifted = V2_UPCASTERS.upcast(stored, 2)
    assert stored == before
    assert lifted["schema_version"] == 2 and lifted["event_type"] == "OddsObserved"
    assert V2_UPCASTERS.upcast(stored, 2) == lifted
    assert V2_UPCASTERS.upcast(stored, 1) == stored  # already there: nothing to do


def test_upcasters_receive_a_read_only_view() -> None:
    def mutating(old: Mapping[str, Any]) -> dict[str, Any]:
        old["home_team"] = "changed"  # type: ignore[index]
        return dict(old)

    stored = _load(STORED_V1)
    with pytest.raises(UpcastError, match="TypeError"):
        Upcasters().with_step("OddsObserved", 1, mutating).upcast(stored, 2)
    assert stored["home_team"] == "Enyimba FC"


def test_chains_apply_in_order_and_the_registry_is_immutable() -> None:
    def rename(old: Mapping[str, Any]) -> dict[str, Any]:
        new = dict(old)
        new["fixture"] = new.pop("teams")
        return new

    base = Upcasters()
    one = base.with_step("OddsObserved", 1, teams_object)
    two = one.with_step("OddsObserved", 2, rename)
    assert base.steps == {} and len(one.steps) == 1 and len(two.steps) == 2
    lifted = two.upcast(_load(STORED_V1), 3)
    assert lifted["schema_version"] == 3
    assert lifted["fixture"] == {"home": "Enyimba FC", "away": "Rivers United"}
    assert two.reaches("OddsObserved", 1, 3) and not one.reaches("OddsObserved", 1, 3)
    with pytest.raises(ValueError, match="already has an upcaster"):
        one.with_step("OddsObserved", 1, rename)
    with pytest.raises(ValueError, match="start at 1"):
        base.with_step("OddsObserved", 0, rename)


def test_every_registered_step_leads_to_a_current_version() -> None:
    for event_type, from_version in UPCASTERS.steps:
        assert event_type in EVENT_TYPES, f"upcaster for unknown event type {event_type}"
        assert from_version < EVENT_TYPES[event_type].schema_version, f"{event_type} v{from_version} is current"
    assert isinstance(decode(STORED_V1.read_bytes()), OddsObserved)
