"""Market names and groups from the registry, and the detail's summary card against a brute-force count."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.board_summary import COMPETITORS, board_summary
from agents.board_view import event_detail
from agents.odds_rules import apply_observation
from streams.market_catalog import GROUPS, label
from streams.markets import canonical_markets
from streams.sources.mapping import REGISTRY

T0 = "2026-11-28T12:00:00+00:00"
NOW = datetime(2026, 11, 28, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("market_id", "name", "group"),
    [
        ("3743", "1X2 | Full Time", "popular"),
        ("4693", "Double Chance | Full Time", "popular"),
        ("3774", "Asian Handicap | Full Time", "handicaps"),
        ("3668", "1X2 | 1st Half", "halves"),
        ("3789", "Both Teams To Score | 1st Half", "halves"),
        ("4706", "Half Time/Full Time", "halves"),
        ("4833", "Odd/Even | Full Time", "goals"),
        ("3591790", "1X2 & Both Teams To Score | Full Time", "combos"),
        ("1096783", "Corners Over/Under | Full Time", "corners"),
        ("1096764", "Bookings Over/Under | Full Time", "cards"),
    ],
)
def test_registry_markets_have_display_names_and_groups(market_id: str, name: str, group: str) -> None:
    assert label(market_id) == (name, group)


def test_every_registry_market_is_named_and_grouped() -> None:
    assert len(REGISTRY) >= 129
    for entry in REGISTRY:
        if entry.betpawa_id is None:
            continue
        name, group = label(entry.betpawa_id)
        assert name and "_" not in name, entry.canonical
        assert group in GROUPS, entry.canonical
    assert label("999999", "Weird market") == ("Weird market", "other")
    assert label("999999") == ("Market 999999", "other")


def _board(bm: str, markets: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sportradar_id": "1",
        "bookmaker": bm,
        "home_team": "A",
        "away_team": "B",
        "tournament": "T",
        "kickoff_at": "2026-11-29T12:00:00+00:00",
        "quotes": apply_observation(None, None, canonical_markets(markets), T0).quotes,
    }


def _m(mid: str, prices: dict[str, float | None], line: float | None = None) -> dict[str, Any]:
    outcomes = [{"name": n, "price": p, "suspended": p is None} for n, p in prices.items()]
    return {"market_id": mid, "market_name": "raw_key", "line": line, "outcomes": outcomes}


def test_the_detail_names_groups_and_summarises() -> None:
    boards = [
        _board("betpawa", [_m("3743", {"1": 2.0, "X": 3.4, "2": 3.9}), _m("3774", {"1": 1.9, "2": 1.9}, -0.5)]),
        _board("sportybet", [_m("3743", {"1": 2.1, "X": 3.4, "2": 3.5})]),
    ]
    detail = event_detail("1", boards, {}, NOW)
    assert detail is not None
    assert [(m["name"], m["group"]) for m in detail["markets"]] == [
        ("1X2 | Full Time", "popular"),
        ("Asian Handicap | Full Time", "handicaps"),
    ]
    assert detail["groups"] == ["popular", "handicaps"]
    card = detail["summary"]["all"]
    # BetPawa's 5 priced outcomes: SportyBet pays more for "1" only (X ties, counts for BetPawa)
    assert (card["markets"], card["outcomes"], card["best_or_tied"]) == (2, 5, 4)
    assert card["best_share"] == pytest.approx(0.8)
    sb = card["competitors"]["sportybet"]
    assert (sb["markets_priced"], sb["prices_share"], sb["outcomes_compared"]) == (1, 0.5, 3)
    assert sb["best_or_tied_share"] == pytest.approx(2 / 3)
    one_x_two = detail["markets"][0]
    assert card["margin_gap"] == pytest.approx(one_x_two["betpawa_vs_best_competitor"]["margin_delta"])
    assert card["competitors"]["bet9ja"]["prices_share"] == 0 and card["competitors"]["bet9ja"]["margin_gap"] is None
    assert list(detail["summary"]["groups"]) == ["popular", "handicaps"]
    assert detail["summary"]["groups"]["handicaps"]["best_share"] == 1.0  # nobody else prices it


prices_st = st.one_of(st.none(), st.sampled_from([1.5, 1.8, 2.0, 2.2, 3.0]))
market_st = st.fixed_dictionaries(
    {
        "group": st.sampled_from(["popular", "goals"]),
        "bookmakers": st.dictionaries(
            st.sampled_from(["betpawa", *COMPETITORS]),
            st.fixed_dictionaries(
                {
                    "outcomes": st.lists(
                        st.fixed_dictionaries({"name": st.sampled_from(["1", "X", "2"]), "price": prices_st}),
                        max_size=3,
                        unique_by=lambda o: o["name"],
                    ),
                    "unavailable_since": st.sampled_from([None, None, T0]),
                    "margin": st.one_of(st.none(), st.floats(0, 0.2)),
                }
            ),
        ),
    }
)


@given(markets=st.lists(market_st, max_size=8))
def test_the_best_share_matches_a_brute_force_count(markets: list[dict[str, Any]]) -> None:
    def offered(q: dict[str, Any] | None) -> dict[str, float]:
        if q is None or q["unavailable_since"] is not None:
            return {}
        return {o["name"]: o["price"] for o in q["outcomes"] if o["price"] is not None}

    total = best = 0
    for m in markets:
        mine = offered(m["bookmakers"].get("betpawa"))
        for name, price in mine.items():
            total += 1
            paid_more = any(offered(m["bookmakers"].get(c)).get(name, 0) > price for c in COMPETITORS)
            best += not paid_more
    card = board_summary(markets)["all"]
    assert (card["outcomes"], card["best_or_tied"]) == (total, best)
    assert card["best_share"] == (None if total == 0 else pytest.approx(best / total))
    home_markets = sum(1 for m in markets if offered(m["bookmakers"].get("betpawa")))
    assert card["markets"] == home_markets
    for c in COMPETITORS:
        priced = sum(1 for m in markets if offered(m["bookmakers"].get("betpawa")) and offered(m["bookmakers"].get(c)))
        assert card["competitors"][c]["markets_priced"] == priced
    per_group = board_summary(markets)["groups"]
    assert sum(g["outcomes"] for g in per_group.values()) == total
