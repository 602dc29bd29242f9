"""The generated world: determinism, realistic margins, a ~5 % price move per tick, v4 round trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.sources.betpawa import parse_event
from streams.sources.model import Quote
from streams.sources.simulator import render_event
from streams.sources.world import (
    BOARD,
    MARKET_1X2,
    MARKET_BTTS,
    MARKET_DOUBLE_CHANCE,
    MARKET_OVER_UNDER,
    World,
    build_world,
    fair_total,
    price_market,
)

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(7, 300, now=NOW)


def _overround(quote: Quote) -> float | None:
    """Margin of a full, open quote (None when an outcome is suspended)."""
    if any(o.price is None for o in quote.outcomes):
        return None
    return sum(1 / o.price for o in quote.outcomes if o.price is not None) - fair_total(quote.market_id)


def _prices(world: World) -> list[float | None]:
    return [o.price for e in world.events for q in e.quotes for o in q.outcomes]


def test_same_seed_same_world() -> None:
    assert build_world(3, 50, now=NOW) == build_world(3, 50, now=NOW)
    assert build_world(3, 50, now=NOW).tick(1) == build_world(3, 50, now=NOW).tick(1)
    assert build_world(3, 50, now=NOW) != build_world(4, 50, now=NOW)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        build_world(1, 5, now=datetime(2026, 9, 1))  # noqa: DTZ001 - the point of the test


def test_events_are_well_formed(world: World) -> None:
    assert len(world.events) == 300
    assert len({e.betpawa_id for e in world.events}) == 300
    assert len({e.sportradar_id for e in world.events}) == 300
    for event in world.events:
        assert len(event.betpawa_id) == 8 and event.betpawa_id.isdigit()
        assert len(event.sportradar_id) == 8 and event.sportradar_id.isdigit()
        assert event.home_team != event.away_team
        assert event.kickoff_at.tzinfo is UTC
        assert NOW < event.kickoff_at <= NOW + timedelta(days=5, hours=1)
        assert len(event.quotes) == len(BOARD) == 20


def test_board_has_the_core_markets(world: World) -> None:
    quotes = world.events[0].quotes
    ids = [q.market_id for q in quotes]
    for market_id in (MARKET_1X2, MARKET_DOUBLE_CHANCE, MARKET_BTTS):
        assert ids.count(market_id) == 1
    assert [q.line for q in quotes if q.market_id == MARKET_OVER_UNDER] == [0.5, 1.5, 2.5, 3.5, 4.5]
    one_x_two = next(q for q in quotes if q.market_id == MARKET_1X2)
    assert [o.name for o in one_x_two.outcomes] == ["1", "X", "2"]


def test_margins_are_realistic(world: World) -> None:
    margins = [m for e in world.events for q in e.quotes if (m := _overround(q)) is not None]
    assert len(margins) > 0.8 * 300 * 20
    assert all(0.045 <= m <= 0.085 for m in margins), (min(margins), max(margins))
    assert 0.055 < sum(margins) / len(margins) < 0.075


def test_a_few_outcomes_are_suspended(world: World) -> None:
    outcomes = [o for e in world.events for q in e.quotes for o in q.outcomes]
    suspended = [o for o in outcomes if o.suspended]
    assert 0.002 < len(suspended) / len(outcomes) < 0.03
    assert all(o.price is None for o in suspended)
    assert all(o.price is not None and o.price > 1.0 for o in outcomes if not o.suspended)


@settings(max_examples=200, deadline=None)
@given(
    spec_index=st.integers(0, len(BOARD) - 1),
    lam_home=st.floats(0.3, 3.5),
    lam_away=st.floats(0.2, 3.0),
    margin=st.floats(0.055, 0.075),
)
def test_priced_market_margin_within_range(spec_index: int, lam_home: float, lam_away: float, margin: float) -> None:
    quote = price_market(BOARD[spec_index], lam_home, lam_away, margin, ())
    overround = _overround(quote)
    assert overround is not None
    assert 0.045 <= overround <= 0.085
    assert all(o.price is not None and o.price >= 1.01 for o in quote.outcomes)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_any_seed_gives_realistic_margins(seed: int) -> None:
    world = build_world(seed, 20, now=NOW)
    margins = [m for e in world.events for q in e.quotes if (m := _overround(q)) is not None]
    assert margins and all(0.045 <= m <= 0.085 for m in margins)


def test_tick_moves_about_five_percent_of_prices(world: World) -> None:
    before = _prices(world)
    current = world
    for step in (1, 2, 3):
        nxt = current.tick(step)
        assert nxt.step == step
        after = _prices(nxt)
        changed = sum(a != b for a, b in zip(_prices(current), after, strict=True)) / len(after)
        assert 0.025 <= changed <= 0.08, changed
        current = nxt
    assert _prices(world) == before  # pure: the original world is untouched
    assert [e.betpawa_id for e in current.events] == [e.betpawa_id for e in world.events]


def test_ticked_margins_stay_realistic(world: World) -> None:
    current = world
    for step in range(1, 6):
        current = current.tick(step)
    margins = [m for e in current.events for q in e.quotes if (m := _overround(q)) is not None]
    assert all(0.045 <= m <= 0.085 for m in margins)


def test_rendered_events_round_trip_through_parse_event(world: World) -> None:
    for event in world.tick(1).events[:100]:
        parsed = parse_event(json.loads(json.dumps(render_event(event))))
        assert parsed.markets == event.quotes
        assert parsed.unmapped == {}
        assert (parsed.sportradar_id, parsed.bookmaker_event_id) == (event.sportradar_id, event.betpawa_id)
        assert (parsed.home_team, parsed.away_team, parsed.tournament) == (
            event.home_team,
            event.away_team,
            event.tournament,
        )
        assert parsed.country == event.region
        assert parsed.kickoff_at == event.kickoff_at


def test_rendered_event_has_the_v4_shape(world: World) -> None:
    payload = render_event(world.events[0])
    assert [w["type"] for w in payload["widgets"]].count("SPORTRADAR") == 2
    assert payload["startTime"].endswith("Z")
    ou = next(m for m in payload["markets"] if m["marketType"]["id"] == MARKET_OVER_UNDER)
    assert ou["marketType"]["handicapType"] == "NORMAL"
    assert [r["handicap"] for r in ou["row"]] == [2, 6, 10, 14, 18]
    assert [r["specifier"]["total"] for r in ou["row"]] == ["0.5", "1.5", "2.5", "3.5", "4.5"]
    one_x_two = next(m for m in payload["markets"] if m["marketType"]["id"] == MARKET_1X2)
    row = one_x_two["row"][0]
    assert "handicap" not in row and "handicapType" not in one_x_two["marketType"]
    assert all("odds" in p and "price" not in p for p in row["prices"])
    assert all(p.get("suspended", True) is True for p in row["prices"])  # only ever present as true
    htft = next(m for m in payload["markets"] if m["marketType"]["id"] == "4706")
    assert len(htft["row"]) == 3 and all("id" not in r for r in htft["row"])
