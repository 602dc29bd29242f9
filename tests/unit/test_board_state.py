"""One board batch: observations of a key chain within the batch, markers, stale ones counted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.board_state import BoardBatch, Confirmations, applied_offset, board_items
from agents.odds_rules import apply_observation, quote_view
from streams.clock import format_ts
from streams.events import OddsObserved, derive_id
from streams.topics import mark_key
from streams.wire import ObservedBoard

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _obs(n: int, price: float, at: datetime, sr: str = "61300947") -> ObservedBoard:
    return ObservedBoard.of(_event(n, price, at, sr))


def _event(n: int, price: float, at: datetime, sr: str = "61300947") -> OddsObserved:
    return OddsObserved(
        event_id=derive_id("obs", sr, n),
        occurred_at=at,
        sportradar_id=sr,
        bookmaker="betpawa",
        bookmaker_event_id="e1",
        home_team="A",
        away_team="B",
        tournament="T",
        kickoff_at=T0 + timedelta(days=1),
        observed_at=at,
        run_id="r1",
        markets=[
            {
                "market_id": "3743",
                "market_name": "1X2",
                "line": None,
                "outcomes": [
                    {"name": "1", "price": price, "suspended": False},
                    {"name": "X", "price": 3.2, "suspended": False},
                    {"name": "2", "price": 3.9, "suspended": False},
                ],
            }
        ],
    )


def test_a_batch_applies_observations_of_one_key_in_turn_like_one_at_a_time() -> None:
    stream = [_obs(0, 2.0, T0), _obs(1, 2.0, T0 + timedelta(minutes=5)), _obs(2, 2.1, T0 + timedelta(minutes=10))]
    batch = BoardBatch({})
    for offset, o in enumerate(stream, start=10):
        batch.apply(3, offset, o)
    # the same stream one observation at a time
    quotes: Any = None
    at: str | None = None
    expected_changes = []
    for o in stream:
        update = apply_observation(quotes, at, o.markets, format_ts(o.head.observed_at))
        if update.changes:
            expected_changes.append(update.changes)
        quotes, at = update.quotes, format_ts(o.head.observed_at)
    assert [c.changes for c in batch.changes] == expected_changes
    assert [c.caused_by for c in batch.changes] == [stream[0].head.event_id, stream[2].head.event_id]
    partition, board = batch.boards["61300947:betpawa"]
    assert partition == 3
    assert (board["quotes"], board["observed_at"], board["offset"]) == (quotes, at, 12)


def _table(batch: BoardBatch) -> dict[str, Any]:
    return {k: v for k, (_, v) in batch.boards.items()}


def test_reapplying_from_any_offset_gives_the_same_boards_and_changes() -> None:
    """What a restart does when the table is ahead of its marker: the boards skip what they hold."""
    stream = [_obs(n, 2.0 + n / 10, T0 + timedelta(minutes=5 * n)) for n in range(6)]
    once = BoardBatch({})
    for offset, o in enumerate(stream):
        once.apply(0, offset, o)
    for crashed_after in range(len(stream)):
        first = BoardBatch({})
        for offset, o in enumerate(stream[: crashed_after + 1]):
            first.apply(0, offset, o)
        again = BoardBatch(_table(first))  # the boards landed, the marker did not: start over
        for offset, o in enumerate(stream):
            again.apply(0, offset, o)
        assert again.already == crashed_after + 1
        assert _table(again) == _table(once) or crashed_after == len(stream) - 1
        assert first.changes + again.changes == once.changes


def test_an_older_observation_than_the_table_holds_is_counted_stale_and_changes_nothing() -> None:
    first = BoardBatch({})
    first.apply(0, 0, _obs(0, 2.0, T0 + timedelta(minutes=5)))
    later = BoardBatch(_table(first))
    later.apply(0, 1, _obs(1, 2.5, T0))
    assert (later.stale, later.changes, later.boards) == (1, [], {})


def test_the_applied_offset_is_the_partition_marker() -> None:
    assert applied_offset({}, 2) is None
    assert applied_offset({mark_key(2): 40, mark_key(1): 7}, 2) == 40


def test_markers_are_neither_boards_nor_confirmations() -> None:
    board = {"quotes": {}, "observed_at": "2026-11-28T12:00:00+00:00", "offset": 4}
    table = {"61300947:betpawa": board, mark_key(0): 12}
    assert list(board_items(table)) == [("61300947:betpawa", board)]
    confirmed = Confirmations(table)
    assert dict(confirmed) == {"61300947:betpawa": "2026-11-28T12:00:00+00:00"}
    assert confirmed.get(mark_key(0)) is None and confirmed.get("1:sportybet") is None


def test_an_observation_of_the_same_board_on_another_partition_is_not_taken_for_one_applied() -> None:
    """A producer that keys a board otherwise puts it on another partition, at unrelated offsets."""
    batch = BoardBatch({})
    batch.apply(1, 900, _obs(0, 2.0, T0))
    batch.apply(3, 5, _obs(1, 2.4, T0 + timedelta(minutes=5)))
    assert len(batch.changes) == 2 and batch.already == 0
    partition, board = batch.boards["61300947:betpawa"]
    assert (partition, board["partition"], board["offset"]) == (3, 3, 5)


def test_a_board_recovered_from_the_changelog_compares_like_the_one_written() -> None:
    """The changelog holds JSON: tuples come back as lists, and must not read as changed quotes."""
    first = BoardBatch({})
    first.apply(0, 0, _obs(0, 2.0, T0))
    recovered = json.loads(json.dumps(_table(first)))
    assert recovered != _table(first)  # lists where there were tuples
    again = BoardBatch(recovered)
    again.apply(0, 1, _obs(1, 2.0, T0 + timedelta(minutes=5)))
    again.apply(0, 2, _obs(2, 2.2, T0 + timedelta(minutes=10)))
    assert len(again.changes) == 1
    assert again.changes[0].changes[0]["previous_outcomes"][0] == {"name": "1", "price": 2.0, "suspended": False}
    _, board = again.boards["61300947:betpawa"]
    assert json.loads(json.dumps(board["quotes"])) == json.loads(
        json.dumps(_table(first)["61300947:betpawa"]["quotes"])
    ) | {
        "3743|": [
            "3743",
            "1X2",
            None,
            ["1", 2.2, False, "2", 3.9, False, "X", 3.2, False],
            format_ts(T0 + timedelta(minutes=10)),
            None,
        ]
    }


def test_a_board_of_the_previous_layout_is_read_not_taken_for_changed_quotes() -> None:
    """Boards written before quotes were tuples held a dict per quote and per outcome."""
    previous_layout = {
        "3743|": {
            "market_id": "3743",
            "market_name": "1X2",
            "line": None,
            "outcomes": [
                {"name": "1", "price": 2.0, "suspended": False},
                {"name": "2", "price": 3.9, "suspended": False},
                {"name": "X", "price": 3.2, "suspended": False},
            ],
            "last_changed_at": format_ts(T0),
        }
    }
    table = {"61300947:betpawa": {"quotes": previous_layout, "observed_at": format_ts(T0), "partition": 0, "offset": 0}}
    batch = BoardBatch(table)
    batch.apply(0, 1, _obs(1, 2.0, T0 + timedelta(minutes=5)))
    assert batch.changes == [] and batch.applied == 1
    assert quote_view(previous_layout["3743|"]) == quote_view(batch.boards["61300947:betpawa"][1]["quotes"]["3743|"])
