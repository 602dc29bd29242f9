"""The Faust application factory: one app per settings object, every agent registered on it.

Nothing here runs at import time: ``create_app(settings)`` builds the app, its topics and tables,
and asks each agent module to register itself against a shared ``Runtime``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import faust
import structlog
from faust.types import EventT, StreamT, TopicT
from sqlalchemy.ext.asyncio import AsyncEngine

from projections.writer import make_engine
from streams import topics
from streams.events import BaseEvent, DeadLettered, encode, encode_validated
from streams.kafka import DurableProducer, IdempotentProducer, faust_credentials
from streams.logconfig import configure_logging, logging_config
from streams.ranges import RawRecord
from streams.settings import Settings
from streams.topics import TopicSpec

__all__ = ["Runtime", "create_app", "records"]

log = structlog.get_logger(__name__)


async def records(stream: StreamT[bytes]) -> AsyncIterator[EventT[bytes]]:
    """Every record of ``stream`` as its event (value plus topic, partition, offset, key).

    Like Faust's ``stream.events()``, except that a value arriving without its event is logged
    as an error instead of being skipped without a word (``events()`` yields only when
    ``current_event`` is set, and acknowledges the record either way).
    """
    async for _value in stream:
        event = stream.current_event
        if event is None:  # never seen; say so rather than lose the record quietly
            log.error("stream delivered a value without its event; record skipped", stream=repr(stream))
            continue
        yield event


@dataclass
class Runtime:
    """What the agents of one worker share: settings, topics, and lazily made connections."""

    settings: Settings
    app: faust.App
    topics: dict[str, TopicT] = field(default_factory=dict)
    tables: dict[str, Any] = field(default_factory=dict)
    _engine: AsyncEngine | None = None

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            if not self.settings.database_url:
                raise RuntimeError("no database URL: set ODDSTREAM_DATABASE_URL or run `oddstream up`")
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def topic(self, spec: TopicSpec) -> TopicT:
        return self.topics[spec.name]

    async def publish(self, event: BaseEvent) -> None:
        """Send an event to its topic, keyed by its entity key."""
        topic = self.topics[event.topic]
        await topic.send(key=event.key.encode(), value=encode(event))

    async def publish_delivered(self, events: list[BaseEvent], *, validated: bool = False) -> None:
        """Send ``events`` and return once the broker has acknowledged every one of them.

        What a stateful agent publishes must be on the broker before its state moves on: a crash
        in between then repeats the events (same ids, harmless downstream), never loses them.
        Raises the first delivery error; the caller retries the whole list. ``validated``: the events
        carry only decoded (checked) values, so ``encode_validated`` may write them.
        """
        write = encode_validated if validated else encode
        pending = []
        for event in events:
            topic = self.topics[event.topic]
            pending.append(await topic.send(key=event.key.encode(), value=write(event)))
        if pending:
            await asyncio.gather(*pending)

    async def dead_letter(self, event: EventT[Any], error: str) -> None:
        """Set a record aside on ``odds.dead-letters`` with the reason; the caller moves on."""
        await self.dead_letter_raw(RawRecord.of(event.message), error)

    async def dead_letter_raw(self, record: RawRecord, error: str) -> Awaitable[Any]:
        """``dead_letter`` for a record read outside a stream; returns the letter's delivery."""
        letter = DeadLettered.of(
            source_topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            error=error,
            original=record.value,
        )
        log.warning(
            "record dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            error=error,
        )
        delivery: Awaitable[Any] = await self.topic(topics.DEAD_LETTERS).send(key=record.key, value=encode(letter))
        return delivery

    async def apply_or_dead_letter(
        self,
        event: EventT[Any],
        what: str,
        work: Callable[[], Awaitable[None]],
        *,
        attempts: int = 6,
        first_delay_s: float = 0.2,
    ) -> None:
        """Run ``work`` for a valid record; retry unexpected errors with backoff, then dead-letter it.

        A transient fault (a broker hiccup, a table not ready) must not set a valid record aside;
        a fault that outlasts the retries (about 6 s) is a bug or an outage, and the record goes to
        ``odds.dead-letters`` with its original bytes, to be replayed once fixed, so the agent keeps
        going and nothing is lost. ``work`` must be safe to run again after a partial failure.
        """
        for attempt in range(1, attempts + 1):
            try:
                await work()
                return
            except Exception as exc:
                if attempt == attempts:
                    log.exception(f"{what} failed; record dead-lettered", attempts=attempts)
                    await self.dead_letter(event, f"{what} failed after {attempts} attempts: {exc!r}")
                    return
                delay = first_delay_s * 2 ** (attempt - 1)
                log.warning(f"{what} failed, retrying", attempt=attempt, retry_in_s=delay, error=repr(exc))
                await asyncio.sleep(delay)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None


def create_app(settings: Settings) -> tuple[faust.App, Runtime]:
    """Build the Faust app for ``settings`` with every agent, table, timer and web view."""
    configure_logging(settings.log_level)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=settings.kafka_url,
        store="memory://",
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.kafka_replication_factor,
        producer_acks=-1 if settings.kafka_acks == "all" else int(settings.kafka_acks),
        broker_credentials=faust_credentials(settings),
        topic_allow_declare=True,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=max(settings.session_timeout_s / 5, 0.5),
        broker_rebalance_timeout=max(settings.session_timeout_s * 2, 20.0),
        consumer_auto_offset_reset="earliest",
        web_enabled=True,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        web_host=settings.advertised_host,
        web_in_thread=False,
        logging_config=logging_config(settings.log_level),
        worker_redirect_stdouts=False,
        stream_wait_empty=False,
        producer_linger=timedelta(milliseconds=5).total_seconds(),
        # a board's changelog record is ~19 KB, over the 16 KB default: every board write was a
        # batch of its own, and aiokafka has one request in flight per broker, so a batch of
        # boards drained a few records per round trip (bench/README.md); the broker's default
        # limit on a record batch is 1 MB
        producer_max_batch_size=512 * 1024,
        table_cleanup_interval=60.0,
        # no standby replicas: with them, a worker that kept partitions through a rebalance
        # sometimes never fetched them again (reproduced by tests/integration/test_board.py)
        table_standby_replicas=0,
    )
    # per app, not per class; "auto" idempotence was resolved against the broker at start
    durable = IdempotentProducer if settings.kafka_idempotence == "on" else DurableProducer
    app.transport.Producer = durable  # type: ignore[misc]
    runtime = Runtime(settings=settings, app=app)
    for spec in topics.TOPICS:
        runtime.topics[spec.name] = app.topic(
            settings.topic(spec.name),
            key_type=bytes,
            value_type=bytes,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.topic_partitions,
        )

    # registration order is the order of the data flow
    from agents import board, dashboard, deadletters, metrics, runs, scrape, views
    from projections import agents as projection_agents

    scrape.register(app, runtime)
    board.register(app, runtime)
    runs.register(app, runtime)
    projection_agents.register(app, runtime)
    deadletters.register(app, runtime)
    views.register(app, runtime)
    dashboard.register(app, runtime)
    metrics.register(app, runtime)

    @app.on_before_shutdown.connect
    async def _close_runtime(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        await runtime.close()

    return app, runtime
