"""In-memory twins of the edges agents are given: an outbox that records, a broker log to read gaps from.

Both keep one ``journal`` of what happened in order (published, acknowledged, table written), so a test
can assert the order an agent's guarantees depend on.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from projections.rows import Rec
from streams.events import BaseEvent, encode
from streams.outbox import Letter, letter_of
from streams.ranges import RawRecord
from streams.topics import TopicSpec


@dataclass
class Journal:
    entries: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, what: str, detail: Any) -> None:
        self.entries.append((what, detail))

    def kinds(self) -> list[str]:
        return [what for what, _ in self.entries]


class RecordingOutbox:
    """``streams.outbox.Outbox`` that keeps what it was given; ``fail_next`` makes sends raise."""

    def __init__(self, journal: Journal | None = None) -> None:
        self.journal = journal or Journal()
        self.published: list[BaseEvent] = []
        self.acked: list[BaseEvent] = []
        self.letters: list[Letter] = []
        self.forwarded: list[tuple[str, bytes, bytes]] = []
        self.fail_next = 0
        self.before_ack: list[Any] = []
        """Callables run with the events just before they count as acknowledged (to see the state then)."""

    def _maybe_fail(self) -> None:
        if self.fail_next > 0:
            self.fail_next -= 1
            raise ConnectionError("broker away")

    async def publish(self, event: BaseEvent) -> None:
        self._maybe_fail()
        self.published.append(event)
        self.journal.add("publish", event)

    async def publish_acked(
        self, events: Sequence[BaseEvent], letters: Sequence[Letter] = (), *, validated: bool = False
    ) -> None:
        self._maybe_fail()
        encode_all = [encode(e) for e in events]  # what the real outbox writes must be encodable
        assert len(encode_all) == len(events)
        for look in self.before_ack:
            look(events)
        self.letters.extend(letters)
        self.acked.extend(events)
        for event in events:
            self.journal.add("acked", event)
        for record, error in letters:
            self.journal.add("letter", letter_of(record, error))

    async def dead_letter(self, record: RawRecord, error: str) -> None:
        self._maybe_fail()
        self.letters.append((record, error))
        self.journal.add("letter", letter_of(record, error))

    async def forward(self, spec: TopicSpec, key: bytes, value: bytes) -> None:
        self._maybe_fail()
        self.forwarded.append((spec.name, key, value))
        self.journal.add("forward", spec.name)

    def events_of(self, kind: type[BaseEvent]) -> list[Any]:
        return [e for e in (*self.published, *self.acked) if isinstance(e, kind)]


class Log:
    """Partitions of topics as a broker holds them: records appended get the next offset."""

    def __init__(self, partitions: int = 4) -> None:
        self.partitions = partitions
        self.records: dict[tuple[str, int], list[RawRecord]] = {}
        self.reads: list[tuple[str, int, int, int]] = []

    def partition_of(self, key: str) -> int:
        return zlib.crc32(key.encode()) % self.partitions

    def append(self, topic: str, key: str, value: bytes, partition: int | None = None) -> RawRecord:
        part = self.partition_of(key) if partition is None else partition
        held = self.records.setdefault((topic, part), [])
        record = RawRecord(topic, part, len(held), key.encode(), value)
        held.append(record)
        return record

    def append_event(self, event: BaseEvent, topic: str | None = None) -> RawRecord:
        return self.append(topic or event.topic, event.key, encode(event))

    async def read_range(self, topic: str, partition: int, start: int, end: int) -> list[RawRecord]:
        self.reads.append((topic, partition, start, end))
        return [r for r in self.records.get((topic, partition), []) if start <= r.offset < end]


def as_records(events: Sequence[BaseEvent], partitions: int = 4) -> list[Rec]:
    """Records with the offsets a keyed producer would give them, in the given order."""
    next_offset: dict[tuple[str, int], int] = {}
    out = []
    for ev in events:
        part = zlib.crc32(ev.key.encode()) % partitions
        tp = (ev.topic, part)
        off = next_offset.get(tp, 0)
        next_offset[tp] = off + 1
        out.append(Rec(ev.topic, part, off, ev))
    return out
