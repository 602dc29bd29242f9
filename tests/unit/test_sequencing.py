"""Applying a partition in sequence: every offset applied once, in order, whatever was delivered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.sequencing import PartitionWatch, lost_acks, plan, stalled


def test_contiguous_delivery_after_the_stored_offset_applies_everything() -> None:
    p = plan(9, [10, 11, 12])
    assert p.steps == (0, 1, 2)
    assert (p.skipped, p.last, p.gaps) == (0, 12, [])


def test_records_at_or_below_the_stored_offset_are_skipped() -> None:
    p = plan(11, [10, 11, 12])
    assert p.steps == (2,)
    assert (p.skipped, p.last) == (2, 12)


def test_delivery_past_the_stored_offset_reads_the_gap_first() -> None:
    p = plan(4, [8, 9])
    assert p.steps == ((5, 8), 0, 1)
    assert p.last == 9


def test_a_hole_inside_a_delivery_is_read_where_it_is() -> None:
    assert plan(None, [3, 4, 7, 8]).steps == (0, 1, (5, 7), 2, 3)


def test_a_partition_never_applied_starts_where_delivery_starts() -> None:
    p = plan(None, [40, 41])
    assert p.steps == (0, 1)
    assert p.last == 41
    assert plan(None, []).last is None


def test_nothing_new_keeps_the_stored_offset() -> None:
    assert plan(7, [5, 6, 7]).last == 7
    assert plan(7, []).last == 7


@given(
    applied=st.one_of(st.none(), st.integers(0, 60)),
    delivered=st.lists(st.integers(0, 120), max_size=40).map(lambda xs: sorted(set(xs))),
)
def test_every_offset_after_the_stored_one_is_applied_exactly_once_in_order(
    applied: int | None, delivered: list[int]
) -> None:
    p = plan(applied, delivered)
    seen: list[int] = []
    for step in p.steps:
        if isinstance(step, tuple):
            assert step[0] < step[1]
            seen.extend(range(*step))
        else:
            seen.append(delivered[step])
    fresh = [o for o in delivered if applied is None or o > applied]
    if fresh:
        start = fresh[0] if applied is None else applied + 1
        assert seen == list(range(start, fresh[-1] + 1))  # no offset twice, none missing, in order
        assert p.last == fresh[-1]
    else:
        assert seen == []
        assert p.last == applied
    assert p.skipped == len(delivered) - len(fresh)


def test_a_stuck_commit_behind_what_was_applied_is_acknowledged() -> None:
    assert lost_acks(65, 65, 197, applied_before=120) == (65, 197)
    assert lost_acks(65, 65, 197, applied_before=65) == (65, 197)


def test_a_moving_or_caught_up_commit_is_left_to_faust() -> None:
    assert lost_acks(65, 40, 197, applied_before=120) is None  # moved since the last look
    assert lost_acks(65, 65, 64, applied_before=64) is None  # nothing applied beyond it
    assert lost_acks(None, None, 10, applied_before=10) is None  # never committed: nothing known
    assert lost_acks(65, 65, None, applied_before=None) is None  # a consumer never applied this partition
    # applied past the commit only since the last look: Faust has not had its turn to commit yet
    assert lost_acks(65, 65, 197, applied_before=64) is None
    assert lost_acks(65, 65, 197) is None  # first look


def test_a_partition_with_waiting_records_and_no_progress_is_read_again_after_what_was_applied() -> None:
    assert stalled(applied=64, applied_before=64, end_before=198) == 65


def test_a_partition_making_progress_or_drained_is_not_touched() -> None:
    assert stalled(applied=80, applied_before=64, end_before=198) is None  # moving
    assert stalled(applied=197, applied_before=197, end_before=198) is None  # everything applied
    assert stalled(applied=None, applied_before=None, end_before=198) is None  # never applied here
    assert stalled(applied=64, applied_before=None, end_before=198) is None  # first look


def test_records_that_arrived_since_the_last_look_are_not_called_stalled() -> None:
    watch = PartitionWatch()
    assert watch.look("p0", applied=197, end=198, committed=198) == (None, None)  # everything applied
    # the next cycle's records land just before this look, none applied yet: not stalled yet
    assert watch.look("p0", applied=197, end=250, committed=198) == (None, None)
    # a whole interval later they still wait and nothing moved: read again
    assert watch.look("p0", applied=197, end=250, committed=198) == (None, 198)
    assert watch.look("p1", applied=5, end=9, committed=6) == (None, None)  # partitions are watched apart


def test_a_commit_that_has_not_caught_up_with_new_records_yet_is_not_called_stuck() -> None:
    watch = PartitionWatch()
    assert watch.look("p0", applied=197, end=198, committed=198) == (None, None)  # quiet, all committed
    # a new cycle: 300 records applied since the last look, Faust has not committed them yet
    assert watch.look("p0", applied=497, end=600, committed=198) == (None, None)
    # a whole interval later the commit still has not moved: it is stuck
    assert watch.look("p0", applied=599, end=600, committed=198) == ((198, 599), None)


def test_a_partition_that_moves_between_looks_is_never_read_again() -> None:
    watch = PartitionWatch()
    for applied in range(0, 100, 10):
        assert watch.look("p0", applied=applied, end=1_000, committed=applied + 1) == (None, None)
