"""Applying a partition strictly in sequence: what to skip, what to apply, which gaps to read first.

Pure: no broker, no table. ``applied`` is the last offset whose effects are stored with the
state (None when the state has never seen the partition); ``offsets`` are the offsets the consumer
delivered, ascending. Offsets at or below ``applied`` were applied already and are skipped; a
delivered offset beyond the next expected one leaves a gap that must be read and applied first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Plan", "lost_acks", "plan", "stalled"]


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


def lost_acks(committed: int | None, committed_before: int | None, applied: int | None) -> tuple[int, int] | None:
    """The offsets ``[first, last]`` to acknowledge on Faust's behalf, or None.

    Faust commits a partition up to its first unacknowledged offset; a record it fetched and never
    delivered (it happens around rebalances and recovery) stops the commit there for good, and its
    list of acknowledged offsets grows without end. When the commit (``committed``, the next offset
    to read) has not moved since the last look (``committed_before``) while every consumer of the
    partition has applied up to ``applied`` (their own stored offsets), those offsets are done.
    """
    if committed is None or applied is None or committed != committed_before or applied < committed:
        return None
    return committed, applied


def stalled(applied: int | None, applied_before: int | None, end: int | None) -> int | None:
    """The offset to read a partition again from, or None.

    Records wait on the partition (its end, the next offset to be written, is past ``applied + 1``)
    and no consumer applied anything since the last look: the group's consumer is not delivering
    them (Faust can drop records it fetched before a rebalance and then refuse to fetch them
    again). Reading again from the first offset not applied is what a restart would do.
    """
    if applied is None or applied_before is None or end is None:
        return None
    if applied != applied_before or end <= applied + 1:
        return None
    return applied + 1
