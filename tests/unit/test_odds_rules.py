from __future__ import annotations

import math
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agents.odds_rules import apply_observation, quote_view
from streams.markets import (
    best_prices,
    canonical_markets,
    canonical_outcomes,
    compare_with_competitors,
    market_margin,
    outcome_dicts,
    quote_key,
)
from streams.sources.registry import NAMES

T0 = "2026-11-28T12:00:00+00:00"
T1 = "2026-11-28T12:05:00+00:00"


def _market(mid: str, line: float | None, **prices: float | None) -> tuple[str, str, float | None, Any]:
    return canonical_markets(
        [
            {
                "market_id": mid,
                "market_name": mid,
                "line": line,
                "outcomes": [{"name": n, "price": p, "suspended": p is None} for n, p in prices.items()],
            }
        ]
    )[0]


def test_first_observation_reports_every_quote_as_new() -> None:
    update = apply_observation(None, None, [_market("3743", None, **{"1": 2.0, "X": 3.2, "2": 3.9})], T0)
    assert len(update.changes) == 1
    assert update.changes[0]["previous_outcomes"] is None
    assert quote_view(update.quotes[quote_key("3743", None)])["last_changed_at"] == T0


def test_unchanged_board_yields_no_changes_and_keeps_last_changed_at() -> None:
    board = [_market("3743", None, **{"1": 2.0, "X": 3.2, "2": 3.9}), _market("5000", 2.5, Over=1.9, Under=1.9)]
    first = apply_observation(None, None, board, T0)
    second = apply_observation(first.quotes, T0, list(reversed(board)), T1)
    assert second.changes == []
    assert all(quote_view(q)["last_changed_at"] == T0 for q in second.quotes.values())


def test_outcome_order_does_not_matter_but_a_price_does() -> None:
    first = apply_observation(None, None, [_market("3743", None, **{"1": 2.0, "X": 3.2, "2": 3.9})], T0)
    moved = apply_observation(first.quotes, T0, [_market("3743", None, **{"2": 3.8, "X": 3.2, "1": 2.0})], T1)
    assert len(moved.changes) == 1
    change = moved.changes[0]
    assert {o["name"]: o["price"] for o in change["previous_outcomes"]}["2"] == 3.9
    assert {o["name"]: o["price"] for o in change["outcomes"]}["2"] == 3.8
    assert quote_view(moved.quotes[quote_key("3743", None)])["last_changed_at"] == T1


def test_lines_are_distinct_quotes_and_disappearing_quote_is_reported_empty() -> None:
    first = apply_observation(
        None, None, [_market("5000", 2.5, Over=1.9, Under=1.9), _market("5000", 3.5, Over=3.0, Under=1.35)], T0
    )
    assert len(first.quotes) == 2
    gone = apply_observation(first.quotes, T0, [_market("5000", 2.5, Over=1.9, Under=1.9)], T1)
    assert gone.changes == [
        {
            "market_id": "5000",
            "line": 3.5,
            "outcomes": [],
            "previous_outcomes": quote_view(first.quotes[quote_key("5000", 3.5)])["outcomes"],
        }
    ]


def test_suspension_is_a_change() -> None:
    first = apply_observation(None, None, [_market("5000", 2.5, Over=1.9, Under=1.9)], T0)
    suspended = apply_observation(first.quotes, T0, [_market("5000", 2.5, Over=None, Under=1.9)], T1)
    assert len(suspended.changes) == 1


def test_older_observation_is_ignored() -> None:
    first = apply_observation(None, None, [_market("3743", None, **{"1": 2.0, "X": 3.2, "2": 3.9})], T1)
    late = apply_observation(first.quotes, T1, [_market("3743", None, **{"1": 9.0, "X": 3.2, "2": 3.9})], T0)
    assert late.stale and late.changes == [] and late.quotes == first.quotes


prices = st.floats(min_value=1.01, max_value=100.0, allow_nan=False)


