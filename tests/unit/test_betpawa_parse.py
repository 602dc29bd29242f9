"""parse_event on the real BetPawa v4 capture, on edge cases, and on random garbage."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.sources.betpawa import build_list_query, parse_event, parse_event_list
from streams.sources.model import ParsedEvent, Quote, SourceError

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "betpawa.event.v4.json"


@pytest.fixture(scope="module")
def capture() -> dict[str, Any]:
    assert FIXTURE.is_file(), f"missing test fixture {FIXTURE} (copy of samples/real/betpawa.event.json)"
    payload: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return payload


@pytest.fixture
def payload(capture: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(capture)


def _quotes(event: ParsedEvent, market_id: str) -> list[Quote]:
    return [q for q in event.markets if q.market_id == market_id]


def _prices(quote: Quote) -> dict[str, float | None]:
    return {o.name: o.price for o in quote.outcomes}


def test_identity_teams_and_kickoff(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    assert event.bookmaker == "betpawa"
    assert event.bookmaker_event_id == "36552873"
    assert event.sportradar_id == "67691078"
    assert (event.home_team, event.away_team) == ("Sydney FC Youth", "Rockdale Ilinden FC")
    assert event.tournament == "NSW NPL 1"
    assert event.country == "Australia"  # region.name
    assert event.kickoff_at == datetime(2026, 8, 21, 9, 30, tzinfo=UTC)
    assert event.kickoff_at.utcoffset() is not None
    assert event.unmapped == {}


def test_1x2_matches_capture(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    (quote,) = _quotes(event, "3743")
    assert quote.market_name == "1X2 | Full Time"
    assert quote.line is None
    assert [o.name for o in quote.outcomes] == ["1", "X", "2"]
    market = next(m for m in payload["markets"] if m["marketType"]["id"] == "3743")
    assert _prices(quote) == {p["name"]: p["odds"] for p in market["row"][0]["prices"]}
    assert _prices(quote) == {"1": 4.59, "X": 3.9, "2": 1.68}
    assert not any(o.suspended for o in quote.outcomes)


def test_double_chance_and_btts(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    (dc,) = _quotes(event, "4693")
    assert _prices(dc) == {"1X": 1.98, "X2": 1.19, "12": 1.24}
    (btts,) = _quotes(event, "3795")
    assert _prices(btts) == {"Yes": 1.61, "No": 2.23}


def test_over_under_lines_from_row_handicap(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    ou = {q.line: q for q in _quotes(event, "5000")}
    assert sorted(ou) == [0.5, 1.5, 2.5]
    assert _prices(ou[2.5]) == {"Over": 1.59, "Under": 2.27}
    assert _prices(ou[0.5]) == {"Over": 1.02, "Under": 10.92}


def test_handicap_lines_are_home_lines(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    assert sorted(q.line for q in _quotes(event, "4724") if q.line is not None) == [-1.0, 1.0]
    asian = {q.line: q for q in _quotes(event, "3774")}
    assert sorted(asian) == [-0.5, 0.5]
    assert _prices(asian[-0.5]) == {"1": 4.3, "2": 1.21}


def test_multi_row_non_line_market_is_merged(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    (htft,) = _quotes(event, "4706")
    assert htft.line is None
    assert [o.name for o in htft.outcomes] == ["1/1", "1/X", "1/2", "X/1", "X/X", "X/2"]


def test_suspended_price_has_no_price(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    (multigoals,) = _quotes(event, "28000047")
    by_name = {o.name: o for o in multigoals.outcomes}
    assert by_name["1-5"].suspended and by_name["1-5"].price is None
    assert not by_name["2-3"].suspended and by_name["2-3"].price == 1.59


def test_every_market_row_becomes_a_quote(payload: dict[str, Any]) -> None:
    event = parse_event(payload)
    expected = 0
    for market in payload["markets"]:
        lines = {row.get("handicap") for row in market["row"]}
        expected += len(lines)
    assert len(event.markets) == expected


def test_absent_defaults_are_handled(payload: dict[str, Any]) -> None:
    market = next(m for m in payload["markets"] if m["marketType"]["id"] == "3743")
    del market["row"][0]["prices"][0]["odds"]  # protobuf default 0 omitted -> not offered
    market["row"][0]["prices"][1]["suspended"] = True
    del market["marketType"]["displayName"]
    payload.pop("competition")
    event = parse_event(payload)
    (quote,) = _quotes(event, "3743")
    assert quote.market_name == "1X2 - FT"
    assert [(o.price, o.suspended) for o in quote.outcomes] == [(None, True), (None, True), (1.68, False)]
    assert event.tournament == ""


def test_event_without_markets_is_empty_board(payload: dict[str, Any]) -> None:
    del payload["markets"]
    assert parse_event(payload).markets == ()


def test_unreadable_markets_are_counted(payload: dict[str, Any]) -> None:
    payload["markets"].extend(
        [
            "not a market",
            {"row": []},
            {"marketType": {"id": "5000"}},
            {"marketType": {"id": "5000"}, "row": [{"handicap": "x", "prices": []}]},
            {
                "marketType": {"id": "5000"},
                "row": [{"handicap": 10, "specifier": {"total": "3.5"}, "prices": [{"name": "Over", "odds": 2.0}]}],
            },
            {"marketType": {"id": "3743"}, "row": [{"prices": [{"odds": 2.0}, {"name": "1", "odds": "?"}]}]},
            {"marketType": {"id": "3743"}, "row": [{"handicap": 10**400, "prices": [{"name": "1", "odds": 10**400}]}]},
        ]
    )
    event = parse_event(payload)
    assert event.unmapped == {
        "market_not_object": 1,
        "no_market_type": 1,
        "no_rows": 1,
        "bad_line": 3,
        "bad_price": 2,
        "no_outcomes": 1,
    }


def test_v3_price_field_is_a_fallback(payload: dict[str, Any]) -> None:
    market = next(m for m in payload["markets"] if m["marketType"]["id"] == "3795")
    for price in market["row"][0]["prices"]:
        price["price"] = price.pop("odds")
    (btts,) = _quotes(parse_event(payload), "3795")
    assert _prices(btts) == {"Yes": 1.61, "No": 2.23}


@pytest.mark.parametrize(
    ("mutate", "cause"),
    [
        (lambda p: p.pop("id"), "no id"),
        (lambda p: p.pop("widgets"), "SPORTRADAR"),
        (lambda p: p.__setitem__("widgets", [w for w in p["widgets"] if w["type"] != "SPORTRADAR"]), "no SPORTRADAR"),
        (lambda p: p["widgets"][0].__setitem__("id", "sr:match:1"), "malformed SPORTRADAR"),
        (lambda p: p["widgets"][0].pop("id"), "malformed SPORTRADAR"),
        (lambda p: p.pop("participants"), "participants"),
        (lambda p: p.__setitem__("participants", p["participants"][:1]), "position 2"),
        (lambda p: p.pop("startTime"), "startTime"),
        (lambda p: p.__setitem__("startTime", "2026-08-21T09:30:00"), "startTime"),  # naive
        (lambda p: p.__setitem__("startTime", 1782500400000), "startTime"),
        (lambda p: p.__setitem__("markets", {}), "markets"),
    ],
)
def test_malformed_payload_raises_source_error(payload: dict[str, Any], mutate: Any, cause: str) -> None:
    mutate(payload)
    with pytest.raises(SourceError) as info:
        parse_event(payload)
    assert (info.value.bookmaker, info.value.endpoint) == ("betpawa", "event")
    assert cause in info.value.cause


@pytest.mark.parametrize("payload_value", [None, [], "event", 42, b"{}"])
def test_non_object_raises_source_error(payload_value: Any) -> None:
    with pytest.raises(SourceError):
        parse_event(payload_value)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "id",
        "widgets",
        "participants",
        "startTime",
        "markets",
        "competition",
        "marketType",
        "row",
        "prices",
        "odds",
        "name",
        "handicap",
        "suspended",
        "type",
        "position",
        "specifier",
    ]
)
_shaped = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-10, 10)
    | st.floats()
    | st.sampled_from(["SPORTRADAR", "123", "2026-08-21T09:30:00Z", "1", "X", ""]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=30,
)


def _only_parsed_or_source_error(value: Any) -> None:
    try:
        result = parse_event(value)
    except SourceError:
        return
    assert isinstance(result, ParsedEvent)
    assert all(isinstance(q, Quote) for q in result.markets)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_json)
def test_random_json_only_parses_or_raises_source_error(value: Any) -> None:
    _only_parsed_or_source_error(value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _shaped, max_size=8))
def test_random_event_shaped_dicts_only_parse_or_raise(value: dict[str, Any]) -> None:
    _only_parsed_or_source_error(value)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_capture_only_parses_or_raises(capture: dict[str, Any], data: st.DataObject) -> None:
    payload = copy.deepcopy(capture)
    market = data.draw(st.sampled_from(payload["markets"]))
    target = data.draw(st.sampled_from(["market", "row", "price", "event"]))
    node: dict[str, Any]
    if target == "market":
        node = market
    elif target == "row":
        node = data.draw(st.sampled_from(market["row"]))
    elif target == "price":
        node = data.draw(st.sampled_from(data.draw(st.sampled_from(market["row"]))["prices"]))
    else:
        node = payload
    key = data.draw(st.sampled_from(sorted(node)))
    node[key] = data.draw(_json)
    _only_parsed_or_source_error(payload)


def test_list_query_shape() -> None:
    q = build_list_query(skip=200)
    query = q["queries"][0]
    assert query["query"]["zones"] == {} and query["query"]["categories"] == ["2"]
    assert (query["skip"], query["take"], query["view"]) == (200, 100, {})


def test_parse_event_list() -> None:
    page = {"responses": [{"responses": [{"id": "1"}, {"id": 2}]}]}
    assert parse_event_list(page) == ["1", "2"]
    assert parse_event_list({"responses": []}) == []
    for bad in (None, {"responses": {}}, {"responses": [{"responses": [{}]}]}):
        with pytest.raises(SourceError):
            parse_event_list(bad)
