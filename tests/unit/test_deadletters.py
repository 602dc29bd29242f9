from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.deadletters import (
    DEFAULT_LIMIT,
    ORIGINAL_MAX_CHARS,
    RING_SIZE,
    index_letter,
    latest,
    meta_key,
    parse_limit,
    slot_key,
    summary,
)
from streams.events import DeadLettered

T = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def letter(offset: int, *, at: datetime = T, original: bytes = b"{", topic: str = "odds.observed") -> DeadLettered:
    dl = DeadLettered.of(
        source_topic=topic, partition=2, offset=offset, key=b"61300947", error="bad", original=original
    )

    return dataclasses.replace(dl, occurred_at=at)


def test_summary_names_the_source_and_the_place_of_the_letter() -> None:
    row = summary(letter(7), 3, 99)
    assert row["source_topic"] == "odds.observed" and (row["partition"], row["offset"]) == (2, 7)
    assert row["source_key"] == "61300947" and row["error"] == "bad"
    assert (row["dead_letter_partition"], row["dead_letter_offset"]) == (3, 99)
    assert row["occurred_at"] == "2026-11-28T12:00:00+00:00"
    assert row["original"] == "ew==" and row["original_truncated"] is False


def test_a_large_original_is_cut_in_the_index_only() -> None:
    dl = letter(1, original=b"x" * 10_000)
    row = summary(dl, 0, 0)
    assert len(row["original"]) == ORIGINAL_MAX_CHARS and row["original_truncated"] is True
    assert dl.original.startswith(row["original"])


def test_indexing_counts_each_offset_once() -> None:
    meta = index_letter(None, 0, "odds.observed")
    assert meta == {"last_offset": 0, "counts": {"odds.observed": 1}}
    meta = index_letter(meta, 1, "odds.runs")
    assert meta == {"last_offset": 1, "counts": {"odds.observed": 1, "odds.runs": 1}}
    assert index_letter(meta, 1, "odds.runs") is None  # redelivered
    assert index_letter(meta, 0, "odds.observed") is None
    again = index_letter(meta, 5, "odds.observed")
    assert again == {"last_offset": 5, "counts": {"odds.observed": 2, "odds.runs": 1}}
    assert meta == {"last_offset": 1, "counts": {"odds.observed": 1, "odds.runs": 1}}  # not mutated


def test_slots_form_a_ring_per_partition() -> None:
    assert slot_key(1, 5) == slot_key(1, 5 + RING_SIZE) != slot_key(2, 5)
    assert len({slot_key(0, o) for o in range(3 * RING_SIZE)}) == RING_SIZE
    assert meta_key(3) not in {slot_key(3, o) for o in range(RING_SIZE)}


def test_latest_first_with_ties_broken_by_position() -> None:
    rows = [
        summary(letter(1, at=T), 0, 10),
        summary(letter(2, at=T + timedelta(seconds=1)), 1, 3),
        summary(letter(3, at=T), 0, 11),
        summary(letter(4, at=T - timedelta(days=1)), 2, 50),
    ]
    assert [r["offset"] for r in latest(rows, 10)] == [2, 3, 1, 4]
    assert [r["offset"] for r in latest(rows, 2)] == [2, 3]


@given(st.lists(st.integers(0, 10**6), max_size=40, unique=True), st.integers(1, 50))
def test_latest_is_the_newest_n(offsets: list[int], limit: int) -> None:
    rows = [summary(letter(o, at=T + timedelta(microseconds=o)), 0, o) for o in offsets]
    got = [r["offset"] for r in latest(rows, limit)]
    assert got == sorted(offsets, reverse=True)[:limit]


@pytest.mark.parametrize(
    ("value", "expected"), [(None, DEFAULT_LIMIT), ("", DEFAULT_LIMIT), ("1", 1), ("20", 20), ("99999", 1024)]
)
def test_limit(value: str | None, expected: int) -> None:
    assert parse_limit(value, 1024) == expected


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5"])
def test_bad_limits_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="limit must be a positive integer"):
        parse_limit(value, 1024)
