"""The scrape's pure parts: matching and urgency order, and coalescing of full cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from agents.scrape import Coalescer, is_full
from streams.events import ScrapeRequested
from streams.sources.cycle import Target, match_targets

T0 = datetime(2026, 9, 1, 12, 0, tzinfo=UTC)


def _t(bm: str, event_id: str, sr: str | None, minutes: int | None) -> Target:
    return Target(bm, event_id, sr, None if minutes is None else T0 + timedelta(minutes=minutes))


def test_matching_orders_every_book_by_the_earliest_kickoff_of_the_event() -> None:
    targets = {
        "betpawa": [_t("betpawa", "p1", "100", 90), _t("betpawa", "p2", "200", 30), _t("betpawa", "p3", None, 10)],
        "sportybet": [_t("sportybet", "sr:match:200", "200", 30), _t("sportybet", "sr:match:300", "300", 60)],
        # Bet9ja lists event 100 earlier than BetPawa does: the event's urgency is its earliest kickoff
        "bet9ja": [_t("bet9ja", "9100", "100", 20), _t("bet9ja", "9300", "300", 60)],
    }
    ordered, matched = match_targets(targets)
    assert [t.event_id for t in ordered["betpawa"]] == ["p3", "p1", "p2"]
    assert [t.event_id for t in ordered["bet9ja"]] == ["9100", "9300"]
    assert [t.event_id for t in ordered["sportybet"]] == ["sr:match:200", "sr:match:300"]
    assert matched == {2: 3}  # 100, 200, 300 each on two books


def test_scope_keeps_only_the_requested_events_and_unknown_sr_ids() -> None:
    targets = {
        "betpawa": [_t("betpawa", "p1", "100", 90), _t("betpawa", "p2", "200", 30), _t("betpawa", "p3", None, 10)],
        "bet9ja": [_t("bet9ja", "9100", "100", 20)],
    }
    ordered, matched = match_targets(targets, ["100"])
    assert [t.event_id for t in ordered["betpawa"]] == ["p3", "p1"]  # p3's SR id only its detail will tell
    assert [t.event_id for t in ordered["bet9ja"]] == ["9100"]
    assert matched == {2: 1}


def _cmd(run_id: str, **scope: list[str]) -> ScrapeRequested:
    return ScrapeRequested(run_id=run_id, trigger="api", **scope)


def test_full_requests_during_a_full_cycle_are_coalesced_scoped_ones_run() -> None:
    c = Coalescer()
    assert c.admit(_cmd("a")) is None  # runs
    assert c.admit(_cmd("b")) == "a"  # coalesced
    assert c.admit(_cmd("b")) == "a"  # redelivered: still one follower
    assert c.admit(_cmd("a")) == "a"  # the running one redelivered: nothing new
    assert c.admit(_cmd("s", bookmakers=["bet9ja"])) is None  # scoped: runs alongside
    assert c.admit(_cmd("e", events=["123"])) is None
    assert c.waiting_on("a") == ["b"] and c.waiting_on("s") == []
    assert [f.run_id for f in c.finish("s")] == []  # a scoped run ending frees nothing
    assert [f.run_id for f in c.finish("a")] == ["b"]
    assert c.admit(_cmd("c")) is None  # the next full request runs
    assert is_full(_cmd("x")) and not is_full(_cmd("y", bookmakers=["betpawa"]))
