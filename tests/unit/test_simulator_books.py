"""The competitors' views of the simulated world: overlap, round trip through the parsers, drift, settings."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime

import pytest

from streams.sources import bet9ja, sportybet
from streams.sources.books import BookView, competitor_quotes, render_bet9ja_event, render_sportybet_event
from streams.sources.simulator import (
    DEFAULT_LATENCY,
    Faults,
    Latency,
    SimulatedBooks,
    _ServerState,
    parse_faults,
    parse_latency,
)
from streams.sources.world import build_world

NOW = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def view() -> BookView:
    return SimulatedBooks(7, 600, tick_s=3600, now=NOW).view()


def test_overlap_is_like_the_reference(view: BookView) -> None:
    main = {e.sportradar_id for e in view.main.events}
    sb = {x.event.sportradar_id for x in view.listings["sportybet"]}
    b9 = {x.event.sportradar_id for x in view.listings["bet9ja"]}
    assert len(main) == 600
    assert 0.88 * 600 < len(sb & main) < 0.99 * 600
    assert 0.83 * 600 < len(b9 & main) < 0.96 * 600
    competitor_only = (sb | b9) - main
    assert competitor_only and len(competitor_only) <= 0.06 * 600
    on_one = [s for s in main | sb | b9 if (s in main) + (s in sb) + (s in b9) == 1]
    assert on_one  # some events on a single book
    without_sr = [x for x in view.listings["bet9ja"] if not x.has_sportradar_id]
    assert 0 < len(without_sr) < 0.08 * len(b9)


def test_same_seed_same_views() -> None:
    a = SimulatedBooks(3, 100, tick_s=3600, now=NOW).view()
    b = SimulatedBooks(3, 100, tick_s=3600, now=NOW).view()
    c = SimulatedBooks(4, 100, tick_s=3600, now=NOW).view()
    ids = {bm: [x.bookmaker_id for x in ls] for bm, ls in a.listings.items()}
    assert ids == {bm: [x.bookmaker_id for x in ls] for bm, ls in b.listings.items()}
    assert ids != {bm: [x.bookmaker_id for x in ls] for bm, ls in c.listings.items()}
    listing = a.listings["bet9ja"][0]
    assert render_bet9ja_event(3, listing, 0) == render_bet9ja_event(3, b.by_id["bet9ja"][listing.bookmaker_id], 0)


def _board(quotes: object) -> dict[tuple[str, float | None], object]:
    return {(q.market_id, q.line): q.outcomes for q in quotes}  # type: ignore[attr-defined]


def test_renders_parse_back_to_the_quotes_offered(view: BookView) -> None:
    for listing in view.listings["sportybet"][:60]:
        parsed = sportybet.parse_event(json.loads(json.dumps(render_sportybet_event(7, listing.event, 0))))
        assert parsed.sportradar_id == listing.event.sportradar_id
        assert parsed.kickoff_at == listing.event.kickoff_at
        assert _board(parsed.markets) == _board(competitor_quotes(7, "sportybet", listing.event, 0))
        assert parsed.unmapped == {"unknown_market": 2}
    for listing in [x for x in view.listings["bet9ja"] if x.has_sportradar_id][:60]:
        parsed = bet9ja.parse_event(json.loads(json.dumps(render_bet9ja_event(7, listing, 0))))
        assert (parsed.sportradar_id, parsed.bookmaker_event_id) == (listing.event.sportradar_id, listing.bookmaker_id)
        assert parsed.home_team == listing.event.home_team
        assert _board(parsed.markets) == _board(competitor_quotes(7, "bet9ja", listing.event, 0))
    no_sr = next(x for x in view.listings["bet9ja"] if not x.has_sportradar_id)
    with pytest.raises(bet9ja.SourceError):
        bet9ja.parse_event(render_bet9ja_event(7, no_sr, 0))


def test_competitors_disagree_a_little_and_carry_their_own_margin(view: BookView) -> None:
    diffs = []
    for event in view.main.events[:100]:
        pawa = {(q.market_id, q.line): q for q in event.quotes}
        for q in competitor_quotes(7, "bet9ja", event, 0):
            for mine, theirs in zip(q.outcomes, pawa[(q.market_id, q.line)].outcomes, strict=True):
                if mine.price and theirs.price:
                    diffs.append(abs(mine.price / theirs.price - 1))
    assert 0.005 < statistics.median(diffs) < 0.06


def test_prices_drift_and_markets_come_and_go_over_steps() -> None:
    world = build_world(7, 200, now=NOW)
    later = world.tick(1).tick(2).tick(3).tick(4).tick(5).tick(6).tick(7).tick(8)
    before = {e.sportradar_id: _board(competitor_quotes(7, "sportybet", e, 0)) for e in world.events}
    after = {e.sportradar_id: _board(competitor_quotes(7, "sportybet", e, 8)) for e in later.events}
    keys_before = {(sr, k) for sr, b in before.items() for k in b}
    keys_after = {(sr, k) for sr, b in after.items() for k in b}
    assert keys_before != keys_after  # withdrawn and restored markets
    changed = sum(before[sr].get(k) != after[sr].get(k) for sr, k in keys_before & keys_after)
    assert 0.05 < changed / len(keys_before & keys_after) < 0.8
    suspended = sum(
        o.suspended for e in world.events for q in competitor_quotes(7, "bet9ja", e, 0) for o in q.outcomes
    ) / sum(len(q.outcomes) for e in world.events for q in competitor_quotes(7, "bet9ja", e, 0))
    assert 0.001 < suspended < 0.05


def test_latency_settings() -> None:
    assert parse_latency("default") == DEFAULT_LATENCY
    assert all(lat.median_ms == 0 for lat in parse_latency("0").values())
    custom = parse_latency("bet9ja=100:200")
    assert custom["bet9ja"] == Latency(100, 200) and custom["betpawa"] == DEFAULT_LATENCY["betpawa"]
    for bad in ("bet9ja", "pinnacle=10", "bet9ja=x", "bet9ja=200:100"):
        with pytest.raises(ValueError):
            parse_latency(bad)
    rng = random.Random(1)
    draws = sorted(DEFAULT_LATENCY["bet9ja"].draw_s(rng) for _ in range(4000))
    assert draws[2000] == pytest.approx(0.641, rel=0.05)
    assert draws[3800] == pytest.approx(0.841, rel=0.08)


def test_fault_settings_and_decisions() -> None:
    faults = parse_faults("timeout=0.1,5xx=0.2,malformed=0.1,missing=0.1,bet9ja_limit=10,hang_s=2")
    assert faults == Faults(0.1, 0.2, 0.1, 0.1, 10, 2.0)
    assert parse_faults("") == Faults()
    for bad in ("timeout", "timeout=2", "explode=0.1", "timeout=0.6,5xx=0.6"):
        with pytest.raises(ValueError):
            parse_faults(bad)
    a, b = _ServerState(7, DEFAULT_LATENCY, faults), _ServerState(7, DEFAULT_LATENCY, faults)
    keys = [f"event:{i}" for i in range(2000)]
    first = [a.fault("bet9ja", k, True) for k in keys]
    assert first == [b.fault("bet9ja", k, True) for k in keys]  # deterministic by seed and attempt
    share = {name: first.count(name) / len(keys) for name in ("timeout", "5xx", "malformed", "missing")}
    assert share == pytest.approx({"timeout": 0.1, "5xx": 0.2, "malformed": 0.1, "missing": 0.1}, abs=0.03)
    second = [a.fault("bet9ja", k, True) for k in keys]
    assert second != first  # a retry meets a fresh decision
    assert all(a.fault("bet9ja", f"list:{i}", False) in (None, "timeout", "5xx") for i in range(500))
