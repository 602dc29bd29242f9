"""The dead letters: a bounded, restart-proof index of ``odds.dead-letters``, ``GET /dead-letters`` and counts.

An agent reads ``odds.dead-letters`` and keeps, per partition of that topic, the last ``RING_SIZE``
letters in the Faust table ``dead-letters``, keyed ``"<partition>:<offset % RING_SIZE>"`` (a ring
made of keys: each letter is one small table write, the table never holds more than
``partitions x RING_SIZE`` letters, and the compacted changelog stays that size), plus one
``"<partition>:meta"`` row with the last offset indexed and the letters counted by source topic.
The table is recovered from its changelog when a worker restarts, so the list and the counts
survive restarts (on Apache Kafka; Tansu loses a changelog's tail on recovery, see BROKERS.md).
Indexing is idempotent: a letter redelivered after a crash or rebalance (offset at or below the
meta row's) changes nothing, so counts are exact.

The topic itself stays the record of every letter with its full original bytes; the index keeps
up to ``ORIGINAL_MAX_CHARS`` of each original's base64.

``GET /dead-letters?limit=N`` (latest first, default 50, at most ``partitions x RING_SIZE``) is
answered by any worker: it gathers every worker's letters of the partitions it owns.

For ``/metrics``: ``counts(letters)`` gives the letters indexed per source topic for the partitions this
worker owns; summed over all workers it is the total since the topic began (each partition's count
moves with the partition on a rebalance, so export it per worker as a gauge, or sum it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import faust
import structlog
from faust.types import StreamT
from faust.web import Request, Response, View

from agents.routing import gather_json, is_local_request, owned_rows
from streams import engine
from streams.clock import format_ts
from streams.events import DeadLettered, InvalidEvent, decode
from streams.topics import DEAD_LETTER_INDEX

__all__ = [
    "DEFAULT_LIMIT",
    "ORIGINAL_MAX_CHARS",
    "RING_SIZE",
    "Letters",
    "consume",
    "counts",
    "dead_letters",
    "index_letter",
    "latest",
    "parse_limit",
    "summary",
]

log = structlog.get_logger(__name__)

RING_SIZE: Final = 256
"""Letters kept per partition of ``odds.dead-letters`` for the view."""
ORIGINAL_MAX_CHARS: Final = 4096
"""Base64 characters of the original kept in the index (the topic keeps all of it)."""
DEFAULT_LIMIT: Final = 50

# -- pure logic: no faust, no I/O ----------------------------------------------------------------


def slot_key(partition: int, offset: int) -> str:
    return f"{partition}:{offset % RING_SIZE}"


def meta_key(partition: int) -> str:
    return f"{partition}:meta"


def summary(letter: DeadLettered, partition: int, offset: int) -> dict[str, Any]:
    """The row the view lists for one letter found at ``partition``/``offset`` of the dead-letter topic."""
    truncated = len(letter.original) > ORIGINAL_MAX_CHARS
    return {
        "event_id": letter.event_id,
        "occurred_at": format_ts(letter.occurred_at),
        "source_topic": letter.source_topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "source_key": letter.source_key,
        "error": letter.error,
        "original": letter.original[:ORIGINAL_MAX_CHARS],
        "original_truncated": truncated,
        "dead_letter_partition": partition,
        "dead_letter_offset": offset,
    }


def index_letter(meta: Mapping[str, Any] | None, offset: int, source_topic: str) -> dict[str, Any] | None:
    """The partition's new meta row after the letter at ``offset``; None when it was indexed before."""
    if meta is not None and offset <= int(meta["last_offset"]):
        return None
    counted = dict((meta or {}).get("counts", {}))
    counted[source_topic] = int(counted.get(source_topic, 0)) + 1
    return {"last_offset": offset, "counts": counted}


def latest(rows: Iterable[Mapping[str, Any]], limit: int) -> list[Mapping[str, Any]]:
    """The ``limit`` newest letters: by ``occurred_at``, ties by position in the dead-letter topic."""

    def order(row: Mapping[str, Any]) -> tuple[str, int, int]:
        # occurred_at is always formatted as UTC +00:00 with microseconds, so text order is time order
        return (str(row["occurred_at"]), int(row["dead_letter_offset"]), int(row["dead_letter_partition"]))

    return sorted(rows, key=order, reverse=True)[:limit]


def parse_limit(value: str | None, maximum: int) -> int:
    """The ``limit`` query parameter: a positive integer, at most ``maximum``; raise ValueError otherwise."""
    if value is None or value == "":
        return min(DEFAULT_LIMIT, maximum)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"limit must be a positive integer, got {value!r}")
    return min(int(value), maximum)


def _add_counts(total: Counter[str], meta: Any) -> None:
    if isinstance(meta, Mapping):
        total.update({str(k): int(v) for k, v in meta.get("counts", {}).items()})


# -- the agent and its view ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Letters:
    """What the dead-letter index and its view work with."""

    app: faust.App
    index: Any
    """The ``dead-letters`` table."""
    topic_name: str
    """``odds.dead-letters`` (prefixed): the index's partitions are its partitions."""
    partitions: int

    @property
    def maximum(self) -> int:
        return self.partitions * RING_SIZE


async def consume(stream: StreamT[bytes], letters: Letters) -> None:
    """The agent: each letter of ``odds.dead-letters`` indexed once, in its partition's ring."""
    index = letters.index
    async for event in engine.records(stream):
        msg = event.message
        with structlog.contextvars.bound_contextvars(partition=msg.partition, offset=msg.offset):
            try:
                letter = decode(event.value, [DeadLettered])
            except InvalidEvent as exc:
                # never letter a dead letter: that could loop; the record stays on the topic
                log.warning("record on the dead-letter topic is not a DeadLettered; not indexed", error=exc.reason)
                continue
            try:
                meta = index_letter(index.get(meta_key(msg.partition)), msg.offset, letter.source_topic)
                if meta is None:
                    continue
                index[slot_key(msg.partition, msg.offset)] = summary(letter, msg.partition, msg.offset)
                index[meta_key(msg.partition)] = meta
            except Exception:  # an escaping exception would stop the agent for good
                log.exception("dead letter not indexed", source_topic=letter.source_topic)


def counts(letters: Letters) -> dict[str, int]:
    """Dead letters indexed so far, by source topic, for the partitions of ``odds.dead-letters`` this worker owns.

    Cheap (one table lookup per owned partition); safe to call from any view or timer of the worker.
    """
    total: Counter[str] = Counter()
    for partition in engine.owned_partitions(letters.app, letters.topic_name):
        _add_counts(total, letters.index.get(meta_key(partition)))
    return dict(total)


async def dead_letters(view: View, request: Request, letters: Letters) -> Response:
    """``GET /dead-letters?limit=N``: the latest letters of every worker."""
    try:
        limit = parse_limit(request.query.get("limit"), letters.maximum)
    except ValueError as exc:
        return view.json({"error": str(exc)}, status=400)
    local = owned_rows(letters.app, DEAD_LETTER_INDEX, letters.index, letters.topic_name, letters.partitions)
    rows, failed = await gather_json(view, request, latest(local, limit))
    if is_local_request(request):
        return view.json({"items": rows})
    newest = latest(rows, limit)
    body: dict[str, Any] = {"count": len(newest), "limit": limit, "dead_letters": newest}
    if failed:
        body["partial"] = {"workers_not_answering": failed}
    return view.json(body)