# markets whose outcomes partition the results, by their complete outcome sets
PARTITIONS = {"3795": ("No", "Yes"), "3743": ("1", "2", "X"), "4926": ("0", "1", "2", "3", "4", "5", "6+")}


@given(st.sampled_from(sorted(PARTITIONS)), st.data())
def test_margin_matches_overround(market_id: str, data: st.DataObject) -> None:
    names = PARTITIONS[market_id]
    ps = data.draw(st.lists(prices, min_size=len(names), max_size=len(names)))
    m = market_margin(market_id, [{"name": n, "price": p, "suspended": False} for n, p in zip(names, ps, strict=True)])
    assert m is not None
    assert math.isclose(m, sum(1 / p for p in ps) - 1, rel_tol=1e-12, abs_tol=1e-12)


@given(st.sampled_from(sorted(PARTITIONS)), st.data())
def test_margin_undefined_when_any_outcome_unavailable(market_id: str, data: st.DataObject) -> None:
    names = PARTITIONS[market_id]
    ps = data.draw(st.lists(prices, min_size=len(names), max_size=len(names)))
    outcomes = [{"name": n, "price": p, "suspended": False} for n, p in zip(names, ps, strict=True)]
    i = data.draw(st.integers(0, len(ps) - 1))
    outcomes[i] = data.draw(st.sampled_from([{**outcomes[i], "suspended": True}, {**outcomes[i], "price": None}]))
    assert market_margin(market_id, outcomes) is None


def test_margin_needs_the_complete_outcome_set() -> None:
    two = [{"name": "1", "price": 2.0, "suspended": False}, {"name": "2", "price": 2.0, "suspended": False}]
    assert market_margin("4703", two) == 0.0  # draw no bet: 1 and 2 are its whole set
    assert market_margin("3743", two) is None  # 1X2 without its draw


@given(st.dictionaries(st.sampled_from(["1", "X", "2"]), prices, min_size=3))
def test_fair_prices_have_zero_margin_after_normalising(odds: dict[str, float]) -> None:
    total = sum(1 / p for p in odds.values())
    fair = [{"name": n, "price": p * total, "suspended": False} for n, p in odds.items()]
    m = market_margin("3743", fair)
    assert m is not None and abs(m) < 1e-9


offer = st.one_of(prices, st.none())
books = st.sampled_from(NAMES)


def _outcomes(draw_prices: dict[str, float | None]) -> list[dict[str, object]]:
    return [{"name": n, "price": p, "suspended": p is None} for n, p in draw_prices.items()]


boards = st.dictionaries(books, st.dictionaries(st.sampled_from(["1", "X", "2"]), offer, min_size=1), min_size=1)


@given(boards)
def test_best_price_is_the_maximum_active_offer_and_names_its_bookmakers(
    raw: dict[str, dict[str, float | None]],
) -> None:
    by_bm = {bm: _outcomes(p) for bm, p in raw.items()}
    best = best_prices(by_bm)
    for name in {n for p in raw.values() for n in p}:
        offers = {bm: p[name] for bm, p in raw.items() if p.get(name) is not None}
        if not offers:
            assert name not in best
            continue
        top = max(offers.values())
        assert best[name]["price"] == top
        assert sorted(best[name]["bookmakers"]) == sorted(bm for bm, p in offers.items() if p == top)


@given(boards)
def test_deltas_compare_betpawa_with_the_best_competitor(raw: dict[str, dict[str, float | None]]) -> None:
    by_bm = {bm: _outcomes(p) for bm, p in raw.items()}
    result = compare_with_competitors("3743", by_bm)
    if "betpawa" not in raw or len(raw) == 1:
        assert result is None
        return
    assert result is not None
    for name, row in result["outcomes"].items():
        rivals = [p[name] for bm, p in raw.items() if bm != "betpawa" and p.get(name) is not None]
        mine = raw["betpawa"][name]
        if mine is None or not rivals:
            assert row["delta"] is None
        else:
            assert math.isclose(row["delta"], mine - max(rivals), abs_tol=1e-6)
            assert (row["delta"] >= -1e-6) == (mine >= max(rivals) - 1e-6)


