"""The schedule's pure rules: defaults, requested changes, the next run, and when the ticker fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.events import MAX_INTERVAL_S, MIN_INTERVAL_S, ScheduleChanged
from streams.schedule import (
    DEFAULT_INTERVAL_S,
    Schedule,
    ScheduleError,
    Slot,
    default_schedule,
    fold,
    next_run_at,
    requested,
    tick,
)

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
RUNNING = Schedule(paused=False, interval_s=300)


def test_the_environment_gives_the_default_and_zero_means_paused() -> None:
    assert default_schedule(300) == Schedule(paused=False, interval_s=300)
    assert default_schedule(0) == Schedule(paused=True, interval_s=DEFAULT_INTERVAL_S)
    assert default_schedule(1).interval_s == MIN_INTERVAL_S  # never faster than the floor


def test_a_change_carries_the_whole_schedule_and_who_made_it() -> None:
    ev = ScheduleChanged(setting="schedule", paused=True, interval_s=120, changed_by="api", occurred_at=T0)
    assert fold(RUNNING, ev) == Schedule(paused=True, interval_s=120, changed_at=T0, changed_by="api")


def test_a_request_changes_what_it_names_only() -> None:
    assert requested(RUNNING, {"paused": True}) == Schedule(paused=True, interval_s=300)
    assert requested(RUNNING, {"interval_s": 60}) == Schedule(paused=False, interval_s=60)
    assert requested(RUNNING, {"paused": True, "interval_s": 60}) == Schedule(paused=True, interval_s=60)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([], "JSON object"),
        ({}, "nothing to change"),
        ({"pause": True}, "unknown fields: pause"),
        ({"paused": "yes"}, "paused must be true or false"),
        ({"interval_s": 5}, f"from {MIN_INTERVAL_S} to {MAX_INTERVAL_S}"),
        ({"interval_s": MAX_INTERVAL_S + 1}, "interval_s"),
        ({"interval_s": 60.5}, "interval_s"),
        ({"interval_s": True}, "interval_s"),
    ],
)
def test_a_bad_request_says_what_is_wrong(body: object, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        requested(RUNNING, body)


def test_the_next_run_is_the_next_slot_and_none_while_paused() -> None:
    assert next_run_at(RUNNING, T0) == T0 + timedelta(minutes=5)  # 10:00 is a slot's start
    assert next_run_at(RUNNING, T0 + timedelta(seconds=299)) == T0 + timedelta(minutes=5)
    assert next_run_at(Schedule(paused=True, interval_s=300), T0) is None
    with pytest.raises(ValueError, match="no UTC offset"):
        next_run_at(RUNNING, T0.replace(tzinfo=None))


def test_the_first_look_and_a_new_interval_only_note_the_slot() -> None:
    fire, last = tick(RUNNING, T0 + timedelta(seconds=1), None)
    assert not fire and last == (300, int((T0 + timedelta(seconds=1)).timestamp()) // 300)
    fire, last2 = tick(Schedule(paused=False, interval_s=60), T0 + timedelta(minutes=7), last)
    assert not fire and last2[0] == 60


def test_a_slot_missed_while_paused_is_not_made_up_on_resuming() -> None:
    _, last = tick(RUNNING, T0 + timedelta(seconds=1), None)
    fire, last = tick(Schedule(paused=True, interval_s=300), T0 + timedelta(minutes=6), last)
    assert not fire
    fire, last = tick(RUNNING, T0 + timedelta(minutes=6, seconds=1), last)
    assert not fire, "resuming inside a slot waits for the next one"
    fire, _ = tick(RUNNING, T0 + timedelta(minutes=10), last)
    assert fire


@given(
    st.sampled_from([MIN_INTERVAL_S, 30, 60, 300]),
    st.lists(st.floats(min_value=0.05, max_value=900.0), min_size=1, max_size=200),
)
def test_a_running_ticker_fires_for_slots_that_begin_and_never_twice_in_one(interval: int, steps: list[float]) -> None:
    schedule = Schedule(paused=False, interval_s=interval)
    now = T0 + timedelta(seconds=0.5)
    fired, last = tick(schedule, now, None)
    assert not fired
    first: Slot = last
    fired_in: list[int] = []
    for step in steps:
        before = last
        now += timedelta(seconds=step)
        fire, last = tick(schedule, now, last)
        assert fire == (last[1] > before[1]), "a look fires exactly when its slot is a new one"
        if fire:
            fired_in.append(last[1])
    assert len(fired_in) == len(set(fired_in)), "one run per slot"
    crossed = last[1] - first[1]
    assert len(fired_in) <= crossed
    if all(step < interval for step in steps):  # looks closer than the interval miss no slot
        assert len(fired_in) == crossed
