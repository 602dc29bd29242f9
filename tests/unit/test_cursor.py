"""The stream's resume cursor: its text, its reading, its moves, and where a reader resumes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.cursor import MAX_OFFSET, CursorError, advance, decode, encode, resume

cursors = st.dictionaries(st.integers(0, 9_999), st.integers(0, MAX_OFFSET), max_size=64)


def test_the_text_names_each_partition_ascending() -> None:
    assert encode({1: 456, 0: 123, 2: 0}) == "p0:123.p1:456.p2:0"
    assert decode("p0:123.p1:456.p2:0") == {0: 123, 1: 456, 2: 0}


@given(cursors.filter(bool))
def test_decode_reads_back_what_encode_wrote(cursor: dict[int, int]) -> None:
    assert decode(encode(cursor)) == cursor


@given(st.text(max_size=80))
def test_decode_accepts_only_the_canonical_text(text: str) -> None:
    try:
        cursor = decode(text)
    except CursorError:
        return
    assert encode(cursor) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "p0",
        "p0:",
        "0:1",
        "p0:1.",
        "p0:1..p1:2",
        "p0:01",  # leading zero: not canonical
        "p-1:3",
        "p0:1.p0:2",  # twice
        "p1:1.p0:2",  # descending
        "p0:9223372036854775808",  # 2**63
        "p10000:1",
        "p0:1 ",
        "eyJwMCI6IDF9",  # base64 JSON is not our format
    ],
)
def test_anything_else_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(CursorError):
        decode(text)


@given(cursors, st.integers(0, 9_999), st.integers(0, MAX_OFFSET - 1))
def test_advance_moves_one_partition_past_the_record_and_never_back(
    cursor: dict[int, int], partition: int, offset: int
) -> None:
    moved = advance(cursor, partition, offset)
    assert moved[partition] == max(cursor.get(partition, 0), offset + 1)
    assert all(moved[p] >= o for p, o in cursor.items())
    assert {p: o for p, o in moved.items() if p != partition} == {p: o for p, o in cursor.items() if p != partition}


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1_000)), max_size=50))
def test_advancing_over_records_in_any_order_reaches_past_the_last_of_each_partition(
    records: list[tuple[int, int]],
) -> None:
    cursor: dict[int, int] = {}
    for partition, offset in records:
        before = dict(cursor)
        cursor = advance(cursor, partition, offset)
        assert all(cursor[p] >= o for p, o in before.items())  # monotonic at every step
    last = {p: max(o for q, o in records if q == p) for p, _ in records}
    assert cursor == {p: o + 1 for p, o in last.items()}


PARTS = [0, 1, 2]
STARTS = {0: 0, 1: 10, 2: 0}
ENDS = {0: 5, 1: 20, 2: 0}


def test_no_cursor_starts_live_at_every_end() -> None:
    r = resume(None, PARTS, STARTS, ENDS)
    assert r.positions == ENDS and r.exact


def test_a_cursor_inside_the_log_resumes_where_it_points() -> None:
    r = resume({0: 3, 1: 10, 2: 0}, PARTS, STARTS, ENDS)
    assert r.positions == {0: 3, 1: 10, 2: 0} and r.exact
    assert resume({0: 5, 1: 20, 2: 0}, PARTS, STARTS, ENDS).positions == ENDS  # at the ends: nothing missed


def test_a_partition_added_since_the_cursor_is_read_from_its_start() -> None:
    r = resume({0: 3, 1: 12}, PARTS, STARTS, ENDS)
    assert r.positions == {0: 3, 1: 12, 2: 0} and r.exact


def test_a_cursor_before_the_log_start_resets_that_partition_to_its_earliest() -> None:
    r = resume({0: 3, 1: 4, 2: 0}, PARTS, STARTS, ENDS)
    assert r.positions == {0: 3, 1: 10, 2: 0}
    assert not r.exact and r.reset == (1,) and "retention" in r.reason
    # a partition the cursor does not name, whose start moved on, lost records too
    assert resume({0: 3}, PARTS, STARTS, ENDS).reset == (1,)


def test_a_cursor_past_the_end_or_naming_unknown_partitions_is_a_reset() -> None:
    r = resume({0: 9, 1: 10, 2: 0}, PARTS, STARTS, ENDS)
    assert r.positions == {0: 0, 1: 10, 2: 0} and r.reset == (0,) and "recreated" in r.reason
    r = resume({0: 1, 1: 10, 2: 0, 7: 4}, PARTS, STARTS, ENDS)
    assert r.positions == {0: 1, 1: 10, 2: 0} and not r.exact and "no partition 7" in r.reason