def test_margin_delta_against_the_cheapest_complete_competitor() -> None:
    by_bm = {
        "betpawa": _outcomes({"1": 2.0, "X": 3.2, "2": 3.6}),
        "sportybet": _outcomes({"1": 2.1, "X": 3.3, "2": 3.7}),
        "bet9ja": _outcomes({"1": 2.2, "X": None, "2": 3.9}),  # incomplete: no margin
    }
    result = compare_with_competitors("3743", by_bm)
    assert result is not None
    home, rival = market_margin("3743", by_bm["betpawa"]), market_margin("3743", by_bm["sportybet"])
    assert home is not None and rival is not None
    assert result["best_competitor_margin"] == rival
    assert math.isclose(result["margin_delta"], home - rival, abs_tol=1e-9)
    assert result["outcomes"]["1"]["competitors"] == ["bet9ja"]
    assert result["outcomes"]["X"]["best_competitor"] == 3.3


outcome_lists = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["1", "X", "2", "Over", "Under"]),
            "price": st.none() | prices,
            "suspended": st.booleans(),
        }
    ),
    max_size=6,
)


@given(outcome_lists)
def test_flat_outcomes_read_back_as_the_outcomes_sorted_by_name(outcomes: list[dict[str, Any]]) -> None:
    flat = canonical_outcomes(outcomes)
    assert len(flat) == 3 * len(outcomes)
    assert outcome_dicts(flat) == sorted(outcomes, key=lambda o: o["name"])
    assert outcome_dicts(list(flat)) == outcome_dicts(flat)  # as recovered from the changelog (a list)
    if len({o["name"] for o in outcomes}) == len(outcomes):  # the source's order does not matter
        assert canonical_outcomes(reversed(outcomes)) == flat


def _chanced(mid: str, **outcomes: tuple[float, float]) -> Any:
    """A market whose outcomes carry the book's own ``probability``: name=(price, probability)."""
    return canonical_markets(
        [
            {
                "market_id": mid,
                "market_name": mid,
                "line": None,
                "outcomes": [
                    {"name": n, "price": p, "suspended": False, "probability": q} for n, (p, q) in outcomes.items()
                ],
            }
        ]
    )[0]


def test_changes_carry_the_books_probabilities_and_a_new_probability_alone_is_no_change() -> None:
    first = apply_observation(
        None, None, [_chanced("3743", **{"1": (2.0, 0.47), "X": (3.2, 0.29), "2": (3.9, 0.24)})], T0
    )
    assert first.changes[0]["outcomes"][0] == {"name": "1", "price": 2.0, "suspended": False, "probability": 0.47}
    again = [_chanced("3743", **{"1": (2.0, 0.48), "X": (3.2, 0.28), "2": (3.9, 0.24)})]
    second = apply_observation(first.quotes, T0, again, T1)
    assert second.changes == []  # the prices did not move
    view = quote_view(second.quotes[quote_key("3743", None)])
    assert [o.get("probability") for o in view["outcomes"]] == [0.48, 0.24, 0.28]  # the latest numbers
    assert view["last_changed_at"] == T0
    moved = apply_observation(
        second.quotes,
        T1,
        [_chanced("3743", **{"1": (2.1, 0.46), "X": (3.2, 0.30), "2": (3.9, 0.24)})],
        T1.replace("12:05", "12:10"),
    )
    [change] = moved.changes
    assert {o["name"]: o["probability"] for o in change["previous_outcomes"]} == {"1": 0.48, "2": 0.24, "X": 0.28}
    assert {o["name"]: o["probability"] for o in change["outcomes"]} == {"1": 0.46, "2": 0.24, "X": 0.30}
