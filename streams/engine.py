"""The one door to Faust's and aiokafka's internals: what the rest of oddstream may rely on, by guarantee.

Every other module uses Faust and aiokafka through their public API only. What oddstream needs
beyond it is here, each behind a name that says what it guarantees:

- ``records`` / ``batches``: every record of a stream as its event (value, topic, partition, offset,
  key), one at a time or in batches, never a value without its place;
- ``write_through``: table writes whose contents change at once and whose changelog records are in
  the producer's hands when it returns, so a commit of the batch's offsets waits for them;
- ``install_durable_producer``: a producer whose ``flush`` (Faust's step before committing offsets)
  also drains the table-write buffer, optionally idempotent;
- ``owned_partitions``, ``is_ready``, ``worker_url``, ``other_workers``, ``consumer_lag``: readiness,
  recovery and ownership probes for the views and ``/metrics``;
- ``aiohttp_request``: the web server's own request under a Faust view, for a streamed answer
  (Server-Sent Events) that Faust's ``Response`` cannot give;
- ``Keeper``: the group's committed offsets follow what every consumer of a partition applied, and a
  partition that stalls with records waiting is read again.

``PRIVATE_ATTRIBUTES`` lists every private attribute relied on here; ``tests/unit/test_engine.py``
checks each exists in the pinned faust-streaming and aiokafka, so an upgrade fails in CI, not in
production.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, cast

import faust
import structlog
from aiohttp import web
from faust.streams import Stream
from faust.tables.base import Collection
from faust.transport.drivers.aiokafka import Producer as FaustAIOKafkaProducer
from faust.transport.producer import ProducerBuffer
from faust.types import AppT, EventT, StreamT, TableT, TopicT

from streams.ends import true_end
from streams.retry import until_done
from streams.sequencing import PartitionWatch
from streams.topics import TableSpec
from streams.turns import in_turns

__all__ = [
    "PRIVATE_ATTRIBUTES",
    "AppliedOffsets",
    "DurableProducer",
    "IdempotentProducer",
    "Keeper",
    "Tracked",
    "aiohttp_request",
    "batches",
    "consumer_lag",
    "install_durable_producer",
    "is_ready",
    "make_table",
    "other_workers",
    "owned_partitions",
    "raw_channel",
    "records",
    "worker_url",
    "write_through",
]

log = structlog.get_logger(__name__)

PRIVATE_ATTRIBUTES: Final[tuple[tuple[str, str, str], ...]] = (
    # (module, class, attribute): the attribute is read or written here, and nowhere else
    ("faust.transport.producer", "ProducerBuffer", "_send_pending"),
    ("faust.transport.drivers.aiokafka", "Producer", "_settings_extra"),
    ("faust.tables.base", "Collection", "_on_changelog_sent"),
    ("faust.tables.base", "Collection", "data"),
    ("faust.transport.consumer", "Consumer", "_committed_offset"),
    ("faust.transport.consumer", "Consumer", "_read_offset"),
    ("faust.transport.consumer", "Consumer", "_gap"),
    ("faust.transport.consumer", "Consumer", "_buffered_partitions"),
    ("faust.transport.consumer", "Consumer", "_commit"),
    ("faust.tables.manager", "TableManager", "recovery"),
    ("faust.tables.recovery", "Recovery", "app.in_recovery"),  # set on the app by the recovery service
)


# -- streams ------------------------------------------------------------------------------------------


def raw_channel(app: faust.App, *names: str, partitions: int | None = None) -> TopicT:
    """A Faust topic over ``names`` whose keys and values stay the record's bytes (decoded by us)."""
    return app.topic(
        *names,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
    )


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


def batches(stream: StreamT[bytes], max_records: int, within_s: float) -> AsyncIterator[Sequence[EventT[bytes]]]:
    """The stream's events in batches of at most ``max_records``, each what arrived within ``within_s``.

    Faust acknowledges a batch when the loop comes back for the next one: finish its writes inside
    the loop body (BROKERS.md).
    """
    return cast(Stream[bytes], stream).take_events(max_records, within=within_s)


# -- tables ---------------------------------------------------------------------------------------------


def make_table(app: faust.App, spec: TableSpec, partitions: int) -> TableT[str, Any]:
    """The Faust table of ``spec``: JSON keys and values, no default, partitioned like its source."""
    schema: faust.Schema[str, Any] = faust.Schema(key_serializer="json", value_serializer="json")
    return app.Table(spec.name, default=None, schema=schema, partitions=partitions)


TableWrite = tuple[int, str, Any]
"""``(changelog partition, key, value)``."""


