"""The dead-letter index: each letter once in its partition's ring, counts exact under redelivery."""

from __future__ import annotations

from agents.deadletters import RING_SIZE, meta_key, slot_key
from streams.events import encode
from streams.outbox import letter_of
from streams.ranges import RawRecord
from tests.agents.conftest import Harness, until


async def test_letters_are_indexed_once_and_counted_by_source_topic(harness: Harness) -> None:
    h = harness
    refused = [RawRecord("odds.observed", 1, n, b"61300947", b"\x00junk") for n in range(3)]
    refused.append(RawRecord("odds.runs", 0, 7, b"run-1", b"{}"))
    letters = [h.log.append("odds.dead-letters", "k", encode(letter_of(r, "not JSON")), partition=2) for r in refused]
    not_a_letter = h.log.append("odds.dead-letters", "k", b'{"event_type": "OddsChanged"}', partition=2)
    index = h.worker.tables.dead_letters.data
    async with h.running("dead-letters") as agent:
        await h.deliver(agent, [*letters, not_a_letter])
        await until(lambda: (index.get(meta_key(2)) or {}).get("last_offset") == 3)
        await h.deliver(agent, letters)  # redelivered: counted once
        await h.deliver(
            agent, [h.log.append("odds.dead-letters", "k", encode(letter_of(refused[0], "x")), partition=2)]
        )
        await until(lambda: index[meta_key(2)]["last_offset"] == 5)
    assert index[meta_key(2)]["counts"] == {"odds.observed": 4, "odds.runs": 1}
    assert index[slot_key(2, 0)]["source_topic"] == "odds.observed" and index[slot_key(2, 3)]["offset"] == 7
    assert slot_key(2, 4) not in index  # the record that was not a letter takes no slot
    assert len([k for k in index if not str(k).endswith("meta")]) == 5 <= RING_SIZE
