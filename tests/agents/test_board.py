"""The board agent, as the worker runs it: publish before the table moves, markers last, gaps read first."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from agents.board_state import Confirmations
from agents.board_view import list_events
from streams.events import OddsChanged, OddsObserved, derive_id, encode
from streams.ranges import RawRecord
from streams.topics import board_key, is_mark, mark_key
from tests.agents.conftest import Harness, until

T0 = datetime(2026, 11, 28, 12, tzinfo=UTC)


def observed(sr_id: str, bookmaker: str, at: datetime, home: float = 2.0) -> OddsObserved:
    return OddsObserved(
        event_id=derive_id("obs", sr_id, bookmaker, at.isoformat()),
        occurred_at=at,
        run_id="run-1",
        bookmaker=bookmaker,
        sportradar_id=sr_id,
        bookmaker_event_id=f"{bookmaker}-{sr_id}",
        home_team="Home FC",
        away_team="Away FC",
        tournament="Test League",
        kickoff_at=T0 + timedelta(days=1),
        observed_at=at,
        markets=[
            {
                "market_id": "3743",
                "market_name": "1X2",
                "line": None,
                "outcomes": [
                    {"name": "1", "price": home, "suspended": False},
                    {"name": "X", "price": 3.4, "suspended": False},
                    {"name": "2", "price": 3.9, "suspended": False},
                ],
            }
        ],
    )


def on_partition(h: Harness, partition: int, events: list[OddsObserved]) -> list[RawRecord]:
    """The records of ``events`` appended to one partition of ``odds.observed`` in the log."""
    return [h.log.append("odds.observed", e.key, encode(e), partition=partition) for e in events]


def changes(h: Harness) -> list[OddsChanged]:
    return [e for e in h.outbox.acked if isinstance(e, OddsChanged)]


async def test_the_board_publishes_before_its_table_moves_and_writes_its_markers_last(harness: Harness) -> None:
    h = harness
    records = on_partition(h, 0, [observed("1", "betpawa", T0), observed("2", "betpawa", T0)])
    records += on_partition(h, 1, [observed("3", "sportybet", T0)])
    async with h.running("board") as agent:
        await h.deliver(agent, records)
        await until(lambda: mark_key(1) in h.worker.tables.boards.data and mark_key(0) in h.worker.tables.boards.data)
    kinds = h.journal.kinds()
    assert kinds.count("acked") == 3 and kinds.count("write") == 5
    assert kinds.index("write") > max(i for i, k in enumerate(kinds) if k == "acked")  # published, then written
    written = [key for what, key in h.journal.entries if what == "write"]
    assert [is_mark(k) for k in written] == [False, False, False, True, True]  # markers last
    boards = h.worker.tables.boards.data
    assert boards[mark_key(0)] == 1 and boards[mark_key(1)] == 0
    assert boards[board_key("1", "betpawa")]["offset"] == 0 and boards[board_key("2", "betpawa")]["offset"] == 1
    assert {c.caused_by for c in changes(h)} == {json.loads(r.value or b"{}")["event_id"] for r in records}


async def test_a_gap_the_consumer_skipped_is_read_and_applied_first(harness: Harness) -> None:
    h = harness
    first = observed("7", "bet9ja", T0)
    moves = [observed("7", "bet9ja", T0 + timedelta(minutes=m), home=2.0 + m / 10) for m in (5, 10, 15)]
    records = on_partition(h, 2, [first, *moves])
    async with h.running("board") as agent:
        await h.deliver(agent, records[:1])
        await until(lambda: h.worker.tables.boards.data.get(mark_key(2)) == 0)
        await h.deliver(agent, records[3:])  # the consumer jumped past offsets 1 and 2
        await until(lambda: h.worker.tables.boards.data.get(mark_key(2)) == 3)
    assert h.log.reads == [("odds.observed", 2, 1, 3)]
    caused = [c.caused_by for c in changes(h)]
    assert caused == [e.event_id for e in (first, *moves)]  # in order, the gap's records before the last
    assert h.worker.tables.boards.data[board_key("7", "bet9ja")]["quotes"]["3743|"][3][1] == 3.5


async def test_redelivered_observations_publish_and_write_nothing_again(harness: Harness) -> None:
    h = harness
    records = on_partition(
        h, 0, [observed("1", "betpawa", T0), observed("1", "betpawa", T0 + timedelta(minutes=5), 2.2)]
    )
    async with h.running("board") as agent:
        await h.deliver(agent, records)
        await until(lambda: h.worker.tables.boards.data.get(mark_key(0)) == 1)
        published = len(h.outbox.acked)
        await h.deliver(agent, records)  # after a crash: Kafka hands back what the table already holds
        await h.deliver(agent, on_partition(h, 0, [observed("9", "betpawa", T0)]))
        await until(lambda: h.worker.tables.boards.data.get(mark_key(0)) == 2)
    assert len(h.outbox.acked) == published + 1  # only the new observation's change
    assert h.log.reads == []


async def test_invalid_records_are_lettered_with_the_reason_and_the_board_goes_on(harness: Harness) -> None:
    h = harness
    good = observed("61300947", "sportybet", T0)
    body: dict[str, Any] = json.loads(encode(good))
    naive = {**body, "event_id": derive_id("naive"), "observed_at": "2026-11-28T12:00:00"}
    kickoff_in_lagos = {**body, "kickoff_at": "2026-11-29T15:00:00+01:00"}
    records = [
        h.log.append("odds.observed", "61300947", b"\x00not json", partition=3),
        h.log.append("odds.observed", "61300947", json.dumps(naive).encode(), partition=3),
        h.log.append("odds.observed", "61300947", json.dumps(kickoff_in_lagos).encode(), partition=3),
    ]
    async with h.running("board") as agent:
        await h.deliver(agent, records)
        await until(lambda: h.worker.tables.boards.data.get(mark_key(3)) == 2)
    reasons = sorted(error for _, error in h.outbox.letters)
    assert len(reasons) == 2 and "not JSON" in reasons[0] and "no UTC offset" in reasons[1]
    assert {(r.partition, r.offset, r.key) for r, _ in h.outbox.letters} == {(3, 0, b"61300947"), (3, 1, b"61300947")}
    boards = [v for k, v in h.worker.tables.boards.data.items() if not is_mark(k)]
    listed = list_events(boards, Confirmations(h.worker.tables.boards.data), T0)["events"]
    assert len(listed) == 1 and listed[0]["kickoff_at"] == "2026-11-29T14:00:00+00:00"
    assert listed[0]["bookmakers"]["sportybet"]["markets"]["1x2"]["prices"] == {"1": 2.0, "X": 3.4, "2": 3.9}


async def test_while_the_broker_is_away_the_table_waits_for_the_publish(harness: Harness) -> None:
    h = harness
    h.outbox.fail_next = 2  # two sends refused, then the broker is back
    records = on_partition(h, 1, [observed("5", "betpawa", T0)])
    async with h.running("board") as agent:
        await h.deliver(agent, records)
        await until(lambda: h.worker.tables.boards.data.get(mark_key(1)) == 0, timeout_s=5)
    assert h.journal.kinds() == ["acked", "write", "write"]
    assert h.outbox.fail_next == 0
