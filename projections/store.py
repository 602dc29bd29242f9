"""What a projection is, and the store that applies it: the interface every projection shares.

A ``Projection`` is a value: its name (the key of its progress), the replay group that names it on
the command line, the topics it reads, how it reads a record, the tables it writes, and how a batch
is applied (``apply`` in PostgreSQL, ``remember`` in the in-memory twin). ``projections.registry``
holds them; the agents, the gap reading and ``oddstream replay`` iterate them and never branch on a
name.

A ``ProjectionStore`` applies a batch of one projection's records exactly once, whatever the
delivery: in one step it drops the records at or below the stored offset of their partition, reads
any gap in front of them (``streams.sequencing.in_sequence``), applies them and moves the offsets.
Redelivery, replays and retries of a batch that failed midway therefore leave the tables as they
were. ``projections.postgres.PgStore`` is the real one; ``projections.memory.MemoryStore`` its twin
for agent tests, held to the same contract by one test class run against both
(``tests/contract/``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from projections.rows import Rec
from streams.clock import utc_now
from streams.events import BaseEvent
from streams.topics import TopicSpec
from streams.wire import ObservedHead

__all__ = [
    "Applied",
    "Filler",
    "MemoryApplier",
    "Projection",
    "ProjectionStore",
    "SqlApplier",
    "Target",
    "retention_cutoff",
]


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how a batch is written: the schema (``public``, or replay's scratch schema) and the
    retention window's start (rows observed before it are left out; None keeps everything)."""

    schema: str = "public"
    not_before: datetime | None = None


@dataclass
class Applied:
    """What one batch did: records applied (not already recorded), rows written, per-partition offsets."""

    events: int = 0
    skipped: int = 0
    rows: int = 0
    offsets: dict[str, int] = field(default_factory=dict)
    gap_records: int = 0
    """Records read from the broker because the consumer had skipped past them."""


SqlApplier = Callable[[Any, Sequence[Rec], Target], Awaitable[int]]
"""``(asyncpg connection in the batch's transaction, records, target)`` -> rows written."""
MemoryApplier = Callable[[dict[str, dict[Any, Any]], Sequence[Rec], Target], int]
"""``(the twin's tables by name, records, target)`` -> rows written."""
Filler = Callable[[str, int, int, int], Awaitable[list[Rec]]]
"""``(topic, partition, start, end)`` -> the valid records of offsets ``[start, end)``, read from the broker."""


def _no_days(recs: Sequence[Rec], not_before: datetime | None) -> set[date]:
    return set()


@dataclass(frozen=True, slots=True)
class Projection:
    """One projection of the topics into PostgreSQL."""

    name: str
    """Its progress rows' key in ``projection_progress``, its agent's and its metrics' name."""
    group: str
    """What ``oddstream replay --projection`` calls it (a group rebuilds its tables together)."""
    topics: tuple[TopicSpec, ...]
    read: Callable[[bytes], BaseEvent | ObservedHead]
    """A record's value -> the event this projection keeps of it; ``InvalidEvent`` with the reason."""
    tables: tuple[str, ...]
    """The tables it writes (``projections.schema``), in creation order."""
    apply: SqlApplier
    remember: MemoryApplier
    days: Callable[[Sequence[Rec], datetime | None], set[date]] = _no_days
    """The daily partitions of ``odds_history`` its rows need (observed on or after the given start)."""
    letters_invalid: bool = False
    """It is the only reader of its topics, so it dead-letters what it cannot read (one letter per
    record is the contract; other topics' readers letter theirs)."""


class ProjectionStore(Protocol):
    async def write(self, projection: Projection, recs: Sequence[Rec], fill: Filler | None = None) -> Applied:
        """Apply ``recs`` above the projection's stored offsets and move the offsets, atomically.

        With ``fill``, each partition is applied strictly in sequence: records the consumer skipped
        past the stored offset are read with ``fill`` first. Safe to retry after any failure.
        """
        ...

    async def applied(
        self, projection: Projection, partitions: Sequence[tuple[str, int]]
    ) -> Mapping[tuple[str, int], int | None]:
        """The last offset of each ``(topic, partition)`` the projection applied (None: never)."""
        ...


def retention_cutoff(days: int | None, now: datetime | None = None) -> datetime | None:
    """The start of the oldest UTC day kept, or None to keep everything."""
    if days is None or days <= 0:
        return None
    today = (now or utc_now()).astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC)
