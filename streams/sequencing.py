"""Applying a partition strictly in sequence: what to skip, what to apply, which gaps to read first.

Pure: no broker, no table. ``applied`` is the last offset whose effects are stored with the
state (None when the state has never seen the partition); ``offsets`` are the offsets the consumer
delivered, ascending. Offsets at or below ``applied`` were applied already and are skipped; a
delivered offset beyond the next expected one leaves a gap that must be read and applied first.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

__all__ = ["PartitionWatch", "Plan", "lost_acks", "plan", "stalled"]


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
