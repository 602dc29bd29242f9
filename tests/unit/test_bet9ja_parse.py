"""bet9ja.parse_event on the real captures, on markets.md §6 edge cases, and on garbage."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sources.bet9ja import parse_event, parse_events_in_group, parse_key, parse_sports
from streams.sources.model import SourceError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _load(name: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return payload


@pytest.fixture
def capture() -> dict[str, Any]:
    return _load("bet9ja.event.real.json")


def _quotes(payload: dict[str, Any]) -> dict[tuple[str, float | None], dict[str, float | None]]:
    return {(q.market_id, q.line): {o.name: o.price for o in q.outcomes} for q in parse_event(payload).markets}


def test_real_prematch_capture(capture: dict[str, Any]) -> None:
    parsed = parse_event(capture)
    assert (parsed.sportradar_id, parsed.bookmaker_event_id) == ("66457014", "782203257")
    assert (parsed.home_team, parsed.away_team) == ("Norway", "France")
    assert parsed.country == "International"  # SG
    assert parsed.kickoff_at == datetime(2026, 6, 26, 19, 0, tzinfo=UTC)  # zone-less STARTDATE is UTC
    q = _quotes(capture)
    assert q[("3743", None)] == {"1": 4.8, "X": 4.65, "2": 1.66}
    assert q[("4693", None)] == {"1X": 2.29, "X2": 1.19, "12": 1.21}
    assert q[("3774", -0.5)] == {"1": 4.8, "2": 1.19}  # param = home handicap
    assert q[("4724", -1.0)] == {"1": 10.75, "X": 5.0, "2": 1.19}  # 1H/XH/2H suffixes
    # combined home/away O/U split into two canonical markets, both suffix styles
    assert q[("5006", 1.5)] == {"Over": 2.61, "Under": 1.43}
    assert q[("5003", 1.5)] == {"Over": 1.48, "Under": 2.49}
    assert q[("4964", 0.5)] == {"Over": 2.2, "Under": 1.6}
    assert q[("4961", 0.5)] == {"Over": 1.52, "Under": 2.36}
    # "1" is a locked placeholder, never a price
    assert q[("5000", 6.5)] == {"Over": 10.25, "Under": None}
    assert q[("4961", 2.5)] == {"Over": None, "Under": None}
    assert q[("28000850", None)] == {"1": 4.5, "X": 4.65, "2": 1.63}  # 2UP: X2 is the draw
    # OUA (quarter lines), DCMULTI1-3, TOTAL1T2T 2+AND.., bookings with '+': unknown, counted
    assert parsed.unmapped["unknown_market"] >= 3
    cs = next(x for x in parsed.markets if x.market_id == "4429")
    assert cs.outcomes[-1].name == "Other" and cs.complete is False  # the capture was trimmed to 5 scores


def test_real_live_capture_all_locked() -> None:
    parsed = parse_event(_load("bet9ja.event_live.real.json"))
    assert parsed.sportradar_id == "67645534" and parsed.bookmaker_event_id == "9261155"
    assert parsed.home_team == "FC Tokyo" and parsed.kickoff_at == datetime(2026, 5, 6, 6, 0, tzinfo=UTC)
    assert parsed.markets and all(o.suspended and o.price is None for q in parsed.markets for o in q.outcomes)


@pytest.mark.parametrize("field", ["A", "AA"])
@pytest.mark.parametrize("value", ["FC Tokyo", [1, 2], 7])
def test_live_header_that_is_not_an_object_is_a_source_error(field: str, value: object) -> None:
    payload = _load("bet9ja.event_live.real.json")
    payload["D"][field] = value
    with pytest.raises(SourceError, match=r"D\.A / D\.AA must be objects"):
        parse_event(payload)


def test_startdate_zone_is_a_setting(capture: dict[str, Any]) -> None:
    lagos = timezone(timedelta(hours=1))
    assert parse_event(capture, zone=lagos).kickoff_at == datetime(2026, 6, 26, 18, 0, tzinfo=UTC)


def test_registered_code_with_unexpected_param_is_dropped(capture: dict[str, Any]) -> None:
    capture["D"]["O"] = {"S_OUGGNG@2.5_OY": "3.1", "S_OU_O": "1.9", "S_AH@x_1": "2"}
    parsed = parse_event(capture)
    assert parsed.markets == ()
    assert parsed.unmapped == {"unknown_param_market": 1, "invalid_specifier": 2}


def test_missing_key_is_absent_not_suspended(capture: dict[str, Any]) -> None:
    capture["D"]["O"] = {"S_1X2_1": "2.1", "S_1X2_2": "3.3"}
    (quote,) = parse_event(capture).markets
    assert [o.name for o in quote.outcomes] == ["1", "2"] and quote.complete is False


def test_key_grammar() -> None:
    assert parse_key("S_DCMULTI1-3_X2") == ("DCMULTI1-3", None, "X2")
    assert parse_key("S_TOTAL1T2T_2+AND1+Y") == ("TOTAL1T2T", None, "2+AND1+Y")
    assert parse_key("S_WINMARGIN_HT>2") == ("WINMARGIN", None, "HT>2")
    assert parse_key("S_AH@-0.75_1") == ("AH", "-0.75", "1")
    assert parse_key("LIVES_1X2RHND@0:3_XH") == ("1X2RHND", "0:3", "XH")
    assert parse_key("garbage") is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(R="E"),
        lambda p: p.update(R="X"),
        lambda p: p.update(D=[]),
        lambda p: p["D"].update(EXTID=None),
        lambda p: p["D"].update(DS="Norway vs France"),
        lambda p: p["D"].update(STARTDATE="26/06/2026"),
        lambda p: p["D"].update(O=[]),
    ],
)
def test_malformed_payloads_raise_source_error(capture: dict[str, Any], mutate: Any) -> None:
    mutate(capture)
    with pytest.raises(SourceError) as info:
        parse_event(capture)
    assert info.value.bookmaker == "bet9ja"


def test_r_e_means_gone(capture: dict[str, Any]) -> None:
    capture["R"] = "E"
    with pytest.raises(SourceError, match="gone"):
        parse_event(capture)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=30), st.none() | st.text(max_size=6) | st.floats() | st.integers()))
def test_garbage_odds_never_crash(odds: dict[str, Any]) -> None:
    payload = {"R": "OK", "D": {"ID": 1, "EXTID": "1", "DS": "a - b", "STARTDATE": "2026-01-01 00:00:00", "O": odds}}
    parse_event(payload)


def test_synthetic_discovery_and_list() -> None:
    assert "170880" in parse_sports(_load("bet9ja.sports.synthetic.json"))
    events = parse_events_in_group(_load("bet9ja.events_in_group.synthetic.json"))
    assert events == [("707096003", "65905654", datetime(2026, 1, 19, 20, 0, tzinfo=UTC))]  # EXTID null skipped
