"""The projection agents, as the worker runs them, against the in-memory twin of the store."""

from __future__ import annotations

from streams.events import OddsChanged, OddsObserved, encode
from tests.agents.conftest import Harness, until
from tests.projection_world import world


async def test_a_projection_batch_lands_once_with_its_progress(harness: Harness) -> None:
    h = harness
    events = world(n_events=4, cycles=2)
    changes = [e for e in events if isinstance(e, OddsChanged)]
    records = [h.log.append_event(e) for e in changes]
    bad = h.log.append("odds.changes", changes[0].key, b'{"event_type": "OddsChanged", "schema_version": 1}')
    async with h.running("projection-odds-changes") as agent:
        await h.deliver(agent, [*records, bad])
        await until(lambda: len(h.store.snapshot()["odds_history"]) == sum(len(e.changes) for e in changes))
        await h.deliver(agent, records)  # redelivered after a rebalance: nothing twice
        await h.deliver(agent, [h.log.append_event(changes[-1])])  # the same event again, at a new offset
        last = h.log.records[(records[-1].topic, records[-1].partition)][-1].offset
        await until(lambda: h.store.progress.get(("odds-changes", "odds.changes", records[-1].partition)) == last)
    snapshot = h.store.snapshot()
    assert len(snapshot["odds_history"]) == sum(len(e.changes) for e in changes)
    assert [(r.offset, "missing required field" in e) for r, e in h.outbox.letters] == [(bad.offset, True)]


async def test_observations_are_projected_and_their_invalid_records_left_to_the_board(harness: Harness) -> None:
    h = harness
    observed = [e for e in world(n_events=3, cycles=1) if isinstance(e, OddsObserved)]
    records = [h.log.append("odds.observed", e.key, encode(e)) for e in observed]
    records.append(h.log.append("odds.observed", observed[0].key, b"not json"))
    async with h.running("projection-odds-observed") as agent:
        await h.deliver(agent, records)
        await until(lambda: len(h.store.snapshot()["sport_events"]) == 3)
    assert {r[5] == ["bet9ja", "betpawa", "sportybet"] for r in h.store.snapshot()["sport_events"]} == {True}
    assert h.outbox.letters == []  # one letter per record: the board letters odds.observed's
    assert h.log.reads == []  # the unreadable record keeps its place: no gap is read for it
    progress = h.store.progress[("odds-observed", "odds.observed", records[-1].partition)]
    assert progress == records[-1].offset