async def write_through(table: TableT[Any, Any], writes: Sequence[TableWrite]) -> None:
    """``table[key] = value`` for each ``(partition, key, value)``, its changelog record on ``partition``
    (a batch spans source partitions; Faust would use the current event's).

    The table's contents change in one step, before the first send. The records go straight to the
    producer, handed over before this returns, not through Faust's table-write buffer: Faust's
    conductor stops delivering records to every stream of the worker while that buffer holds more
    than 100, and a board batch writes up to 1,000 (bench/README.md). A commit of the batch's offsets
    waits for these records too (``DurableProducer.flush``). A send the producer refuses is retried,
    never skipped.
    """
    coll = cast(Collection, table)  # the serializers and the changelog callback Faust itself uses
    topic = coll.changelog_topic
    futures = []
    for partition, key, value in writes:
        coll.data[key] = value
        futures.append(
            topic.as_future_message(
                key=key,
                value=value,
                partition=partition,
                key_serializer=coll.key_serializer,
                value_serializer=coll.value_serializer,
                callback=coll._on_changelog_sent,
                eager_partitioning=True,
            )
        )
    async for fut in in_turns(futures):  # serialised and sent: the views get a turn now and then
        await until_done("table write", partial(topic.publish_message, fut, wait=False), table=coll.name)


# -- the producer ---------------------------------------------------------------------------------------


class DurableProducer(FaustAIOKafkaProducer):
    """Faust's producer whose ``flush`` also drains the table-write buffer before offsets commit.

    A table write (``table[key] = value``) goes through Faust's ``ProducerBuffer``, which a
    background task hands to aiokafka one record at a time. Faust commits source offsets after
    ``producer.flush()``, but the aiokafka driver's flush waits only for what aiokafka already
    holds: changelog records still in the buffer, or dequeued and not yet handed over, were not
    waited for. A worker killed right after such a commit restarted with its table older than its
    committed offsets, and the lost board never came back (tests/reliability finds this under
    SIGKILL). Here ``flush`` returns only when the buffer is empty and nothing is in hand, then
    waits for aiokafka's deliveries as before; a commit can no longer overtake a table write.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_hand = 0
        buffer = cast(ProducerBuffer, self.buffer)
        send = buffer._send_pending

        async def counted(fut: Any) -> None:
            # runs synchronously from the moment the buffer's task dequeued ``fut``
            self._in_hand += 1
            try:
                await send(fut)
            finally:
                self._in_hand -= 1

        buffer._send_pending = counted  # type: ignore[method-assign]  # count what the task holds

    # how long a flush waits for the buffer before going on as Faust's own flush would: a send stuck
    # in aiokafka (metadata, a full accumulator) must delay commits, not stop them for good
    drain_timeout_s: float = 15.0

    async def flush(self) -> None:
        buffer = self.buffer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.drain_timeout_s
        while buffer.size or self._in_hand:
            if buffer.state != "running" and buffer.size:
                raise RuntimeError("cannot flush: the producer buffer is not running")
            if loop.time() > deadline:
                log.warning(
                    "producer buffer not drained; flushing what aiokafka holds",
                    waited_s=self.drain_timeout_s,
                    buffered=buffer.size,
                    in_hand=self._in_hand,
                )
                break
            await asyncio.sleep(0.005)
        await super().flush()


class IdempotentProducer(DurableProducer):
    """``DurableProducer`` with ``enable_idempotence``: a retried send is written once per partition."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), "acks": "all", "enable_idempotence": True}


def install_durable_producer(app: faust.App, *, idempotent: bool) -> None:
    """Make ``app`` run a ``DurableProducer`` (``IdempotentProducer`` with ``idempotent``); per app."""
    app.transport.Producer = IdempotentProducer if idempotent else DurableProducer  # type: ignore[misc]


# -- probes ---------------------------------------------------------------------------------------------


