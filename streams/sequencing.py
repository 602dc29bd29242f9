"""Applying a partition strictly in sequence: what to skip, what to apply, which gaps to read first.

``plan`` and the watch are pure (no broker, no table); ``in_sequence`` applies a plan to a batch,
reading its gaps through the function it is given. ``applied`` is the last offset whose effects are stored with the
state (None when the state has never seen the partition); ``offsets`` are the offsets the consumer
delivered, ascending. Offsets at or below ``applied`` were applied already and are skipped; a
delivered offset beyond the next expected one leaves a gap that must be read and applied first.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import structlog

__all__ = ["Located", "PartitionWatch", "Plan", "Sequenced", "in_sequence", "lost_acks", "plan", "stalled"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Plan:
    """``steps`` in order: ``(start, end)`` is a gap of offsets to read, an ``int`` the index in
    ``offsets`` of a delivered record to apply. ``skipped`` counts the records already applied."""

    steps: tuple[tuple[int, int] | int, ...]
    skipped: int
    last: int | None
    """The last offset applied once the plan ran (``applied`` when nothing is new)."""

    @property
    def gaps(self) -> list[tuple[int, int]]:
        return [s for s in self.steps if isinstance(s, tuple)]


def plan(applied: int | None, offsets: Sequence[int]) -> Plan:
    steps: list[tuple[int, int] | int] = []
    skipped = 0
    expected = None if applied is None else applied + 1
    for i, offset in enumerate(offsets):
        if expected is not None and offset < expected:
            skipped += 1
            continue
        if expected is not None and offset > expected:
            steps.append((expected, offset))
        steps.append(i)
        expected = offset + 1
    last = applied if expected is None else expected - 1
    return Plan(tuple(steps), skipped, last)


def lost_acks(
    committed: int | None, committed_before: int | None, applied: int | None, applied_before: int | None = None
) -> tuple[int, int] | None:
    """The offsets ``[first, last]`` to acknowledge on Faust's behalf, or None.

    Faust commits a partition up to its first unacknowledged offset; a record it fetched and never
    delivered (it happens around rebalances and recovery) stops the commit there for good, and its
    list of acknowledged offsets grows without end. When the commit (``committed``, the next offset
    to read) has not moved since the last look (``committed_before``) although every consumer of the
    partition had already applied past it then (``applied_before``), the offsets up to ``applied``
    are done. A commit that merely has not caught up with records applied since the last look (Faust
    commits every few seconds) is left alone.
    """
    if committed is None or applied is None or committed != committed_before or applied < committed:
        return None
    if applied_before is None or applied_before < committed:
        return None
    return committed, applied


def stalled(applied: int | None, applied_before: int | None, end_before: int | None) -> int | None:
    """The offset to read a partition again from, or None.

    Records were already waiting on the partition at the last look (its end then, the next offset
    to be written, was past ``applied_before + 1``) and no consumer applied anything since: the
    group's consumer is not delivering them (Faust can drop records it fetched before a rebalance
    and then refuse to fetch them again). Reading again from the first offset not applied is what a
    restart would do. Records that arrived after the last look are not judged yet: a quiet
    partition whose next records land just before a look is not stalled.
    """
    if applied is None or applied_before is None or end_before is None:
        return None
    if applied != applied_before or end_before <= applied + 1:
        return None
    return applied + 1


class PartitionWatch:
    """``lost_acks`` and ``stalled`` over successive looks: remembers, per partition, what was
    applied, where its end was and what was committed at the last look."""

    def __init__(self) -> None:
        self._seen: dict[Hashable, tuple[int | None, int | None, int | None]] = {}

    def look(
        self, partition: Hashable, *, applied: int | None, end: int | None, committed: int | None
    ) -> tuple[tuple[int, int] | None, int | None]:
        """(offsets to acknowledge, offset to read again from) for ``partition``; records this look."""
        applied_before, end_before, committed_before = self._seen.get(partition, (None, None, None))
        self._seen[partition] = (applied, end, committed)
        return (
            lost_acks(committed, committed_before, applied, applied_before),
            stalled(applied, applied_before, end_before),
        )


class Located(Protocol):
    """A record that knows where it was: topic, partition, offset."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=Located)


@dataclass(frozen=True, slots=True)
class Sequenced(Generic[R]):
    """A batch made ready to apply: ``records`` in order per partition, gaps read in."""

    records: list[R]
    skipped: int
    """Delivered records at or below the stored offset: applied already."""
    gap_records: int
    """Records read from the broker because the consumer had skipped past them."""


async def in_sequence(
    records: Sequence[R],
    applied: Callable[[str, int], int | None],
    read_gap: Callable[[str, int, int, int], Awaitable[list[R]]] | None,
    *,
    consumer: str,
) -> Sequenced[R]:
    """Apply each partition in sequence from its stored offset: the one way every stateful consumer
    (the board, each projection) makes a delivered batch safe to apply.

    ``applied(topic, partition)`` is the last offset whose effects are stored with the consumer's
    state (None: never seen); records at or below it are dropped. A delivered record beyond the next
    expected offset leaves a gap, ``read_gap(topic, partition, start, end)`` reads the records of
    ``[start, end)`` from the broker, and they are put in front of it (without ``read_gap``, a reader
    that sees every record, such as a replay, applies what it has). Records keep their delivered
    order otherwise. The state therefore never depends on Kafka's committed offsets being right.
    """
    by_tp: dict[tuple[str, int], list[int]] = {}
    for r in records:
        by_tp.setdefault((r.topic, r.partition), []).append(r.offset)
    keep: set[tuple[str, int, int]] = set()
    before: dict[tuple[str, int, int], tuple[int, int]] = {}
    skipped = 0
    for (topic, partition), offsets in by_tp.items():
        steps = plan(applied(topic, partition), offsets)
        skipped += steps.skipped
        gap: tuple[int, int] | None = None
        for step in steps.steps:
            if isinstance(step, tuple):
                gap = step
                continue
            keep.add((topic, partition, offsets[step]))
            if gap is not None:
                before[(topic, partition, offsets[step])] = gap
                gap = None
    out: list[R] = []
    filled = 0
    for r in records:
        where = (r.topic, r.partition, r.offset)
        if where not in keep:
            continue
        keep.discard(where)  # a record delivered twice in one batch is applied once
        if read_gap is not None and (gap := before.get(where)) is not None:
            missing = await read_gap(r.topic, r.partition, gap[0], gap[1])
            log.warning(
                "read a gap the consumer skipped",
                consumer=consumer,
                topic=r.topic,
                partition=r.partition,
                start=gap[0],
                end=gap[1],
                records=len(missing),
            )
            filled += len(missing)
            out.extend(missing)
        out.append(r)
    return Sequenced(out, skipped, filled)
