"""The topics and tables of oddstream, each declared once: names, keys, and how keys find partitions.

Pure declarations (no I/O). ``streams.kafka.ensure_topics`` creates the topics and the tables'
changelogs; the composition root builds the Faust topics and tables from these specs; the events
(``streams.events``) take their topic and key field from here.

Partitioning is Kafka's default (murmur2 of the key, as the Java client), so the owner of a key is
the worker assigned that key's partition of its topic. A table's rows are partitioned like the
topic its agent reads (``TableSpec.source``); ``TableSpec.partition`` says which partition a table
key belongs to, or None for a key that is bookkeeping rather than a row (the board's offset markers,
the dead-letter index's meta rows).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from aiokafka.partitioner import murmur2

__all__ = [
    "BOARDS",
    "CHANGES",
    "CONTROL",
    "DEAD_LETTERS",
    "DEAD_LETTER_INDEX",
    "MARK_PREFIX",
    "OBSERVED",
    "RUNS",
    "RUNS_TABLE",
    "RUN_CHECKS",
    "SCRAPE_QUEUE",
    "SCRAPE_REQUESTS",
    "TABLES",
    "TOPICS",
    "TableSpec",
    "TopicSpec",
    "board_key",
    "changelog_topic",
    "event_of_board",
    "is_mark",
    "mark_key",
    "partition_of",
]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    """The contract's name; ``Settings.topic`` prefixes it."""
    key: str
    """The event field whose value is the record key (or, for an internal topic, what the key is)."""
    description: str
    compacted: bool = False
    """Kept by key for ever (the latest record of each key), not for a retention period."""


SCRAPE_REQUESTS: Final = TopicSpec("odds.scrape-requests", "run_id", "ScrapeRequested commands")
OBSERVED: Final = TopicSpec("odds.observed", "sportradar_id", "OddsObserved: one bookmaker's board for one event")
CHANGES: Final = TopicSpec("odds.changes", "sportradar_id", "OddsChanged: the quotes that moved")
RUNS: Final = TopicSpec("odds.runs", "run_id", "scrape run lifecycle")
DEAD_LETTERS: Final = TopicSpec("odds.dead-letters", "source_key", "records no consumer could accept (original key)")
RUN_CHECKS: Final = TopicSpec(
    "odds.run-checks", "run_id", "internal: the watchdog asks a run's owner to decide on staleness"
)
CONTROL: Final = TopicSpec(
    "odds.control",
    "setting",
    "run-time settings every worker folds (ScheduleChanged), kept across restarts",
    compacted=True,
)
SCRAPE_QUEUE: Final = TopicSpec(
    "odds.scrape-queue",
    "the constant 'scrape'",
    "internal: every ScrapeRequested on one partition, so one worker runs the cycles",
)

TOPICS: Final[tuple[TopicSpec, ...]] = (
    SCRAPE_REQUESTS,
    OBSERVED,
    CHANGES,
    RUNS,
    DEAD_LETTERS,
    RUN_CHECKS,
    SCRAPE_QUEUE,
    CONTROL,
)


@lru_cache(maxsize=1 << 17)
def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2, as the Java client)."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


# -- the boards table's keys -------------------------------------------------------------------------

MARK_PREFIX: Final = "@applied:"


def board_key(sportradar_id: str, bookmaker: str) -> str:
    """The key of one bookmaker's board of one event: ``"<sportradar_id>:<bookmaker>"``."""
    return f"{sportradar_id}:{bookmaker}"


def event_of_board(key: str) -> str:
    """The SportRadar id of a board key (the record key its observations were partitioned by)."""
    return key.split(":", 1)[0]


def mark_key(partition: int) -> str:
    """The boards table's marker of the last offset of ``partition`` applied to every board."""
    return f"{MARK_PREFIX}{partition}"


def is_mark(key: object) -> bool:
    return str(key).startswith(MARK_PREFIX)


# -- tables ------------------------------------------------------------------------------------------


def _board_partition(key: str, partitions: int) -> int | None:
    return None if is_mark(key) else partition_of(event_of_board(key), partitions)


def _run_partition(key: str, partitions: int) -> int | None:
    return partition_of(key, partitions)


def _letter_partition(key: str, partitions: int) -> int | None:
    # "<partition of odds.dead-letters>:<slot>", and "<partition>:meta" for the partition's counts
    partition, _, slot = key.partition(":")
    return int(partition) if partition.isdigit() and slot != "meta" else None


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A Faust table: its name, the topic whose partitions its keys follow, and how a key finds one."""

    name: str
    source: TopicSpec
    partition: Callable[[str, int], int | None]
    """``(key, partitions)`` -> the partition of ``source`` the row belongs to; None: not a row."""
    description: str


BOARDS: Final = TableSpec(
    "boards", OBSERVED, _board_partition, "the latest board per event and bookmaker, and the offset markers"
)
RUNS_TABLE: Final = TableSpec("runs", RUNS, _run_partition, "every scrape run's state")
DEAD_LETTER_INDEX: Final = TableSpec(
    "dead-letters", DEAD_LETTERS, _letter_partition, "the last letters per partition of odds.dead-letters"
)

TABLES: Final[tuple[TableSpec, ...]] = (BOARDS, RUNS_TABLE, DEAD_LETTER_INDEX)


def changelog_topic(app_id: str, table: TableSpec) -> str:
    """The name Faust gives a table's changelog topic."""
    return f"{app_id}-{table.name}-changelog"
