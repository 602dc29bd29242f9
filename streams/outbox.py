"""Where agents send what they produce: events to their topics, refused records to the dead letters.

``Outbox`` is the interface every agent is given; each method says what it guarantees when it
returns. ``KafkaOutbox`` is the worker's, over the Faust topics the composition root built; agent
tests give a recording twin of the same interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import structlog
from faust.types import TopicT

from streams.events import BaseEvent, DeadLettered, encode, encode_validated
from streams.ranges import RawRecord
from streams.topics import DEAD_LETTERS, TopicSpec

__all__ = ["KafkaOutbox", "Letter", "Outbox", "apply_or_dead_letter", "letter_of"]

log = structlog.get_logger(__name__)

Letter = tuple[RawRecord, str]
"""A record a consumer could not accept, and why."""


def letter_of(record: RawRecord, error: str) -> DeadLettered:
    """The ``DeadLettered`` that sets ``record`` aside with ``error``; its id derives from the record's place."""
    return DeadLettered.of(
        source_topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        error=error,
        original=record.value,
    )


class Outbox(Protocol):
    async def publish(self, event: BaseEvent) -> None:
        """Send ``event`` to its topic, keyed by its entity key; the producer holds it on return
        (a crash may still lose it: for facts a state depends on, use ``publish_acked``)."""

    async def publish_acked(
        self, events: Sequence[BaseEvent], letters: Sequence[Letter] = (), *, validated: bool = False
    ) -> None:
        """Send ``events`` and dead-letter ``letters``; return once the broker acknowledged every one.

        What a stateful agent publishes must be on the broker before its state moves on: a crash in
        between then repeats the events (same ids, harmless downstream), never loses them. Raises the
        first delivery error; the caller retries the whole call. ``validated``: the events carry only
        values decoded (checked) from records, so the faster encoder may write them.
        """

    async def dead_letter(self, record: RawRecord, error: str) -> None:
        """Set ``record`` aside on ``odds.dead-letters`` with ``error``; the producer holds the letter on
        return, and a commit of the record's offset waits for it (``streams.engine.DurableProducer``)."""

    async def forward(self, spec: TopicSpec, key: bytes, value: bytes) -> None:
        """Send a record's bytes unchanged to ``spec``'s topic; the producer holds it on return."""


class KafkaOutbox:
    """The worker's outbox: Faust topics by contract name (``streams.topics``), one producer."""

    def __init__(self, channels: Mapping[str, TopicT]) -> None:
        self._channels = dict(channels)

    async def publish(self, event: BaseEvent) -> None:
        await self._channels[event.topic].send(key=event.key.encode(), value=encode(event))

    async def publish_acked(
        self, events: Sequence[BaseEvent], letters: Sequence[Letter] = (), *, validated: bool = False
    ) -> None:
        write = encode_validated if validated else encode
        pending: list[Awaitable[Any]] = [await self._send_letter(record, error) for record, error in letters]
        for event in events:
            pending.append(await self._channels[event.topic].send(key=event.key.encode(), value=write(event)))
        if pending:
            await asyncio.gather(*pending)

    async def dead_letter(self, record: RawRecord, error: str) -> None:
        await self._send_letter(record, error)

    async def _send_letter(self, record: RawRecord, error: str) -> Awaitable[Any]:
        log.warning(
            "record dead-lettered", topic=record.topic, partition=record.partition, offset=record.offset, error=error
        )
        delivery: Awaitable[Any] = await self._channels[DEAD_LETTERS.name].send(
            key=record.key, value=encode(letter_of(record, error))
        )
        return delivery

    async def forward(self, spec: TopicSpec, key: bytes, value: bytes) -> None:
        await self._channels[spec.name].send(key=key, value=value)


async def apply_or_dead_letter(
    outbox: Outbox,
    record: RawRecord,
    what: str,
    work: Callable[[], Awaitable[None]],
    *,
    attempts: int = 6,
    first_delay_s: float = 0.2,
) -> None:
    """Run ``work`` for a valid record; retry unexpected errors with backoff, then dead-letter it.

    A transient fault (a broker hiccup, a table not ready) must not set a valid record aside; a fault
    that outlasts the retries (about 6 s) is a bug or an outage, and the record goes to
    ``odds.dead-letters`` with its original bytes, to be replayed once fixed, so the agent keeps going
    and nothing is lost. ``work`` must be safe to run again after a partial failure.
    """
    for attempt in range(1, attempts + 1):
        try:
            await work()
            return
        except Exception as exc:
            if attempt == attempts:
                log.exception(f"{what} failed; record dead-lettered", attempts=attempts)
                await outbox.dead_letter(record, f"{what} failed after {attempts} attempts: {exc!r}")
                return
            delay = first_delay_s * 2 ** (attempt - 1)
            log.warning(f"{what} failed, retrying", attempt=attempt, retry_in_s=delay, error=repr(exc))
            await asyncio.sleep(delay)
