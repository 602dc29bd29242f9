"""The event detail's margins and fair prices, from boards as the board agent keeps them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agents.board_view import event_detail, list_events
from agents.odds_rules import apply_observation
from streams.markets import canonical_markets

T0 = "2026-11-28T12:00:00+00:00"
NOW = datetime(2026, 11, 28, 12, 1, tzinfo=UTC)


def _board(bm: str, markets: list[dict[str, Any]]) -> dict[str, Any]:
    update = apply_observation(None, None, canonical_markets(markets), T0)
    return {
        "sportradar_id": "61300947",
        "bookmaker": bm,
        "home_team": "A",
        "away_team": "B",
        "tournament": "T",
        "kickoff_at": "2026-11-29T12:00:00+00:00",
        "quotes": update.quotes,
    }


def _market(mid: str, prices: dict[str, float], chances: dict[str, float] | None = None) -> dict[str, Any]:
    return {
        "market_id": mid,
        "market_name": mid,
        "line": None,
        "outcomes": [
            {"name": n, "price": p, "suspended": False} | ({"probability": chances[n]} if chances else {})
            for n, p in prices.items()
        ],
    }


DC_PRICES = {"1X": 1.25, "X2": 1.60, "12": 1.30}  # Σ 1/odds = 2.1617: 8.1 % over a total of 2
DC_CHANCES = {"1X": 0.78, "X2": 0.58, "12": 0.64}


@pytest.fixture
def detail() -> dict[str, Any]:
    boards = [
        _board("betpawa", [_market("4693", DC_PRICES, DC_CHANCES), _market("3743", {"1": 2.0, "X": 3.4, "2": 3.9})]),
        _board("bet9ja", [_market("4693", {"1X": 1.28, "X2": 1.55, "12": 1.32})]),
    ]
    confirmed = {"61300947:betpawa": T0, "61300947:bet9ja": T0}
    out = event_detail("61300947", boards, confirmed, NOW)
    assert out is not None
    return out


def _entry(detail: dict[str, Any], mid: str) -> dict[str, Any]:
    [entry] = [m for m in detail["markets"] if m["market_id"] == mid]
    return entry


def test_double_chance_margins_are_over_a_total_of_two(detail: dict[str, Any]) -> None:
    dc = _entry(detail, "4693")
    assert dc["bookmakers"]["betpawa"]["margin"] == pytest.approx(sum(1 / p for p in DC_PRICES.values()) / 2 - 1)
    assert 0 < dc["bookmakers"]["bet9ja"]["margin"] < 0.15
    assert dc["betpawa_vs_best_competitor"]["margin_delta"] == pytest.approx(
        dc["bookmakers"]["betpawa"]["margin"] - dc["bookmakers"]["bet9ja"]["margin"], abs=1e-9
    )


def test_the_home_books_own_numbers_are_the_reference(detail: dict[str, Any]) -> None:
    dc = _entry(detail, "4693")
    home = dc["bookmakers"]["betpawa"]["fair"]
    assert home["method"] == "book"
    assert home["outcomes"]["1X"]["fair_odds"] == pytest.approx(1 / 0.78)
    assert home["outcomes"]["1X"]["edge"] == pytest.approx(1.25 * 0.78 - 1)
    assert sum(o["margin_share"] for o in home["outcomes"].values()) == pytest.approx(1)
    assert dc["bookmakers"]["bet9ja"]["fair"]["method"] == "power"  # no numbers of its own, a total of 2
    ref = dc["fair"]
    assert (ref["source"], ref["method"]) == ("betpawa", "book")
    assert ref["offered_vs_fair"]["bet9ja"]["X2"] == pytest.approx(1.55 * 0.58 - 1)


def test_without_any_books_numbers_the_prices_are_de_vigged(detail: dict[str, Any]) -> None:
    one_x_two = _entry(detail, "3743")
    fair = one_x_two["bookmakers"]["betpawa"]["fair"]
    assert fair["method"] == "shin"
    assert sum(o["probability"] for o in fair["outcomes"].values()) == pytest.approx(1, abs=1e-12)
    assert one_x_two["fair"]["source"] == "betpawa"


def test_the_list_gives_no_margin_to_an_incomplete_set() -> None:
    boards = [_board("betpawa", [_market("3743", {"1": 2.0, "X": 3.4})])]
    [event] = list_events(boards, {"61300947:betpawa": T0}, NOW)["events"]
    assert event["bookmakers"]["betpawa"]["markets"]["1x2"]["margin"] is None


def test_the_list_features_double_chance_with_its_margin() -> None:
    boards = [_board("betpawa", [_market("4693", DC_PRICES, DC_CHANCES)])]
    [event] = list_events(boards, {"61300947:betpawa": T0}, NOW)["events"]
    featured = event["bookmakers"]["betpawa"]["markets"]
    assert featured["double_chance"]["margin"] == pytest.approx(sum(1 / p for p in DC_PRICES.values()) / 2 - 1)
    assert featured["1x2"] is None
