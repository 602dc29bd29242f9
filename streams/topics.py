"""The topics of the contract, declared once, and their creation with explicit partition counts."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import structlog
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from streams.kafka import client_options
from streams.settings import Settings

__all__ = [
    "CHANGES",
    "DEAD_LETTERS",
    "OBSERVED",
    "RUNS",
    "RUN_CHECKS",
    "SCRAPE_QUEUE",
    "SCRAPE_REQUESTS",
    "TABLES",
    "TABLE_BOARDS",
    "TABLE_DEAD_LETTERS",
    "TABLE_RUNS",
    "TOPICS",
    "BrokerUnavailable",
    "TopicSpec",
    "changelog_topic",
    "ensure_topics",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    description: str


SCRAPE_REQUESTS = TopicSpec("odds.scrape-requests", "run_id", "ScrapeRequested commands")
OBSERVED = TopicSpec("odds.observed", "sportradar_id", "OddsObserved: one bookmaker's board for one event")
CHANGES = TopicSpec("odds.changes", "sportradar_id", "OddsChanged: the quotes that moved")
RUNS = TopicSpec("odds.runs", "run_id", "scrape run lifecycle")
DEAD_LETTERS = TopicSpec("odds.dead-letters", "original key", "records no consumer could accept")
RUN_CHECKS = TopicSpec("odds.run-checks", "run_id", "internal: the watchdog asks a run's owner to decide on staleness")
SCRAPE_QUEUE = TopicSpec(
    "odds.scrape-queue",
    "the constant 'scrape'",
    "internal: every ScrapeRequested on one partition, so one worker runs the cycles",
)

TOPICS: tuple[TopicSpec, ...] = (SCRAPE_REQUESTS, OBSERVED, CHANGES, RUNS, DEAD_LETTERS, RUN_CHECKS, SCRAPE_QUEUE)

# Faust tables, created by name in the agents; their changelog topics are created here at start,
# before any worker writes, because Faust's own lazy creation raced the first writes on a fresh
# cluster (PartitionsMismatch: the changelog had 0 partitions).
TABLE_BOARDS = "boards"
TABLE_RUNS = "runs"
TABLE_DEAD_LETTERS = "dead-letters"
TABLES: tuple[str, ...] = (TABLE_BOARDS, TABLE_RUNS, TABLE_DEAD_LETTERS)


def changelog_topic(settings: Settings, table: str) -> str:
    """The name Faust gives a table's changelog topic."""
    return f"{settings.app_id}-{table}-changelog"


class BrokerUnavailable(RuntimeError):
    """The configured Kafka broker did not answer."""


async def ensure_topics(settings: Settings, *, timeout_s: float = 15.0) -> list[str]:
    """Create the contract's topics (``settings.topic_partitions`` each) when missing.

    Returns the names created. Raises ``BrokerUnavailable`` with the address when the broker
    cannot be reached within ``timeout_s``.
    """
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=int(timeout_s * 1000))
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
    except (TimeoutError, KafkaConnectionError, KafkaError, OSError) as exc:
        await admin.close()
        raise BrokerUnavailable(f"Kafka broker at {settings.kafka_bootstrap} is unreachable: {exc!r}") from exc
    try:
        existing = set(await admin.list_topics())
        wanted: dict[str, dict[str, str]] = {settings.topic(t.name): {} for t in TOPICS}
        compacted = {"cleanup.policy": "compact"}
        wanted.update({changelog_topic(settings, table): compacted for table in TABLES})
        missing = [name for name in wanted if name not in existing]
        if missing:
            # another process may create them in the meantime
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [
                        NewTopic(
                            name,
                            settings.topic_partitions,
                            settings.kafka_replication_factor,
                            topic_configs=wanted[name],
                        )
                        for name in missing
                    ],
                    timeout_ms=int(timeout_s * 1000),
                )
            log.info("topics created", topics=missing, partitions=settings.topic_partitions)
        return missing
    finally:
        await admin.close()
