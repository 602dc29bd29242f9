"""Resume cursors of ``GET /odds/stream``: where a reader of ``odds.changes`` stands. Pure: no I/O.

A cursor is, per partition of the topic, the offset of the next record to read. Each message of
the stream carries the cursor just past its record as its SSE ``id``, so a client that reconnects
with it (``Last-Event-ID``, or ``?cursor=`` on a first connect) reads exactly what it missed.

Its text is compact and readable, partitions ascending, ``.`` between them::

    p0:123.p1:456.p2:0          partition 0 resumes at offset 123, partition 1 at 456, ...

``encode`` writes that canonical form; ``decode`` accepts only it (decimal digits without leading
zeros, no partition twice, offsets below 2**63) and raises ``CursorError`` for anything else;
``advance`` moves one partition past a record and never back. ``resume`` decides where each
partition starts from a cursor and the log's bounds, and which partitions can no longer be resumed
exactly (retention removed what the cursor points at, or the log is behind it: a recreated topic).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["MAX_PARTITIONS", "CursorError", "Resume", "advance", "decode", "encode", "resume"]

MAX_PARTITIONS: Final = 10_000
"""More partitions than any topic of ours has; a cursor naming more is refused unread."""
MAX_OFFSET: Final = 2**63 - 1
"""Kafka offsets are signed 64-bit."""

_NUMBER = r"(?:0|[1-9][0-9]{0,18})"
_PART = re.compile(rf"p({_NUMBER}):({_NUMBER})")
_MAX_TEXT = MAX_PARTITIONS * 42  # "p" + 19 digits + ":" + 19 digits + "."


class CursorError(ValueError):
    """A cursor's text that ``decode`` cannot read, with the reason."""


def encode(cursor: Mapping[int, int]) -> str:
    """The canonical text of ``cursor`` (partition -> next offset)."""
    return ".".join(f"p{partition}:{offset}" for partition, offset in sorted(cursor.items()))


def decode(text: str) -> dict[int, int]:
    """The cursor written by ``encode``; ``CursorError`` for any other text."""
    if not text:
        raise CursorError("empty cursor")
    if len(text) > _MAX_TEXT:
        raise CursorError(f"cursor too long: {len(text)} characters")
    cursor: dict[int, int] = {}
    previous = -1
    for part in text.split("."):
        match = _PART.fullmatch(part)
        if match is None:
            raise CursorError(f"unreadable cursor part {part[:40]!r}: expected p<partition>:<offset>")
        partition, offset = int(match[1]), int(match[2])
        if partition <= previous:
            raise CursorError("cursor partitions must ascend, each once")
        if partition >= MAX_PARTITIONS or offset > MAX_OFFSET:
            raise CursorError(f"cursor part {part!r} out of range")
        cursor[partition] = offset
        previous = partition
    return cursor


def advance(cursor: Mapping[int, int], partition: int, offset: int) -> dict[int, int]:
    """``cursor`` past the record at ``offset`` of ``partition``; a partition never moves back."""
    return {**cursor, partition: max(cursor.get(partition, 0), offset + 1)}


@dataclass(frozen=True, slots=True)
class Resume:
    """Where a reader starts: each partition's first offset, and the partitions it could not
    resume exactly (the client must reload what it shows), with the reason."""

    positions: dict[int, int]
    reset: tuple[int, ...] = ()
    reason: str = ""
    """Empty when the cursor was resumed exactly."""

    @property
    def exact(self) -> bool:
        """True when every record after the cursor is still in the log and will be read."""
        return not self.reason


def resume(
    cursor: Mapping[int, int] | None,
    partitions: Sequence[int],
    starts: Mapping[int, int],
    ends: Mapping[int, int],
) -> Resume:
    """The start of a reader of ``partitions`` (whose logs hold ``[starts[p], ends[p])``) at ``cursor``.

    No cursor: every partition's end (live only). A partition the cursor does not name (one added
    since) is read from offset 0. A cursor before a partition's start (retention removed records it
    had not read) or past its end (the topic was recreated), or naming partitions the topic does
    not have, cannot be resumed exactly: those partitions start at their earliest offset, and are
    listed in ``reset``.
    """
    if cursor is None:
        return Resume({p: ends[p] for p in partitions})
    positions: dict[int, int] = {}
    reset: list[int] = []
    reasons: list[str] = []
    for p in partitions:
        wanted = cursor.get(p, 0)
        if wanted < starts[p]:
            reset.append(p)
            reasons.append(f"p{p}: records from {wanted} to {starts[p]} are gone (retention)")
            positions[p] = starts[p]
        elif wanted > ends[p]:
            reset.append(p)
            reasons.append(f"p{p}: the log ends at {ends[p]}, before {wanted} (topic recreated)")
            positions[p] = starts[p]
        else:
            positions[p] = wanted
    unknown = sorted(set(cursor) - set(partitions))
    if unknown:
        reasons.append(f"the topic has no partition {', '.join(map(str, unknown))}")
    if not reasons:
        return Resume(positions)
    return Resume(positions, tuple(reset), "; ".join(reasons))
