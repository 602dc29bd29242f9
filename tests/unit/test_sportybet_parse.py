"""sportybet.parse_event on the real captures, on markets.md §6 edge cases, and on garbage."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sources.model import SourceError
from streams.sources.sportybet import parse_event, parse_events_page, parse_hcp, parse_specifier, parse_tournaments

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


@pytest.fixture
def capture() -> dict[str, Any]:
    return _load("sportybet.event.real.json")


def _quotes(payload: dict[str, Any]) -> dict[tuple[str, float | None], dict[str, float | None]]:
    return {(q.market_id, q.line): {o.name: o.price for o in q.outcomes} for q in parse_event(payload).markets}


def test_real_prematch_capture(capture: dict[str, Any]) -> None:
    parsed = parse_event(capture)
    assert parsed.sportradar_id == "66457014"
    assert parsed.bookmaker_event_id == "sr:match:66457014"
    assert (parsed.home_team, parsed.away_team, parsed.tournament) == ("Norway", "France", "World Cup")
    assert parsed.country == "International"  # sport.category.name
    assert parsed.kickoff_at == datetime(2026, 6, 26, 19, 0, tzinfo=UTC)
    quotes = _quotes(capture)
    assert quotes[("3743", None)] == {"1": 4.87, "X": 4.68, "2": 1.66}
    # Double Chance arrives as Home or Draw / Home or Away / Draw or Away: matched by id, not position
    assert quotes[("4693", None)] == {"1X": 2.2, "X2": 1.2, "12": 1.22}
    assert quotes[("5000", 2.0)] == {"Over": 1.23, "Under": 4.4}  # whole line: SportyBet only
    assert quotes[("5000", 2.5)] == {"Over": 1.53, "Under": 2.6}
    assert quotes[("3774", -0.5)] == {"1": 4.4, "2": 1.21}
    assert quotes[("4724", -1.0)] == {"1": 11.0, "X": 7.0, "2": 1.21}  # hcp=0:1 -> home -1
    assert quotes[("3795", None)] == {"Yes": 1.59, "No": 2.35}
    assert quotes[("28000810", None)] == {"1": 2.27, "X": 4.68, "2": 1.3}  # 1X2 1UP, never merged with 1X2
    assert quotes[("28000173", None)] == {"1": 10.5, "X": 1.22, "2": 5.6}  # from=1|to=10
    assert quotes[("80000", None)]["12"] is None  # isActive 0 -> suspended
    # early goals, goal bounds, shots O/U and player props have no BetPawa market: counted, not dropped silently
    assert parsed.unmapped == {"unknown_market": 4}


def test_real_live_capture_has_no_markets() -> None:
    parsed = parse_event(_load("sportybet.event_live.real.json"))
    assert parsed.sportradar_id == "67645534" and parsed.markets == () and parsed.unmapped == {}


def test_outcomes_never_matched_by_position(capture: dict[str, Any]) -> None:
    dc = next(m for m in capture["data"]["markets"] if m["id"] == "10")
    dc["outcomes"].reverse()
    assert _quotes(capture)[("4693", None)] == {"1X": 2.2, "X2": 1.2, "12": 1.22}
    one = next(m for m in capture["data"]["markets"] if m["id"] == "1")
    for outcome in one["outcomes"]:
        outcome["id"] = "999"  # unknown ids: the desc still names them
    assert _quotes(capture)[("3743", None)] == {"1": 4.87, "X": 4.68, "2": 1.66}
    one["outcomes"][0]["desc"] = "Somebody"
    quotes = parse_event(capture).markets
    first = next(q for q in quotes if q.market_id == "3743")
    assert {o.name for o in first.outcomes} == {"X", "2"} and first.complete is False


def test_competitor_only_outcome_makes_market_incomplete(capture: dict[str, Any]) -> None:
    capture["data"]["markets"].append(
        {
            "id": "45",
            "desc": "Correct Score",
            "outcomes": [
                {"id": "a", "desc": "1:0", "odds": "7.5", "isActive": 1},
                {"id": "b", "desc": "3:4", "odds": "150", "isActive": 1},
            ],
        }
    )
    quote = next(q for q in parse_event(capture).markets if q.market_id == "4429")
    assert [(o.name, o.price) for o in quote.outcomes] == [("1-0", 7.5)]
    assert quote.complete is False


def test_same_market_twice_is_merged(capture: dict[str, Any]) -> None:
    markets = capture["data"]["markets"]
    one = next(m for m in markets if m["id"] == "1")
    first, rest = copy.deepcopy(one), copy.deepcopy(one)
    first["outcomes"], rest["outcomes"] = one["outcomes"][:1], one["outcomes"][1:]
    markets.remove(one)
    markets += [first, rest]
    assert _quotes(capture)[("3743", None)] == {"1": 4.87, "X": 4.68, "2": 1.66}


@pytest.mark.parametrize(
    ("specifier", "reason"),
    [("hcp=a:b", "invalid_specifier"), ("total", "invalid_specifier"), ("minsnr=10", "unknown_param_market")],
)
def test_bad_specifiers_are_counted(capture: dict[str, Any], specifier: str, reason: str) -> None:
    market_id = "14" if specifier.startswith("hcp") else "1"
    capture["data"]["markets"] = [
        {"id": market_id, "specifier": specifier, "outcomes": [{"id": "1", "desc": "Home", "odds": "2", "isActive": 1}]}
    ]
    parsed = parse_event(capture)
    assert parsed.markets == () and parsed.unmapped == {reason: 1}


def test_specifier_and_hcp_parsing() -> None:
    assert parse_specifier("minsnr=10|TOTAL=1.5") == {"minsnr": "10", "total": "1.5"}
    assert parse_hcp("0:1") == -1.0 and parse_hcp("2:0") == 2.0 and parse_hcp("-0.25") == -0.25


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(bizCode=11000),
        lambda p: p.pop("data"),
        lambda p: p["data"].update(eventId="61300947"),  # the prefix is required
        lambda p: p["data"].pop("estimateStartTime"),
        lambda p: p["data"].update(homeTeamName=""),
        lambda p: p["data"].update(markets={}),
    ],
)
def test_malformed_payloads_raise_source_error(capture: dict[str, Any], mutate: Any) -> None:
    mutate(capture)
    with pytest.raises(SourceError) as info:
        parse_event(capture)
    assert info.value.bookmaker == "sportybet"


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c) | st.dictionaries(st.text(max_size=5), c),
        max_leaves=20,
    )
)
def test_garbage_never_crashes(payload: Any) -> None:
    try:
        parse_event(
            {
                "bizCode": 10000,
                "data": {
                    "eventId": "sr:match:1",
                    "estimateStartTime": 1,
                    "homeTeamName": "a",
                    "awayTeamName": "b",
                    "markets": [payload],
                },
            }
        )
        parse_event(payload)
    except SourceError:
        pass


def test_synthetic_discovery_and_list() -> None:
    assert parse_tournaments(_load("sportybet.tournaments.synthetic.json"))
    events = parse_events_page(_load("sportybet.events_by_tournament.synthetic.json"))
    assert ("sr:match:65905654", datetime(2026, 1, 19, 20, 0, tzinfo=UTC)) in events
