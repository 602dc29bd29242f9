"""Markets a bookmaker stopped offering: remembered per board with ``unavailable_since``, bounded, and
read back from a changelog of either layout."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from agents.board_state import BoardBatch
from agents.board_view import event_detail
from agents.odds_rules import WITHDRAWN_MAX, stored_withdrawn, withdrawn_after
from streams.clock import format_ts
from streams.events import OddsObserved, derive_id
from streams.wire import ObservedBoard

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEY = "61300947:betpawa"


def _market(mid: str, line: float | None = None, price: float = 2.0) -> dict[str, Any]:
    return {
        "market_id": mid,
        "market_name": mid,
        "line": line,
        "outcomes": [{"name": "Over", "price": price, "suspended": False}, {"name": "Under", "price": 1.8}],
    }


def _obs(n: int, markets: list[dict[str, Any]]) -> ObservedBoard:
    at = T0 + timedelta(minutes=5 * n)
    return ObservedBoard.of(
        OddsObserved(
            event_id=derive_id("obs", n),
            occurred_at=at,
            sportradar_id="61300947",
            bookmaker="betpawa",
            bookmaker_event_id="e1",
            home_team="A",
            away_team="B",
            tournament="T",
            kickoff_at=T0 + timedelta(days=1),
            observed_at=at,
            run_id="r1",
            markets=markets,
        )
    )


def _apply(table: dict[str, Any], n: int, markets: list[dict[str, Any]], *, via_changelog: bool = False) -> Any:
    batch = BoardBatch(table)
    batch.apply(0, n, _obs(n, markets))
    record = batch.boards[KEY][1]
    # a board recovered from the changelog is JSON: tuples come back as lists
    table[KEY] = json.loads(json.dumps(record)) if via_changelog else record
    return table[KEY]


def test_a_dropped_market_is_kept_since_the_board_that_dropped_it_until_it_returns() -> None:
    table: dict[str, Any] = {}
    first = _apply(table, 0, [_market("5000", 2.5), _market("5000", 3.5)])
    assert "withdrawn" not in first  # nothing withdrawn: the record keeps its earlier shape
    dropped = _apply(table, 1, [_market("5000", 2.5)])
    since, last = dropped["withdrawn"]["5000|3.5"]
    assert since == format_ts(T0 + timedelta(minutes=5))
    assert last[0] == "5000" and last[2] == 3.5 and last[3][:2] == ("Over", 2.0)  # as last offered
    still = _apply(table, 2, [_market("5000", 2.5)], via_changelog=True)
    assert still["withdrawn"]["5000|3.5"][0] == since  # the first board without it, not the latest
    back = _apply(table, 3, [_market("5000", 2.5), _market("5000", 3.5)], via_changelog=True)
    assert "withdrawn" not in back


def test_a_board_recorded_before_withdrawn_markets_existed_still_loads() -> None:
    table: dict[str, Any] = {}
    old = json.loads(json.dumps(_apply(table, 0, [_market("5000", 2.5), _market("3795")])))
    old.pop("withdrawn", None)
    # the oldest layout: a dict per quote with a dict per outcome
    old["quotes"] = {
        "5000|2.5": {
            "market_id": "5000",
            "market_name": "O/U",
            "line": 2.5,
            "outcomes": [{"name": "Over", "price": 2.0, "suspended": False}],
            "last_changed_at": old["observed_at"],
        },
        "3795|": {"market_id": "3795", "line": None, "outcomes": [], "last_changed_at": old["observed_at"]},
    }
    table[KEY] = old
    after = _apply(table, 1, [_market("5000", 2.5)], via_changelog=True)
    assert set(after["withdrawn"]) == {"3795|"}
    assert stored_withdrawn(None) == {} and stored_withdrawn({}) == {}


def test_the_detail_keeps_a_withdrawn_market_with_its_last_prices() -> None:
    table: dict[str, Any] = {}
    _apply(table, 0, [_market("5000", 2.5), _market("5000", 3.5)])
    board = _apply(table, 1, [_market("5000", 2.5)], via_changelog=True)
    detail = event_detail("61300947", [board], {KEY: board["observed_at"]}, T0 + timedelta(minutes=6))
    assert detail is not None
    [gone] = [m for m in detail["markets"] if m["line"] == 3.5]
    assert gone["unavailable_since"] == format_ts(T0 + timedelta(minutes=5))
    home = gone["bookmakers"]["betpawa"]
    assert home["unavailable_since"] == gone["unavailable_since"]
    assert [o["price"] for o in home["outcomes"]] == [2.0, 1.8]  # struck through, not dropped
    assert home["margin"] is None and gone["best"] == {}  # no longer an offer
    [live] = [m for m in detail["markets"] if m["line"] == 2.5]
    assert live["unavailable_since"] is None and live["bookmakers"]["betpawa"]["unavailable_since"] is None


quote_keys = st.sampled_from([f"5000|{n / 2}" for n in range(12)])


@given(
    steps=st.lists(st.sets(quote_keys), min_size=1, max_size=12),
    limit=st.integers(1, 8),
)
def test_withdrawn_quotes_are_exactly_the_dropped_ones_within_the_bound(steps: list[set[str]], limit: int) -> None:
    withdrawn: dict[str, Any] = {}
    previous: dict[str, Any] | None = None
    first_missing: dict[str, str] = {}  # brute force: since when each key has been missing
    ever: set[str] = set()
    for n, keys in enumerate(steps):
        at = format_ts(T0 + timedelta(minutes=n))
        quotes = {k: ("5000", "", float(k.split("|")[1]), ("Over", 2.0, False), at, None) for k in keys}
        withdrawn = withdrawn_after(withdrawn, previous, quotes, at, limit)
        for k in list(first_missing):
            if k in keys:
                del first_missing[k]
        for k in ever - keys:
            first_missing.setdefault(k, at)
        ever |= keys
        previous = quotes
        assert len(withdrawn) <= limit
        assert not set(withdrawn) & keys
        for k, (since, _) in withdrawn.items():
            assert since == first_missing[k]
        if withdrawn:  # what the bound cut is never newer than what it kept
            oldest_kept = min(since for since, _ in withdrawn.values())
            assert all(first_missing[k] <= oldest_kept for k in set(first_missing) - set(withdrawn))
    assert WITHDRAWN_MAX >= 32
