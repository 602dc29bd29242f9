"""Pure logic of the scrape schedule: what it is, how a change folds in, and when it fires.

No Faust, no clock: ``now`` is passed in. Scheduled runs fall on the multiples of the interval since
the epoch (a slot), so every worker agrees when the next one is due and a run's id derives from its
slot: two leaders in a rebalance publish the same command, never two.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from streams.clock import require_aware
from streams.events import MAX_INTERVAL_S, MIN_INTERVAL_S, ScheduleChanged

__all__ = [
    "DEFAULT_INTERVAL_S",
    "Schedule",
    "ScheduleError",
    "Slot",
    "default_schedule",
    "fold",
    "next_run_at",
    "requested",
    "tick",
]

DEFAULT_INTERVAL_S = 300
"""The interval a schedule the environment turned off (``ODDSTREAM_SCRAPE_INTERVAL_S=0``) resumes with."""

Slot = tuple[int, int]
"""``(interval_s, slot number)``: the last slot a ticker has seen."""


class ScheduleError(ValueError):
    """A requested change the schedule cannot take (the reason is for the user)."""


@dataclass(frozen=True, slots=True)
class Schedule:
    paused: bool
    interval_s: int
    changed_at: datetime | None = None
    """None: the environment's default, never changed on ``odds.control``."""
    changed_by: str | None = None

    def to_json(self, now: datetime) -> dict[str, Any]:
        at = next_run_at(self, now)
        return {
            "paused": self.paused,
            "interval_s": self.interval_s,
            "next_run_at": at.isoformat() if at else None,
            "changed_at": self.changed_at.isoformat() if self.changed_at else None,
            "changed_by": self.changed_by,
        }


def default_schedule(interval_s_setting: int) -> Schedule:
    """The schedule before its first change: the environment's interval, paused when that is 0."""
    if interval_s_setting <= 0:
        return Schedule(paused=True, interval_s=DEFAULT_INTERVAL_S)
    return Schedule(paused=False, interval_s=min(max(interval_s_setting, MIN_INTERVAL_S), MAX_INTERVAL_S))


def fold(schedule: Schedule, event: ScheduleChanged) -> Schedule:
    """The schedule after ``event`` (each event carries the whole schedule)."""
    return Schedule(
        paused=event.paused, interval_s=event.interval_s, changed_at=event.occurred_at, changed_by=event.changed_by
    )


def requested(schedule: Schedule, body: Any) -> Schedule:
    """The schedule a ``POST /schedule`` body asks for: ``{"paused": bool}`` and/or ``{"interval_s": N}``."""
    if not isinstance(body, Mapping):
        raise ScheduleError("body must be a JSON object")
    unknown = sorted(set(body) - {"paused", "interval_s"})
    if unknown:
        raise ScheduleError(f"unknown fields: {', '.join(unknown)}")
    if not body:
        raise ScheduleError('nothing to change: give "paused" and/or "interval_s"')
    out = schedule
    if "paused" in body:
        if not isinstance(body["paused"], bool):
            raise ScheduleError("paused must be true or false")
        out = replace(out, paused=body["paused"])
    if "interval_s" in body:
        value = body["interval_s"]
        if isinstance(value, bool) or not isinstance(value, int) or not MIN_INTERVAL_S <= value <= MAX_INTERVAL_S:
            raise ScheduleError(f"interval_s must be an integer from {MIN_INTERVAL_S} to {MAX_INTERVAL_S}")
        out = replace(out, interval_s=value)
    return out


def _slot(interval_s: int, now: datetime) -> int:
    return math.floor(require_aware(now, "now").timestamp() / interval_s)


def next_run_at(schedule: Schedule, now: datetime) -> datetime | None:
    """When the next scheduled run is due (the next slot's start); None while paused."""
    if schedule.paused:
        return None
    start = (_slot(schedule.interval_s, now) + 1) * schedule.interval_s
    return datetime.fromtimestamp(start, UTC)


def tick(schedule: Schedule, now: datetime, last: Slot | None) -> tuple[bool, Slot]:
    """Whether a run is due at ``now`` given the last slot seen, and the slot to remember.

    The first look, a new interval, or a paused schedule only note the slot: a run fires when a
    slot begins while the schedule runs, never for a slot missed while paused or starting.
    """
    current: Slot = (schedule.interval_s, _slot(schedule.interval_s, now))
    if last is None or last[0] != schedule.interval_s or schedule.paused:
        return False, current
    return current[1] > last[1], current