def owned_partitions(app: AppT, topic_name: str) -> set[int]:
    """Partitions of ``topic_name`` this worker currently owns as active."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}


def _recovered(app: AppT) -> bool:
    """True once the table manager's recovery has completed (Faust's types omit ``recovery``)."""
    recovery = getattr(app.tables, "recovery", None)
    return bool(recovery is not None and recovery.completed.is_set())


def is_ready(app: AppT) -> bool:
    """Partitions assigned and their tables recovered: no rebalance or recovery under way."""
    return bool(not app.rebalancing and _recovered(app))


def worker_url(app: AppT) -> str:
    """This worker's URL as the other workers reach it (Faust's canonical URL)."""
    return str(app.conf.canonical_url).rstrip("/")


def other_workers(app: AppT) -> list[str]:
    """The URLs of the other workers of the group that own table partitions."""
    me = worker_url(app)
    hosts = {str(h).rstrip("/") for h in app.router.tables_metadata()}
    return sorted(h for h in hosts if h and h != me)


def consumer_lag(app: AppT) -> list[tuple[str, int, int]]:
    """``(topic, partition, records behind the high watermark)`` per assigned partition; empty when
    the consumer has nothing assigned (starting or rebalancing)."""
    consumer = app.consumer
    try:
        assigned = sorted(consumer.assignment())
    except Exception:  # not started or rebalancing
        return []
    read = getattr(consumer, "_read_offset", {})
    committed = getattr(consumer, "_committed_offset", {})
    out = []
    for tp in assigned:
        try:
            highwater = consumer.highwater(tp)
        except Exception:
            continue
        if highwater is None:
            continue
        position = read.get(tp)
        position = committed.get(tp) if position is None else position + 1
        out.append((tp.topic, tp.partition, max(int(highwater) - int(position or 0), 0)))
    return out


# -- the web server -------------------------------------------------------------------------------------


def aiohttp_request(request: Any) -> web.Request:
    """The aiohttp request a Faust view was called with, to prepare a ``web.StreamResponse`` on.

    Faust's aiohttp driver (``faust.web.drivers.aiohttp``, the one ``web_enabled`` runs) hands its
    views aiohttp's own request object, typed as Faust's abstract ``Request``; and aiohttp sends a
    ``StreamResponse`` the view prepared and returned as it is. Raises ``TypeError`` on any other
    driver rather than stream into nothing.
    """
    if not isinstance(request, web.BaseRequest):
        raise TypeError(f"not an aiohttp request: {type(request).__name__} (Faust's web driver changed?)")
    return cast(web.Request, request)


# -- the keeper -----------------------------------------------------------------------------------------

AppliedOffsets = Callable[[Sequence[tuple[str, int]]], Awaitable[Mapping[tuple[str, int], int | None]]]
"""``[(topic, partition)]`` -> the last offset a consumer applied to its stored state (None: never)."""


@dataclass(frozen=True, slots=True)
class Tracked:
    """A topic whose every consumer stores the offsets it applied, and how to ask each of them."""

    topic: str
    consumers: tuple[AppliedOffsets, ...]


class Keeper:
    """Where Faust's consumer stops short of what every consumer applied, move it on.

    Every consumer of a tracked topic stores the offsets it applied (the board's markers, the
    projections' progress rows). Two Faust faults are told apart from them:

    - a commit stuck behind applied offsets (``streams.sequencing.lost_acks``): the offsets are
      marked done in Faust's gap set, and Faust commits them itself;
    - a partition whose records wait while nothing is applied (``stalled``): its records were
      dropped around a rebalance and are not fetched again; it is read again from the first
      offset not applied, what a restart would do (each consumer skips what it holds).

    And it commits the offsets every consumer applied, so the group's committed offsets follow the
    stored state even when Faust believes it committed them already (it records a commit the broker
    refused as made, and never makes it again). ``keep`` is a timer's body.
    """

    def __init__(self, app: faust.App, tracked: Sequence[Tracked]) -> None:
        self.app = app
        self.tracked = {t.topic: t for t in tracked}
        self.watch = PartitionWatch()
        self.ours: dict[Any, int] = {}  # the offsets this keeper committed, per partition

    async def _applied(self, tps: Sequence[Any]) -> dict[Any, int | None]:
        """Per partition, the least offset every consumer applied (None while one has none)."""
        done: dict[Any, int | None] = {}
        by_topic: dict[str, list[Any]] = {}
        for tp in tps:
            by_topic.setdefault(tp.topic, []).append(tp)
        for topic, parts in by_topic.items():
            keys = [(tp.topic, tp.partition) for tp in parts]
            answers = [await consumer(keys) for consumer in self.tracked[topic].consumers]
            for tp, key in zip(parts, keys, strict=True):
                applied = [a.get(key) for a in answers]
                done[tp] = None if None in applied else min(a for a in applied if a is not None)
        return done

    async def keep(self) -> None:
        app = self.app
        consumer: Any = app.consumer
        tps = [tp for tp in consumer.assignment() if tp.topic in self.tracked]
        if not tps or app.rebalancing or getattr(app, "in_recovery", False):
            return
        try:
            applied = await self._applied(tps)
            listed = await consumer.highwaters(*tps)  # ListOffsets: too low on Tansu (streams.ends)
            ends = {tp: true_end(listed.get(tp), consumer.highwater(tp)) for tp in tps}
        except Exception:  # the database or the broker is away: nothing to go by this time
            return
        for tp in tps:
            done = applied[tp]
            lost, again = self.watch.look(tp, applied=done, end=ends.get(tp), committed=consumer._committed_offset[tp])
            if lost is not None:
                gaps = consumer._gap[tp]
                gaps.addi(lost[0], lost[1] + 1)
                gaps.merge_overlaps()
                log.warning(
                    "offsets acknowledged for a stuck commit",
                    topic=tp.topic,
                    partition=tp.partition,
                    first=lost[0],
                    last=lost[1],
                )
            if done is not None and done + 1 > self.ours.get(tp, -1) and await consumer._commit({tp: done + 1}):
                self.ours[tp] = done + 1
                if (consumer._committed_offset[tp] or -1) < done + 1:
                    consumer._committed_offset[tp] = done + 1
            if again is not None:
                consumer._buffered_partitions.discard(tp)
                consumer.resume_partitions([tp])
                await consumer.seek(tp, again)
                log.warning(
                    "partition stalled with records waiting; reading it again",
                    topic=tp.topic,
                    partition=tp.partition,
                    offset=again,
                    end=ends.get(tp),
                )
